"""The values of a release, checked before anything is written. Pure.

Two sets of rules: the chart's own `values.schema.json` (packaged with the chart; helm refuses an install
whose values break it), checked on the values merged over the chart's defaults as helm merges them; and
Kubernetes' rules that the schema leaves to the API server or to helm (the release name's length, label
keys and values, names of volumes and containers, image references). A refusal is one line that names the
value's place and what to change; it never quotes the value itself (a value may be a secret).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from . import chart
from .errors import ValuesError
from .models import HELM_RELEASE_NAME_MAX, RELEASE_PREFIX, AgentInstall, Obj, ProjectOptions
from .objects import as_dict, as_list, prune

# Kubernetes' validation (k8s.io/apimachinery/pkg/util/validation)
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# the distribution reference grammar (github.com/distribution/reference): [host[:port]/]path, tag, digest
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^(?:{_HOST}(?::[0-9]+)?/)?{_PATH}(?:/{_PATH})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")

# maps whose keys are label keys and whose values label values, and maps whose keys are annotation keys
LABEL_MAPS = (("taskPod", "labels"), ("taskPod", "nodeSelector"), ("agent", "podLabels"), ("agent", "nodeSelector"))
_NO_LABEL_KEY = "is no label key (a name of at most 63 letters, digits, '-', '_' or '.', with an optional DNS prefix)"
_NO_LABEL_VALUE = "is no label value (at most 63 letters, digits, '-', '_' or '.', beginning and ending alphanumeric)"
_NO_DNS_LABEL = "(a DNS label: at most 63 lower-case letters, digits or '-')"
ANNOTATION_MAPS = (("taskPod", "annotations"), ("agent", "podAnnotations"), ("serviceAccount", "annotations"))


def check(values: Obj, options: ProjectOptions, install: AgentInstall) -> None:
    """Refuse, in one line, values that helm, the chart or the API server would refuse or rewrite."""
    if len(options.release) > HELM_RELEASE_NAME_MAX:
        most = HELM_RELEASE_NAME_MAX - len(RELEASE_PREFIX)
        raise ValuesError(
            f"--project {options.project}: its release name {options.release} has {len(options.release)} characters "
            f"and helm allows {HELM_RELEASE_NAME_MAX}: use a project name of at most {most} characters"
        )
    problem = next(kubernetes_problems(values), None) or schema_problem(values)
    if problem:
        place, what = problem
        raise ValuesError(f"the rendered values' {place} {what}; {fix_for(place, options, install)}")


def fix_for(place: str, options: ProjectOptions, install: AgentInstall) -> str:
    """Where the value came from, and so where to change it."""
    if place.startswith("agent.queues"):
        return "pass each queue once, none blank (--queue)"
    if place.startswith("agent.image") and options.agent_image:
        return "pass an image as REPOSITORY[:TAG][@sha256:DIGEST] with --agent-image"
    if place.startswith("agent.workerId"):
        return "pass another --worker-id"
    if place.startswith("runai."):
        return "change the --project, --namespace, --scheduler, --gpu-fraction, --priority-class or --node-pool given"
    if place.startswith("taskPod."):
        return (
            f"repair the task-pod template (ConfigMap {install.namespace}/{install.template_configmap}) of the source, "
            "or edit the rendered values before installing them"
        )
    where = f"Deployment {install.namespace}/{install.deployment}"
    if place.startswith("agent.image"):
        return f"repair the image of the source agent ({where}) or pass one with --agent-image"
    return f"repair the source agent ({where}) or edit the rendered values before installing them"


def kubernetes_problems(values: Obj) -> Iterator[tuple[str, str]]:
    """(place, what is wrong) for each value Kubernetes would refuse though the chart's schema lets it pass."""
    for section, key in LABEL_MAPS:
        for name, value in as_dict(as_dict(values.get(section)).get(key)).items():
            place = f"{section}.{key}.{name}"
            if not isinstance(name, str) or not _qualified_name(name):
                yield place, _NO_LABEL_KEY
            elif not isinstance(value, str):
                yield place, f"is {kind_of(value)}, where Kubernetes takes a string (quote it)"
            elif not _LABEL_VALUE.match(value) or len(value) > 63:
                yield place, _NO_LABEL_VALUE
    for section, key in ANNOTATION_MAPS:
        for name in as_dict(as_dict(values.get(section)).get(key)):
            if not isinstance(name, str) or not _qualified_name(name):
                yield f"{section}.{key}.{name}", "is no annotation key (a name with an optional DNS prefix and '/')"
    for section in ("agent", "taskPod"):
        part = as_dict(values.get(section))
        for i, volume in enumerate(as_list(part.get("volumes"))):
            if not _is_dns_label(as_dict(volume).get("name")):
                yield f"{section}.volumes[{i}].name", f"is no volume name {_NO_DNS_LABEL}"
        for i, item in enumerate(as_list(part.get("imagePullSecrets"))):
            secret = as_dict(item).get("name") if isinstance(item, dict) else item
            if not isinstance(secret, str) or not _DNS_SUBDOMAIN.match(secret) or len(secret) > 253:
                yield f"{section}.imagePullSecrets[{i}]", "is no Secret name (a DNS subdomain)"
    for i, init in enumerate(as_list(as_dict(values.get("taskPod")).get("initContainers"))):
        if not _is_dns_label(as_dict(init).get("name")):
            yield f"taskPod.initContainers[{i}].name", f"is no container name {_NO_DNS_LABEL}"
    image = as_dict(as_dict(values.get("agent")).get("image"))
    repository, tag = image.get("repository"), image.get("tag")
    if isinstance(repository, str) and repository and not _REPOSITORY.match(repository):
        yield "agent.image.repository", "is no image repository ([HOST[:PORT]/]PATH, lower-case)"
    if isinstance(tag, str) and tag and not _TAG.match(tag):
        yield "agent.image.tag", "is no image tag (at most 128 letters, digits, '_', '.' or '-')"


def _is_dns_label(name: Any) -> bool:
    return isinstance(name, str) and len(name) <= 63 and bool(_DNS_LABEL.match(name))


def _qualified_name(key: str) -> bool:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.match(name))


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = chart.schema()
    return jsonschema.validators.validator_for(schema)(schema)


def _overlay(base: Obj, overlay: Obj) -> Obj:
    """`overlay` over `base` as helm merges values, sharing what it does not change (only read here)."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = _overlay(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def schema_problem(values: Obj) -> tuple[str, str] | None:
    """The chart schema's first objection to `values` merged over the chart's defaults (what helm checks)."""
    from jsonschema.exceptions import best_match

    merged = _overlay(chart.defaults(shared=True), prune(values, chart.schema()))
    error = best_match(_validator().iter_errors(merged))
    if error is None:
        return None
    place = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    return place or "top level", _schema_words(error)


def _schema_words(error: Any) -> str:
    rule, limit = error.validator, error.validator_value
    if rule == "type":
        what = f"is {kind_of(error.instance)}, where the chart takes {limit}"
    elif rule == "pattern":
        what = f"does not match the chart's pattern {limit}"
    elif rule == "maxLength":
        what = f"is longer than {limit} characters"
    elif rule in ("minLength", "minItems"):
        what = "is empty"
    elif rule == "minimum":
        what = f"is below {limit}"
    elif rule == "uniqueItems":
        what = "names an item more than once"
    elif rule == "enum":
        what = f"is none of {', '.join(map(str, limit))}"
    elif rule == "oneOf":
        what = "is neither a name nor a {name: ...} object"
    elif rule in ("additionalProperties", "required"):
        what = f"does not fit: {error.message}"  # these name keys, never values
    else:
        what = f"breaks its rule {rule}"
    return f"{what} (the chart's values schema refuses it)"


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else type(value).__name__
