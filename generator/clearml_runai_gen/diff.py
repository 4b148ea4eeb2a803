"""What changed in a ClearML install since a values file was rendered. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .models import Obj, ProjectOptions

SECRET_PATHS = frozenset({"clearml.accessKey", "clearml.secretKey", "clearml.conf", "clearml.existingSecretChecksum"})


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any

    def describe(self) -> str:
        if self.path in SECRET_PATHS:
            if self.old in (None, ""):
                return f"{self.path}: added (value redacted)"
            if self.new in (None, ""):
                return f"{self.path}: removed"
            return f"{self.path}: changed (value redacted; credentials rotated?)"
        if self.old is None:
            return f"{self.path}: added {self.new!r}"
        if self.new is None:
            return f"{self.path}: removed (was {self.old!r})"
        return f"{self.path}: {self.old!r} -> {self.new!r}"


def flatten(values: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(values, dict) and values:
        for key, value in values.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif values not in ("", {}, [], None):
        out[prefix] = values
    return out


def changes(old: Obj, new: Obj) -> list[Change]:
    a, b = flatten(old), flatten(new)
    return [Change(p, a.get(p), b.get(p)) for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)]


def options_from_values(values: Obj, origin: str) -> ProjectOptions:
    """The project options a values file was rendered with, read back from it."""
    try:
        return _options_from_values(values, origin)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InputError(f"{origin} is malformed ({exc}): pass a values file written by `render`") from None


def _options_from_values(values: Obj, origin: str) -> ProjectOptions:
    if not isinstance(values, dict):
        raise InputError(f"{origin} is not a values file of clearml-runai-gen (not a mapping)")
    runai = values.get("runai") or {}
    agent = values.get("agent") or {}
    project = runai.get("project")
    if not isinstance(project, str) or not project:
        raise InputError(f"{origin} has no runai.project: it is not a values file of clearml-runai-gen")
    api = str((values.get("clearml") or {}).get("apiHost", ""))
    domain = "cluster.local"
    if ".svc." in api:
        from urllib.parse import urlsplit

        host = urlsplit(api).hostname or api.split(":")[0]
        domain = host.split(".svc.", 1)[1]
    return ProjectOptions.build(
        project,
        namespace=runai.get("namespace") or None,
        queues=list(agent.get("queues") or []),
        worker_id=agent.get("workerId") or None,
        scheduler=runai.get("scheduler") or "runai-scheduler",
        gpu_fraction=runai.get("gpuFraction") or None,
        priority_class=runai.get("priorityClass") or None,
        node_pool=runai.get("nodePool") or None,
        cluster_domain=domain,
        no_self_update=agent.get("noSelfUpdate", True) is not False,
    )
