"""The ClearMLAgent resource: its names, and its spec as render's options (pure, no client)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import GenError, UsageError
from ..models import ProjectOptions

GROUP = "clearml-runai.io"
VERSION = "v1alpha1"
KIND = "ClearMLAgent"
PLURAL = "clearmlagents"
API_VERSION = f"{GROUP}/{VERSION}"

# the field manager of every write, and the value of app.kubernetes.io/managed-by on what it applies
MANAGER = "clearml-runai-operator"
MANAGED_SELECTOR = f"app.kubernetes.io/managed-by={MANAGER}"  # on every object the operator applies
# namespace annotation of auto mode: "off" keeps (or takes) the agent out of a project namespace
AGENT_ANNOTATION = f"{GROUP}/agent"
# label of a ClearMLAgent the operator made in auto mode (one a person made is never deleted by it)
CREATED_BY_LABEL = f"{GROUP}/created-by"
PROJECT_LABEL = "runai/queue"

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class SpecError(GenError):
    """A ClearMLAgent spec the operator cannot act on; the message names the field and the fix."""


@dataclass(frozen=True)
class AgentSpec:
    """What a ClearMLAgent asks for: render's options, plus where to read and whether to act."""

    options: ProjectOptions
    clearml_namespace: str
    agent: str  # the source agent Deployment; "" when the namespace holds one
    existing_secret: str  # a credentials Secret of the project's namespace instead of copied credentials
    paused: bool


def _str(spec: dict[str, Any], key: str) -> str:
    value = spec.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise SpecError(f"spec.{key} is a {type(value).__name__}; set it to a string")
    return value.strip()


def parse_spec(spec: Any, namespace: str, default_clearml_namespace: str) -> AgentSpec:
    """The spec of a ClearMLAgent in `namespace` as typed options; one-line SpecError naming the field."""
    if not isinstance(spec, dict):
        raise SpecError("spec is missing or not an object; set spec.project")
    project = _str(spec, "project")
    if not project:
        raise SpecError("spec.project is empty; set it to the Run:ai project's name")
    queues = spec.get("queues") or []
    if not isinstance(queues, list) or not all(isinstance(q, str) and q.strip() for q in queues):
        raise SpecError("spec.queues must be a list of ClearML queue names")
    self_update = spec.get("selfUpdate", False)
    paused = spec.get("paused", False)
    for key, flag in (("selfUpdate", self_update), ("paused", paused)):
        if not isinstance(flag, bool):
            raise SpecError(f"spec.{key} must be true or false")
    clearml_namespace = _str(spec, "clearmlNamespace") or default_clearml_namespace
    agent = _str(spec, "clearmlAgent")
    existing_secret = _str(spec, "existingSecret")
    for key, value in (
        ("clearmlNamespace", clearml_namespace),
        ("clearmlAgent", agent),
        ("existingSecret", existing_secret),
    ):
        if value and (not _NAME.match(value) or len(value) > 253):
            raise SpecError(f"spec.{key} {value!r} is not a valid object name")
    try:
        options = ProjectOptions.build(
            project,
            namespace=namespace,
            queues=[q.strip() for q in queues],
            worker_id=_str(spec, "workerId") or None,
            scheduler=_str(spec, "scheduler") or "runai-scheduler",
            gpu_fraction=_str(spec, "gpuFraction") or None,
            priority_class=_str(spec, "priorityClass") or None,
            node_pool=_str(spec, "nodePool") or None,
            cluster_domain=_str(spec, "clusterDomain") or "cluster.local",
            agent_image=_str(spec, "agentImage") or None,
            no_self_update=not self_update,
            template_queue=_str(spec, "templateQueue") or None,
        )
    except UsageError as exc:
        raise SpecError(_as_field(str(exc))) from None
    return AgentSpec(options, clearml_namespace, agent, existing_secret, paused)


# render's option names in its messages, as the fields of the spec
_FIELDS = {
    "--project": "spec.project",
    "--queue": "spec.queues",
    "--worker-id": "spec.workerId",
    "--scheduler": "spec.scheduler",
    "--gpu-fraction": "spec.gpuFraction",
    "--priority-class": "spec.priorityClass",
    "--node-pool": "spec.nodePool",
    "--cluster-domain": "spec.clusterDomain",
    "--agent-image": "spec.agentImage",
    "--template-queue": "spec.templateQueue",
}


def _as_field(message: str) -> str:
    for option, field in _FIELDS.items():
        message = re.sub(rf"{re.escape(option)}(?![-\w])", field, message)
    return message


def default_spec(project: str) -> dict[str, Any]:
    """The spec auto mode gives a new project namespace: render's defaults for that project."""
    return {"project": project}


def project_of(namespace: dict[str, Any]) -> str:
    """The Run:ai project of a namespace: its runai/queue label (Run:ai's own tie), else its name."""
    meta = namespace.get("metadata") or {}
    name = str(meta.get("name") or "")
    return str((meta.get("labels") or {}).get(PROJECT_LABEL) or name.removeprefix("runai-"))
