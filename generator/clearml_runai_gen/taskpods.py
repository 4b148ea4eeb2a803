"""verify's task pods line: how many task pods run, and why one waits or cannot be placed, in one line.

The reason is read where KAI writes it: the PodGroup's `status.schedulingConditions` (v0.16 and v0.17),
then the pod's own PodScheduled condition, then the events about the pod or its PodGroup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ClusterError
from .kube import api_request, list_objects
from .models import Check

# the label the agent puts on every pod it creates (CLEARML=agent-<hash>)
TASK_POD_SELECTOR = "CLEARML"
# the annotation KAI's pod-grouper puts on a pod: the name of its PodGroup
POD_GROUP_ANNOTATION = "pod-group-name"
POD_GROUPS_PATH = "/apis/scheduling.run.ai/v2alpha2/namespaces/{namespace}/podgroups"
# KAI's reasons for a PodGroup that waits its turn in its queue (the scheduler at work), as against
# one it cannot place at all (QueueDoesNotExist: a missing queue or one whose parent queue is gone;
# PodSchedulingErrors: no node fits, whose details the pod's own condition holds)
QUEUE_WAITS = frozenset({"NonPreemptibleOverQuota", "OverLimit", "PreemptionDelayNotElapsed"})
QUEUE_REASONS = QUEUE_WAITS | {"QueueDoesNotExist"}


@dataclass(frozen=True)
class Unscheduled:
    """Why KAI did not place a pod: its reason name when KAI gave one, and its message."""

    reason: str
    message: str

    @property
    def waits_for_quota(self) -> bool:
        if self.reason:
            return self.reason in QUEUE_WAITS
        return "quota" in self.message.lower()

    def __str__(self) -> str:
        text = " ".join(self.message.split())
        if self.reason and not text.startswith(self.reason):
            return f"{self.reason}: {text}" if text else self.reason
        return text or "unschedulable"


def _pod_group_reason(group: dict[str, Any]) -> Unscheduled | None:
    """What KAI wrote on a PodGroup it did not schedule: the last scheduling condition that holds
    (`status.schedulingConditions`, written by v0.16 and v0.17 alike), its first entry of `reasons`
    (KAI's reason names) or else its own reason and message; None when KAI wrote none."""
    status = group.get("status") or {}
    held = [c for c in status.get("schedulingConditions") or [] if str(c.get("status") or "True") == "True"]
    if not held:
        return None
    last = held[-1]
    for r in last.get("reasons") or []:
        if r.get("reason"):
            return Unscheduled(str(r["reason"]), str(r.get("message") or last.get("message") or ""))
    reason = str(last.get("reason") or "")
    return Unscheduled("" if reason == "Unschedulable" else reason, str(last.get("message") or ""))


def _pod_condition_reason(pod: dict[str, Any]) -> Unscheduled | None:
    """The scheduler's reason on the pod itself (condition PodScheduled=False), or None."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            return Unscheduled("", str(c.get("message") or c.get("reason") or "unschedulable"))
    return None


def _event_reason(events: list[dict[str, Any]], names: set[str]) -> Unscheduled | None:
    """The newest Unschedulable event about one of `names` (the pod or its PodGroup), or None."""
    about = [
        e
        for e in events
        if (e.get("involvedObject") or {}).get("name") in names and e.get("reason") in ("Unschedulable", "NotReady")
    ]
    if not about:
        return None
    last = sorted(about, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))[-1]
    return Unscheduled("", str(last.get("message") or last.get("reason") or ""))


def _pod_groups(api: Any, namespace: str) -> dict[str, dict[str, Any]] | None:
    """The namespace's PodGroups by name; None when they cannot be read (no KAI here, or no right to)."""
    try:
        data = api_request(
            api, "GET", POD_GROUPS_PATH.format(namespace=namespace), what=f"list podgroups in namespace {namespace}"
        )
    except ClusterError:
        return None
    items = (data.get("items") if isinstance(data, dict) else None) or []
    return {str(g["metadata"]["name"]): g for g in items if isinstance(g, dict) and g.get("metadata")}


def _unscheduled(
    pod: dict[str, Any], groups: dict[str, dict[str, Any]] | None, events: list[dict[str, Any]]
) -> Unscheduled | None:
    """KAI's reason for a pending pod it did not place, in the order that says most: a queue's reason
    on its PodGroup (`status.schedulingConditions`, KAI v0.16 and v0.17), else the pod's PodScheduled
    condition (which node filter refused it), else any reason on the PodGroup, else the events about
    either; None when nothing says the pod waits (it may just have been created)."""
    if (pod.get("status") or {}).get("phase") not in ("Pending", None):
        return None
    group_name = ((pod.get("metadata") or {}).get("annotations") or {}).get(POD_GROUP_ANNOTATION)
    group = (groups or {}).get(group_name or "")
    from_group = _pod_group_reason(group) if group else None
    if from_group and from_group.reason in QUEUE_REASONS:
        return from_group
    return (
        _pod_condition_reason(pod)
        or from_group
        or _event_reason(events, {pod["metadata"]["name"], *([group_name] if group_name else [])})
    )


def task_pods_check(api: Any, namespace: str) -> Check:
    """Task pods the agent made: how many run, and why any waits. A pod that waits for quota (the
    project's queue is full) is the scheduler at work; one it cannot place at all is a FAIL."""
    pods = list_objects(api, "Pod", namespace, selector=TASK_POD_SELECTOR)
    if not pods:
        return Check("task pods", True, f"none in {namespace} now")
    phases: dict[str, int] = {}
    for pod in pods:
        phase = str((pod.get("status") or {}).get("phase") or "Unknown")
        phases[phase] = phases.get(phase, 0) + 1
    counts = ", ".join(f"{n} {phase.lower()}" for phase, n in sorted(phases.items()))
    if not phases.get("Pending"):
        return Check("task pods", True, counts)
    groups = _pod_groups(api, namespace)
    events = list_objects(api, "Event", namespace)
    waiting = [(p["metadata"]["name"], why) for p in pods if (why := _unscheduled(p, groups, events))]
    stuck = [(name, why) for name, why in waiting if not why.waits_for_quota]
    if stuck:
        name, why = stuck[0]
        return Check("task pods", False, f"{counts}; {name} cannot be placed: {why}")
    if waiting:
        name, why = waiting[0]
        return Check("task pods", True, f"{counts}; {name} waits for quota: {why}")
    return Check("task pods", True, counts)
