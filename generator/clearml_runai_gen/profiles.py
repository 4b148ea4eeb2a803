"""Per-queue profiles (`render --queue-profiles FILE`): load the file, expand `{project}`, merge. Pure but for
reading the file and the chart's schema.

The file maps a ClearML queue name to a profile: `gpuFraction`, `priorityClass`, `nodePool` (the Run:ai
placement of that queue's task pods) and `taskPod`, a partial pod template merged over the source's task
template. Each profile becomes one entry of the chart's `queueProfiles`: an agent of its own serving exactly
that queue, with its own template and worker id.

Merge rules of `taskPod` over the source template (as Kubernetes' strategic merge patch does for pods):
maps merge key by key; a `null` deletes the key (`nvidia.com/gpu: null` makes a CPU queue); other values
and lists replace, except the lists of named items: `containers`, `initContainers`, `env`, `volumes`,
`volumeMounts` and `ports` merge item by item on `name`, an item the base lacks is appended, and an item
`{name: X, $patch: delete}` removes X. A container without a name is the first container (the task's).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .chart import chart_path
from .errors import InputError, UsageError

Obj = dict[str, Any]

OPTION = "--queue-profiles"
PROJECT_PLACEHOLDER = "{project}"
# profile key -> the chart's runai.* value it sets for that profile's task pods
PLACEMENT_KEYS = {"gpuFraction": "gpuFraction", "priorityClass": "priorityClass", "nodePool": "nodePool"}
PROFILE_KEYS = frozenset({*PLACEMENT_KEYS, "taskPod"})
NAMED_LISTS = frozenset({"containers", "initContainers", "env", "volumes", "volumeMounts", "ports"})
# the chart's queueProfiles[].name: a DNS label of at most 40 characters
NAME_MAX = 40
DELETE = {"$patch": "delete"}


@dataclass(frozen=True)
class QueueProfile:
    """One queue's profile as the file gives it; `queue` may still hold `{project}`."""

    queue: str
    placement: dict[str, str] = field(default_factory=dict)  # runai.* key -> value
    task_pod: Obj = field(default_factory=dict)  # partial pod template
    source_queue: str = ""  # an enterprise source's queue whose template is the base

    def for_project(self, project: str) -> QueueProfile:
        queue = self.queue.replace(PROJECT_PLACEHOLDER, project)
        return QueueProfile(queue, self.placement, self.task_pod, self.source_queue)


def _placement_rules() -> dict[str, tuple[str, int | None]]:
    """The chart schema's pattern and length limit of each placement value: the one copy of those rules."""
    schema = json.loads((chart_path() / "values.schema.json").read_text())
    runai = schema["properties"]["runai"]["properties"]
    return {key: (runai[key]["pattern"], runai[key].get("maxLength")) for key in PLACEMENT_KEYS.values()}


def _chart_task_pod_defaults() -> Obj:
    """The chart's own taskPod defaults (its values.yaml)."""
    from ruamel.yaml import YAML

    values = YAML(typ="safe", pure=True).load((chart_path() / "values.yaml").read_text())
    defaults: Obj = values["taskPod"]
    return defaults


def parse_profiles(doc: Any, where: str) -> tuple[QueueProfile, ...]:
    """The profiles of a loaded file; anything the chart's schema would refuse is refused here, in one line."""
    if doc is None:
        return ()
    if not isinstance(doc, dict):
        raise InputError(f"{where}: the file maps ClearML queue names to profiles, not a {type(doc).__name__}")
    rules = _placement_rules()
    profiles = []
    for queue, body in doc.items():
        if not isinstance(queue, str) or not queue.strip() or queue != queue.strip():
            raise InputError(f"{where}: queue name {queue!r} must be a non-empty string without surrounding spaces")
        body = {} if body is None else body
        if not isinstance(body, dict):
            keys = ", ".join(sorted(PROFILE_KEYS))
            raise InputError(f"{where}: the profile of queue {queue!r} must be a mapping of {keys}")
        unknown = sorted(map(str, set(body) - PROFILE_KEYS))
        if unknown:
            raise InputError(
                f"{where}: queue {queue!r}: unknown key(s) {', '.join(unknown)}; a profile sets "
                f"{', '.join(sorted(PROFILE_KEYS))}"
            )
        placement: dict[str, str] = {}
        for key, value_key in PLACEMENT_KEYS.items():
            if body.get(key) is None:
                continue
            raw = body[key]
            value = str(raw) if isinstance(raw, (str, int, float)) and not isinstance(raw, bool) else None
            pattern, limit = rules[value_key]
            if value is None or not re.fullmatch(pattern, value) or (limit is not None and len(value) > limit):
                hint = "a decimal in (0, 1], for example 0.5" if key == "gpuFraction" else "a label value"
                raise InputError(f"{where}: queue {queue!r}: {key} {body[key]!r} is not {hint}")
            placement[value_key] = value
        task_pod = body.get("taskPod") or {}
        if not isinstance(task_pod, dict) or not all(k in ("metadata", "spec") for k in task_pod):
            raise InputError(f"{where}: queue {queue!r}: taskPod is a partial pod template (metadata, spec)")
        profiles.append(QueueProfile(queue, placement, task_pod))
    return tuple(profiles)


def load_profiles(path: str) -> tuple[QueueProfile, ...]:
    """Read and check a queue profiles file."""
    where = f"{OPTION} {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        doc = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise InputError(f"{where}: not YAML ({str(exc).splitlines()[0]})") from None
    profiles = parse_profiles(doc, where)
    if not profiles:
        raise InputError(f"{where}: names no queue; map each ClearML queue to its profile")
    return profiles


def expand(profiles: tuple[QueueProfile, ...], project: str) -> tuple[QueueProfile, ...]:
    """The profiles of one project, `{project}` expanded; two that name one queue are refused."""
    out = tuple(p.for_project(project) for p in profiles)
    seen: set[str] = set()
    for profile in out:
        if profile.queue in seen:
            raise UsageError(f"{OPTION}: two profiles serve queue {profile.queue!r} in project {project}")
        seen.add(profile.queue)
    return out


def profile_name(queue: str, taken: set[str]) -> str:
    """A DNS label of at most 40 characters for a queue, unique among `taken`: its objects' name suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", queue.lower()).strip("-") or "queue"
    if slug != queue or len(slug) > NAME_MAX or slug in taken:
        digest = hashlib.sha256(queue.encode()).hexdigest()[:6]
        slug = f"{slug[: NAME_MAX - 7].strip('-')}-{digest}"
    taken.add(slug)
    return slug


def merge(base: Any, overlay: Any, key: str = "") -> Any:
    """`overlay` merged over `base` by the rules of the module docstring; neither is changed."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = copy.deepcopy(base)
        for k, v in overlay.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = merge(out[k], v, k)
            else:
                out[k] = _without_nulls(v)
        return out
    if key in NAMED_LISTS and isinstance(base, list) and isinstance(overlay, list):
        return _merge_named(base, overlay, first_by_default=key == "containers")
    return _without_nulls(overlay)


def _merge_named(base: list[Any], overlay: list[Any], first_by_default: bool) -> list[Any]:
    out = copy.deepcopy(base)
    for item in overlay:
        if not isinstance(item, dict):
            out.append(copy.deepcopy(item))
            continue
        name = item.get("name")
        if name is None and first_by_default and out:
            index: int | None = 0
        else:
            index = next((i for i, b in enumerate(out) if isinstance(b, dict) and b.get("name") == name), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del out[index]
        elif index is None:
            out.append(_without_nulls(item))
        else:
            out[index] = merge(out[index], item)
    return out


def _without_nulls(value: Any) -> Any:
    """A value new to the base: its nulls delete nothing, so they are dropped."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return copy.deepcopy(value)


def enterprise_profiles(queue_templates: Mapping[str, Obj]) -> tuple[QueueProfile, ...]:
    """An enterprise source's per-queue templates carried whole: source queue Q becomes queue
    `runai-{project}-Q` of each project, served by its own agent with Q's template."""
    return tuple(QueueProfile(f"runai-{PROJECT_PLACEHOLDER}-{q}", source_queue=q) for q in queue_templates)


def profile_entries(
    profiles: tuple[QueueProfile, ...],
    base_template: Callable[[QueueProfile], Obj],
    task_pod_values: Callable[[Obj, QueueProfile], Obj],
) -> list[Obj]:
    """The chart's `queueProfiles`: each profile's template merged over its base, as taskPod values."""
    taken: set[str] = set()
    entries = []
    defaults = _chart_task_pod_defaults()
    for profile in profiles:
        template = merge(base_template(profile), profile.task_pod)
        entry: Obj = {"name": profile_name(profile.queue, taken), "queue": profile.queue}
        if profile.placement:
            entry["runai"] = dict(profile.placement)
        # a key the source leaves out gets the chart's default, not the release's taskPod value
        entry["taskPod"] = {
            k: defaults.get(k) if v is None else v for k, v in task_pod_values(template, profile).items()
        }
        entries.append(entry)
    return entries


def profile_rows(queue_templates: Mapping[str, Obj]) -> list[dict[str, str]]:
    """How `render` carries an enterprise source's per-queue templates: source queue -> queue of project P."""
    return [{"sourceQueue": p.source_queue, "queue": p.queue} for p in enterprise_profiles(queue_templates)]


def as_file(profiles: tuple[QueueProfile, ...]) -> Obj:
    """Profiles as a profiles file gives them (what `parse_profiles` reads back): origin records them for `diff`."""
    out: Obj = {}
    for profile in profiles:
        body: Obj = {
            key: profile.placement[value_key]
            for key, value_key in PLACEMENT_KEYS.items()
            if value_key in profile.placement
        }
        if profile.task_pod:
            body["taskPod"] = copy.deepcopy(profile.task_pod)
        out[profile.queue] = body
    return out
