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
    """The chart schema's first objection to `values` merged over the chart's defaults (what helm checks).

    Values that `surely_valid` passes need no more (what render writes nearly always is; importing jsonschema
    alone costs ~50 ms, a quarter of a render); any other values go to jsonschema, whose verdict and
    message stand."""
    merged = _overlay(chart.defaults(shared=True), prune(values, chart.schema()))
    if surely_valid(merged, chart.schema()):
        return None
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(merged))
    if error is None:
        return None
    place = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    return place or "top level", _schema_words(error)


# the keywords `surely_valid` decides on (draft 7); a schema with any other (but these, which decide nothing)
# makes it unsure
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "default", "examples", "$comment"})
_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def surely_valid(instance: Any, schema: Any) -> bool:
    """True only when `instance` is valid against `schema` (JSON Schema draft 7, as jsonschema decides); False
    when it is not, or when this cannot tell. A pure subset for speed; jsonschema decides the rest."""
    return _decide(instance, schema, schema) is True


def _decide(instance: Any, schema: Any, root: Any) -> bool | None:
    """Valid (True), not valid (False), or cannot tell (None: a keyword, a reference or a value this does not
    decide on, such as a float where an integer may be)."""
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:  # draft 7: a $ref's siblings are ignored
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return None
        target = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or part not in target:
                return None
            target = target[part]
        return _decide(instance, target, root)
    return _all(_keyword(key, rule, instance, schema, root) for key, rule in schema.items())


def _all(results: Iterator[bool | None]) -> bool | None:
    unknown = False
    for result in results:
        if result is False:
            return False
        unknown = unknown or result is None
    return None if unknown else True


def _keyword(key: str, rule: Any, instance: Any, schema: Obj, root: Any) -> bool | None:
    if key in _ANNOTATIONS:
        return True
    if key == "type":
        kinds = rule if isinstance(rule, list) else [rule]
        if isinstance(instance, float) and "integer" in kinds:
            return None  # 1.0 is an integer to draft 7
        return any(k in _TYPES and _TYPES[k](instance) for k in kinds) if all(k in _TYPES for k in kinds) else None
    if key in ("properties", "additionalProperties", "required"):
        return True if not isinstance(instance, dict) else _object(key, rule, instance, schema, root)
    if key in ("items", "minItems", "maxItems", "uniqueItems"):
        return True if not isinstance(instance, list) else _array(key, rule, instance, root)
    if key in ("pattern", "minLength", "maxLength"):
        if not isinstance(instance, str):
            return True
        if key == "pattern":
            return re.search(rule, instance) is not None if isinstance(rule, str) else None
        if not isinstance(rule, int):
            return None
        return len(instance) >= rule if key == "minLength" else len(instance) <= rule
    if key in ("minimum", "maximum"):
        if isinstance(instance, bool) or not isinstance(instance, int | float):
            return True
        if not isinstance(rule, int | float):
            return None
        return instance >= rule if key == "minimum" else instance <= rule
    if key == "enum":  # strings and integers: JSON's equality is Python's for them
        plain = isinstance(instance, str) or (isinstance(instance, int) and not isinstance(instance, bool))
        if not plain or not isinstance(rule, list):
            return None
        return any(type(instance) is type(r) and instance == r for r in rule)
    if key == "oneOf" and isinstance(rule, list):
        results = [_decide(instance, sub, root) for sub in rule]
        return None if None in results else results.count(True) == 1
    return None  # a keyword this does not decide on


def _object(key: str, rule: Any, instance: Obj, schema: Obj, root: Any) -> bool | None:
    if key == "required":
        return all(name in instance for name in rule) if isinstance(rule, list) else None
    properties = schema.get("properties") or {}
    if key == "properties":
        if not isinstance(rule, dict):
            return None
        return _all(_decide(value, rule[name], root) for name, value in instance.items() if name in rule)
    if "patternProperties" in schema or not isinstance(properties, dict):
        return None
    extra = [value for name, value in instance.items() if name not in properties]
    return _all(_decide(value, rule, root) for value in extra)


def _array(key: str, rule: Any, instance: list[Any], root: Any) -> bool | None:
    if key == "items":
        if not isinstance(rule, dict | bool):
            return None  # a list of schemas, one per place
        return _all(_decide(item, rule, root) for item in instance)
    if key == "uniqueItems":  # strings only: their equality is JSON's
        if rule is False:
            return True
        if not all(isinstance(i, str) for i in instance):
            return None
        return len(set(instance)) == len(instance)
    if not isinstance(rule, int):
        return None
    return len(instance) >= rule if key == "minItems" else len(instance) <= rule


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
