"""The status of a ClearMLAgent: kstatus conditions and the checks `verify` makes (pure, no client).

kstatus (Flux, helm v4's --wait) reads a resource as Current when `status.observedGeneration` equals
`metadata.generation` and `Ready` is True; `Reconciling` says work is under way, `Stalled` that nothing
changes until someone does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Ready's reasons, in CamelCase as Kubernetes conditions have them
APPLIED = "Applied"
PAUSED = "Paused"
SPEC_INVALID = "SpecInvalid"
SOURCE_UNREADABLE = "SourceUnreadable"
RENDER_FAILED = "RenderFailed"
APPLY_FAILED = "ApplyFailed"
RELEASE_EXISTS = "HelmReleaseExists"
AGENT_UNAVAILABLE = "AgentUnavailable"

# reasons that need a person's change (the spec, the install, a release) rather than time
STALLED_REASONS = frozenset({SPEC_INVALID, SOURCE_UNREADABLE, RENDER_FAILED, RELEASE_EXISTS})


@dataclass(frozen=True)
class Check:
    """One of verify's checks, as the status lists it: ok, failed, or not made (None)."""

    name: str
    ok: bool | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        status = "Unknown" if self.ok is None else "True" if self.ok else "False"
        return {"name": self.name, "status": status, "message": self.message}


@dataclass
class Outcome:
    """What one reconcile found and did; `status` turns it into the resource's status."""

    generation: int
    ready: bool
    reason: str
    message: str
    checks: list[Check] = field(default_factory=list)
    origin: dict[str, str] = field(default_factory=dict)
    agent_image: str = ""
    task_pods: dict[str, Any] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)  # what this reconcile wrote: kind/name
    pruned: list[str] = field(default_factory=list)


def _condition(
    type_: str, ok: bool, reason: str, message: str, generation: int, old: list[Any], now: str
) -> dict[str, Any]:
    status = "True" if ok else "False"
    since = now
    for c in old:
        # the transition time moves only when the status does: an unchanged status writes nothing
        if isinstance(c, dict) and c.get("type") == type_ and c.get("status") == status and c.get("lastTransitionTime"):
            since = str(c["lastTransitionTime"])
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since,
    }


def build_status(outcome: Outcome, old: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """The status for `outcome`; conditions keep their transition time while their status holds."""
    old_conditions = list((old or {}).get("conditions") or [])
    g = outcome.generation
    stalled = not outcome.ready and outcome.reason in STALLED_REASONS
    reconciling = not outcome.ready and not stalled
    conditions = [
        _condition("Ready", outcome.ready, outcome.reason, outcome.message, g, old_conditions, now),
        _condition(
            "Reconciling",
            reconciling,
            "Progressing" if reconciling else outcome.reason,
            outcome.message if reconciling else "",
            g,
            old_conditions,
            now,
        ),
        _condition(
            "Stalled",
            stalled,
            outcome.reason if stalled else "NotStalled",
            outcome.message if stalled else "",
            g,
            old_conditions,
            now,
        ),
    ]
    status: dict[str, Any] = {
        "observedGeneration": g,
        "conditions": conditions,
        "checks": [c.as_dict() for c in outcome.checks],
    }
    if outcome.origin:
        status["origin"] = dict(outcome.origin)
    if outcome.agent_image:
        status["agentImage"] = outcome.agent_image
    if outcome.task_pods:
        status["taskPods"] = dict(outcome.task_pods)
    # what was read stays recorded when a later read fails: the objects it applied are still there
    for key in ("origin", "agentImage"):
        if key not in status and old and key in old:
            status[key] = old[key]
    return status


def status_changed(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether writing `new` changes anything (kopf's own `status.kopf`, if any, is not ours to compare)."""
    current = {k: v for k, v in (old or {}).items() if k != "kopf"}
    return current != new
