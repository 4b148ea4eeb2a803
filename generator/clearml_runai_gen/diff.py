"""What changed in a ClearML install since a values file was rendered. Pure.

Exact: the values are rendered again with every option that shaped them (the project's options, and
what `origin` records: ClearML namespace, agent, cluster domain, agent image, template queue), so
render-then-diff is always "no drift". Discreet: credentials, clearml.conf, files, env values and
annotations whose name says they are secrets (`redact.is_secret_name`) are reported as "changed
(redacted)"; every other value is printed with what is shaped like a secret blotted out (URL userinfo,
PEM keys, tokens, `--password=...`), and so is every secret string known from the install or the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import InputError
from .models import Obj, ProjectOptions
from .profiles import parse_profiles
from .redact import REDACTED, is_annotation_secret, is_secret_field, is_secret_name, redact, redact_data

__all__ = ["REDACTED", "redact", "redact_data"]  # the CLI redacts with the same functions

SECRET_PATHS = frozenset({"clearml.accessKey", "clearml.secretKey", "clearml.conf", "clearml.existingSecretChecksum"})
_ANNOTATION = re.compile(r"^(?:agent\.podAnnotations|taskPod\.annotations)\.(?P<key>.+)$")
_ENV_ENTRY = re.compile(r"\[(?P<name>[^\]]+)\]\.value$")


@dataclass(frozen=True)
class Origin:
    clearml_namespace: str = ""
    agent: str = ""


def is_secret_path(path: str, value: Any = None) -> bool:
    if path in SECRET_PATHS or path.startswith("agent.fileMounts") or path.endswith(".content"):
        return True
    if is_secret_field(path.rsplit(".", 1)[-1], value):
        return True
    annotation = _ANNOTATION.match(path)
    if annotation:
        return is_annotation_secret(annotation.group("key"), value)
    m = _ENV_ENTRY.search(path)
    return bool(m and is_secret_name(m.group("name")))


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any

    def describe(self) -> str:
        """One line; no secret of the old or the new value in it, whether known by name or by shape."""
        if is_secret_path(self.path, self.old) or is_secret_path(self.path, self.new):
            if self.old in (None, ""):
                return f"{self.path}: added (value redacted)"
            if self.new in (None, ""):
                return f"{self.path}: removed"
            return f"{self.path}: changed (value redacted; credentials rotated?)"
        old, new = redact_data(self.old), redact_data(self.new)
        if self.old is None:
            return f"{self.path}: added {new!r}"
        if self.new is None:
            return f"{self.path}: removed (was {old!r})"
        if old == new:  # what changed is all secret
            return f"{self.path}: changed (value redacted; credentials rotated?)"
        return f"{self.path}: {old!r} -> {new!r}"


def _named(items: list[Any]) -> bool:
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return bool(items) and len(names) == len(items) and all(isinstance(n, str) for n in names)


def flatten(values: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves by path; lists of named items (env, volumes, mounts) by name, so one change is one path."""
    out: dict[str, Any] = {}
    if isinstance(values, dict) and values:
        for key, value in values.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(values, list) and _named(values) and len({v["name"] for v in values}) == len(values):
        for item in values:
            path = f"{prefix}[{item['name']}]"
            out.update(flatten({k: v for k, v in item.items() if k != "name"}, path) or {path: True})
    elif values not in ("", {}, [], None):
        out[prefix] = values
    return out


def changes(old: Obj, new: Obj) -> list[Change]:
    a, b = flatten(old), flatten(new)
    return [Change(p, a.get(p), b.get(p)) for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)]


def sensitive_values(values: Obj) -> set[str]:
    """Every secret string a values file holds."""
    return {str(v) for p, v in flatten(values).items() if is_secret_path(p, v) and isinstance(v, str) and v}


def options_from_values(values: Obj, origin: str) -> tuple[ProjectOptions, Origin]:
    """The project options a values file was rendered with, read back from it."""
    try:
        return _options_from_values(values, origin)
    except (AttributeError, TypeError, ValueError) as exc:
        raise InputError(f"{origin} is malformed ({exc}): pass a values file written by `render`") from None


def _options_from_values(values: Obj, origin: str) -> tuple[ProjectOptions, Origin]:
    if not isinstance(values, dict):
        raise InputError(f"{origin} is not a values file of clearml-runai-gen (not a mapping)")
    runai = values.get("runai") or {}
    agent = values.get("agent") or {}
    recorded = values.get("origin") or {}
    project = runai.get("project")
    if not isinstance(project, str) or not project:
        raise InputError(f"{origin} has no runai.project: it is not a values file of clearml-runai-gen")
    if not isinstance(recorded, dict) or not recorded.get("agent"):
        raise InputError(
            f"{origin} does not record what it was rendered from (no origin.agent): render it again with this "
            "version of clearml-runai-gen, then diff"
        )
    options = ProjectOptions.build(
        project,
        namespace=runai.get("namespace") or None,
        queues=list(agent.get("queues") or []),
        worker_id=agent.get("workerId") or None,
        scheduler=runai.get("scheduler") or "runai-scheduler",
        gpu_fraction=runai.get("gpuFraction") or None,
        priority_class=runai.get("priorityClass") or None,
        node_pool=runai.get("nodePool") or None,
        cluster_domain=recorded.get("clusterDomain") or "cluster.local",
        agent_image=recorded.get("agentImage") or None,
        no_self_update=agent.get("noSelfUpdate", True) is not False,
        template_queue=recorded.get("templateQueue") or None,
        task_kind=_task_kind(values, runai.get("priorityClass")),
        create_queue=agent.get("createQueue") is True,
        finished_pod_minutes=int(agent.get("finishedPodRetentionMinutes") or 0),
        queue_profiles=parse_profiles(recorded.get("queueProfiles") or None, f"{origin} origin.queueProfiles"),
    )
    return options, Origin(str(recorded.get("clearmlNamespace") or ""), str(recorded["agent"]))


def _task_kind(values: Obj, priority: Any) -> str | None:
    """For a preemptible priority, render chose Jobs unless told --task-kind pod: the values say which."""
    from .plan import PREEMPTIBLE_PRIORITIES

    if priority not in PREEMPTIBLE_PRIORITIES:
        return None
    return "job" if (values.get("rbac") or {}).get("jobs") is True else "pod"
