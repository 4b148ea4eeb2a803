"""Values as commented, deterministic YAML (ruamel.yaml); writing them is write.py's."""

from __future__ import annotations

import io
import re
import textwrap
from typing import Any

from . import __version__
from .models import DeliveryOptions, Plan
from .objects import prune

# comments on the sections and keys a reader looks for first; the chart's values.yaml documents every key
COMMENTS: dict[str, str] = {
    "runai": "Run:ai project the agent serves; task pods are scheduled by this scheduler in this namespace",
    "runai.namespace": "the release must be installed in this namespace (helm install -n ...)",
    "clearml": "ClearML server, by full service name, and the agent's own credentials (keep this file private)",
    "agent": "the agent Deployment",
    "agent.queues": "ClearML queues this agent serves",
    "agent.workerId": "ClearML worker id of this agent (unique per project)",
    "agent.noSelfUpdate": "do not pip-upgrade the agent at every start (CLEARML_AGENT_NO_UPDATE)",
    "agent.createQueue": "the agent creates its queues in ClearML when they are missing (--no-create-queue: off)",
    "agent.finishedPodRetentionMinutes": "minutes a finished task pod stays for inspection (--keep-finished-pods)",
    "queueProfiles": "an agent per queue, each with its own task pod template (--queue-profiles)",
    "taskPod": "the template of every task pod (the chart adds scheduler, project labels, hosts and credentials)",
    "origin": "what these values were rendered from and with; `clearml-runai-gen diff` renders again with it",
}


# strings that YAML 1.1 (helm's parser) reads as something else, though YAML 1.2 (ours) does not
_YAML11_NON_STRINGS = re.compile(
    r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|~|null|Null|NULL"
    r"|[-+]?(?:0b[01_]+|0[0-7_]+|0x[0-9a-fA-F_]+|[1-9][0-9_]*(?::[0-5]?[0-9])+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"
    r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|\.(?:inf|Inf|INF|nan|NaN|NAN))"
    # the merge key, the value key, and timestamps
    r"|<<|=|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+).*)?)$"
)


def _quoted_key(key: Any) -> Any:
    """A mapping key as helm must read it: a string YAML 1.1 would read as a boolean, null or number is quoted
    (`on: spot` would reach the task template as `"true": spot`)."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(key, str) and _YAML11_NON_STRINGS.match(key):
        return DoubleQuotedScalarString(key)
    return key


def _to_commented(value: Any, path: str = "", comments: dict[str, str] = COMMENTS) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

    if isinstance(value, dict):
        cm = CommentedMap()
        for key, item in value.items():
            cm[_quoted_key(key)] = _to_commented(item, f"{path}.{key}" if path else str(key), comments)
            comment = comments.get(f"{path}.{key}" if path else str(key))
            if comment:
                cm.yaml_set_comment_before_after_key(
                    key, before=comment, indent=2 * path.count(".") + (2 if path else 0)
                )
        return cm
    if isinstance(value, list):
        return CommentedSeq(_to_commented(v, path, comments) for v in value)
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    if isinstance(value, str) and _YAML11_NON_STRINGS.match(value):
        return DoubleQuotedScalarString(value)
    return value


def _secret_ref(plan: Plan) -> str:
    """namespace/name of the Secret the values name instead of holding the credentials; empty if none."""
    name = plan.values["clearml"].get("existingSecret")
    return f"{plan.options.namespace}/{name}" if name else ""


def _source_line(plan: Plan) -> str:
    i = plan.install
    return (
        f"Source: ClearML agent {i.description}, template ConfigMap {i.namespace}/{i.template_configmap},"
        f" credentials from {i.credentials.source}."
    )


def _wrap(prose: list[str]) -> list[str]:
    return [
        part
        for line in prose
        for part in textwrap.wrap(
            line, width=100, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False
        )
    ]


def header(plan: Plan) -> str:
    o = plan.options
    secret = _secret_ref(plan)
    prose = [
        f"Values of release {o.release} (chart clearml-runai-agent), rendered by clearml-runai-gen {__version__}.",
        _source_line(plan),
        f"Holds no credential: the agent reads them from Secret {secret}, whose manifest was written apart "
        "(apply it first)."
        if secret
        else "Holds the agent's ClearML credentials: keep it private (mode 0600).",
    ]
    lines = _wrap(prose)
    # the command stays on one line, so it can be copied
    lines += ["Install with:"]
    if secret:
        lines += ["  kubectl apply -f <the Secret manifest>"]
    lines += [f"  helm install {o.release} charts/clearml-runai-agent -n {o.namespace} -f <this file>"]
    return "\n".join(lines)


def _prune(value: Any) -> Any:
    """Leave out empty values of the chart's own objects: the chart's defaults stand for them, and the file
    stays readable. What a value holds is kept whole (an empty label value selects too)."""
    from .chart import schema

    return prune(value, schema())


def _dump(documents: list[Any]) -> str:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    buf = io.StringIO()
    if len(documents) == 1:
        yaml.dump(documents[0], buf)
    else:
        yaml.dump_all(documents, buf)
    return buf.getvalue()


def dump_yaml(data: Any, start_comment: str = "") -> str:
    """Data as deterministic YAML that helm's YAML 1.1 parser reads back the same."""
    commented = _to_commented(data, comments={})
    if start_comment:
        commented.yaml_set_start_comment(start_comment)
    return _dump([commented])


def render_values(plan: Plan) -> str:
    comments = COMMENTS
    if _secret_ref(plan):
        comments = {
            **COMMENTS,
            "clearml": "ClearML server, by full service name; the credentials are in the Secret named here",
        }
    data = _to_commented(_prune(plan.values), comments=comments)
    data.yaml_set_start_comment(header(plan))
    return _dump([data])


def render_secret(plan: Plan, secret: dict[str, Any]) -> str:
    """The Secret manifest of `separate_credentials`, with a header that says what to do with it."""
    o = plan.options
    prose = [
        f"Secret {_secret_ref(plan)}: the ClearML credentials of the agent of Run:ai project {o.project}"
        f" (release {o.release}), rendered by clearml-runai-gen {__version__}.",
        _source_line(plan),
        "Holds the credentials in clear: seal or encrypt it (kubeseal, SOPS) before it goes into git, and apply it"
        " before the release is installed. Its checksum is in the values (clearml.existingSecretChecksum):"
        " when the credentials change, render both again, so that the agent restarts.",
    ]
    data = _to_commented(secret, comments={})
    data.yaml_set_start_comment("\n".join(_wrap(prose)))
    return _dump([data])


def render_gitops(plan: Plan, delivery: DeliveryOptions) -> str:
    """The Argo CD Application, or the Flux source and HelmRelease, with the values of `plan` inline."""
    from .gitops import gitops_objects

    o = plan.options
    objects = gitops_objects(o, _prune(plan.values), delivery)
    what = {"argocd": "Argo CD Application", "flux": "Flux HelmRelease and its source"}[delivery.format]
    prose = [
        f"{what} for release {o.release} in namespace {o.namespace}: chart clearml-runai-agent"
        f" {delivery.chart_version} from {delivery.chart_repo}, rendered by clearml-runai-gen {__version__}.",
        _source_line(plan),
        f"Holds no credential: the agent reads them from Secret {_secret_ref(plan)}; commit its manifest"
        " sealed or encrypted beside this file.",
    ]
    if delivery.format == "argocd" and delivery.is_oci:
        prose.append("An OCI registry as a source needs Argo CD 3.1 or later.")
    docs = [_to_commented(obj, comments={}) for obj in objects]
    docs[0].yaml_set_start_comment("\n".join(_wrap(prose)))
    return _dump(docs)
