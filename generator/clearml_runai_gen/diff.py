"""What changed in a ClearML install since a values file was rendered. Pure.

Exact: the values are rendered again with every option that shaped them (the project's options, and
what `origin` records: ClearML namespace, agent, cluster domain, agent image, template queue), so
render-then-diff is always "no drift". Discreet: credentials, clearml.conf, files, and env values whose
name says PASS/TOKEN/SECRET/KEY/CREDENTIAL are reported as "changed (redacted)", and every secret string
known from the install or the file is blotted out of whatever is printed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .detect import is_secret_name
from .errors import InputError
from .models import Obj, ProjectOptions
from .profiles import parse_profiles

SECRET_PATHS = frozenset({"clearml.accessKey", "clearml.secretKey", "clearml.conf", "clearml.existingSecretChecksum"})
REDACTED = "<redacted>"
_ENV_ENTRY = re.compile(r"\[(?P<name>[^\]]+)\]\.value$")


@dataclass(frozen=True)
class Origin:
    clearml_namespace: str = ""
    agent: str = ""


def is_secret_path(path: str) -> bool:
    if path in SECRET_PATHS or path.startswith("agent.fileMounts") or path.endswith(".content"):
        return True
    m = _ENV_ENTRY.search(path)
    return bool(m and is_secret_name(m.group("name")))


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any

    def describe(self) -> str:
        if is_secret_path(self.path):
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
    return {str(v) for p, v in flatten(values).items() if is_secret_path(p) and isinstance(v, str) and v}


def _known(secrets: Iterable[str]) -> list[str]:
    # a file (clearml.conf) also by each of its lines, in case part of it shows somewhere
    parts = {p for s in secrets for p in [s, *(line.strip() for line in s.splitlines())] if len(p.strip()) >= 4}
    return sorted(parts, key=len, reverse=True)  # longest first, so no part of one survives


def redact(lines: Iterable[str], secrets: Iterable[str]) -> list[str]:
    """The lines with every known secret string blotted out."""
    known = _known(secrets)
    out = []
    for line in lines:
        for secret in known:
            line = line.replace(secret, REDACTED)
        out.append(line)
    return out


def redact_data(data: Any, secrets: Iterable[str]) -> Any:
    """The same, through every string of a JSON-like structure."""
    known = _known(secrets)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            for secret in known:
                value = value.replace(secret, REDACTED)
        return value

    return walk(data)


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
        create_queue=agent.get("createQueue") is True,
        finished_pod_minutes=int(agent.get("finishedPodRetentionMinutes") or 0),
        queue_profiles=parse_profiles(recorded.get("queueProfiles") or None, f"{origin} origin.queueProfiles"),
    )
    return options, Origin(str(recorded.get("clearmlNamespace") or ""), str(recorded["agent"]))
