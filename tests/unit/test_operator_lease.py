"""Taking the Lease that lets one operator replica act at a time (pure: the decision and the body written)."""

from __future__ import annotations

import pytest
from clearml_runai_gen.errors import UsageError
from clearml_runai_gen.operator.lease import DURATION, Record, lease_body, may_take
from clearml_runai_gen.operator.run import OperatorConfig


def lease(holder: str, renew: str = "2026-01-01T00:00:00.000000Z", transitions: int = 0) -> dict[str, object]:
    return {
        "metadata": {"name": "op", "namespace": "sys", "resourceVersion": "42"},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": DURATION,
            "renewTime": renew,
            "acquireTime": renew,
            "leaseTransitions": transitions,
        },
    }


def test_a_free_or_own_lease_is_taken_at_once() -> None:
    assert may_take(None, "b", 0)
    assert may_take(Record.of(lease("")), "b", 0)  # given up by a holder that stopped cleanly
    assert may_take(Record.of(lease("b")), "b", 0)  # mine: renewed (a restarted container of the same pod)


def test_a_held_lease_is_taken_only_once_unchanged_for_its_duration() -> None:
    held = Record.of(lease("a"))
    assert not may_take(held, "b", 0)
    assert not may_take(held, "b", DURATION - 0.1)
    assert may_take(held, "b", DURATION)


def test_the_body_keeps_acquire_time_on_renewal_and_counts_a_takeover() -> None:
    renewed = lease_body("sys", "op", "a", lease("a", transitions=3), "2026-01-01T00:00:05.000000Z")
    assert renewed["spec"]["renewTime"] == "2026-01-01T00:00:05.000000Z"
    assert renewed["spec"]["acquireTime"] == "2026-01-01T00:00:00.000000Z" and renewed["spec"]["leaseTransitions"] == 3
    assert renewed["metadata"]["resourceVersion"] == "42"  # the write fails if another replica wrote in between
    taken = lease_body("sys", "op", "b", lease("a", transitions=3), "2026-01-01T00:00:30.000000Z")
    assert taken["spec"]["holderIdentity"] == "b" and taken["spec"]["leaseTransitions"] == 4
    assert taken["spec"]["acquireTime"] == "2026-01-01T00:00:30.000000Z"
    new = lease_body("sys", "op", "a", None, "2026-01-01T00:00:00.000000Z")
    assert "resourceVersion" not in new["metadata"] and new["spec"]["leaseTransitions"] == 0


@pytest.mark.parametrize("bad", ["sys", "/op", "sys/", "a/b/c"])
def test_a_bad_lease_option_is_one_line(bad: str) -> None:
    with pytest.raises(UsageError, match="--lease .* is not NAMESPACE/NAME"):
        OperatorConfig(lease=bad).check()
    OperatorConfig(lease="sys/op").check()
    OperatorConfig(lease="off").check()
