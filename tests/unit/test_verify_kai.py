"""verify's task-pods check reads what KAI writes, as v0.16 and v0.17 write it.

The PodGroups are shaped as the vendored releases write them (ci/kai/upstream: the scheduler's
status updater and `pkg/apis/scheduling/v2alpha2/podgroup_types.go`): both write
`status.schedulingConditions` (type UnschedulableOnNodePool, reason Unschedulable, the message, and
`reasons`: KAI's reason names with their messages); v0.16 also writes `status.phase`, `pending` and
`running`, which v0.17's CRD no longer has. The pod's own PodScheduled=False condition and the
events are what older releases, and a PodGroup that cannot be read, leave to go by.
"""

from __future__ import annotations

from typing import Any

import pytest
from clearml_runai_gen import taskpods
from clearml_runai_gen.errors import ClusterError
from clearml_runai_gen.verify import as_table

NS = "runai-p"
OVER_QUOTA = (
    "Non-preemptible workload is over quota. Workload requested 1 GPUs, but p quota is 1 GPUs, while 1 GPUs "
    "are already allocated for non-preemptible pods. Use a preemptible workload to go over quota."
)
NO_QUEUE = "Queue 'p' does not exist"
NO_NODE = "Resources were not found for pod runai-p/c due to: 0/3 nodes are available: 3 node(s) lack GPUs."


def pod(name: str, phase: str = "Pending", condition: str = "", group: str | None = None) -> dict[str, Any]:
    conditions = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": condition}]
    return {
        "metadata": {"name": name, "namespace": NS, "annotations": {"pod-group-name": group or f"pg-{name}-0"}},
        "status": {"phase": phase, "conditions": conditions if condition else []},
    }


def pod_group(version: str, pod_name: str, reason: str, message: str) -> dict[str, Any]:
    """A PodGroup KAI did not schedule, as `version` writes it."""
    status: dict[str, Any] = {
        "schedulingConditions": [
            {
                "type": "UnschedulableOnNodePool",
                "nodePool": "default",
                "reason": "Unschedulable",
                "message": f"{reason}: {message}.",  # common_info.JobFitErrorsToMessage
                "reasons": [{"reason": reason, "message": message}],
                "status": "True",
                "transitionID": "0",
                "lastTransitionTime": "2026-12-04T23:00:00Z",
            }
        ],
        "resourcesStatus": {"requested": {"nvidia.com/gpu": "1"}},
    }
    if version == "v0.16.8":
        status.update(phase="Pending", pending=1, running=0)
    return {
        "apiVersion": "scheduling.run.ai/v2alpha2",
        "kind": "PodGroup",
        "metadata": {"name": f"pg-{pod_name}-0", "namespace": NS},
        "spec": {"minMember": 1, "queue": "p", "priorityClassName": "build"},
        "status": status,
    }


def check(
    monkeypatch: pytest.MonkeyPatch,
    pods: list[dict[str, Any]],
    groups: list[dict[str, Any]] | None,
    events: tuple[dict[str, Any], ...] = (),
) -> taskpods.Check:
    def listing(api: Any, kind: str, namespace: str = "", *, selector: str | None = None) -> list[dict[str, Any]]:
        assert namespace == NS
        return {"Pod": pods, "Event": list(events)}[kind]

    def request(api: Any, method: str, path: str, **_: Any) -> Any:
        assert (method, path) == ("GET", f"/apis/scheduling.run.ai/v2alpha2/namespaces/{NS}/podgroups")
        if groups is None:
            raise ClusterError("podgroups: 404 Not Found")
        return {"items": groups}

    monkeypatch.setattr(taskpods, "list_objects", listing)
    monkeypatch.setattr(taskpods, "api_request", request)
    result = taskpods.task_pods_check(None, NS)
    assert result.name == "task pods" and "\n" not in as_table([result]).rstrip("\n"), result
    return result


@pytest.mark.parametrize("version", ["v0.16.8", "v0.17.0"])
def test_a_task_pod_over_its_queues_quota_waits_with_kais_reason_name(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    pods = [pod("a", "Running"), pod("b", condition=f"NonPreemptibleOverQuota: {OVER_QUOTA}.")]
    result = check(monkeypatch, pods, [pod_group(version, "b", "NonPreemptibleOverQuota", OVER_QUOTA)])
    assert result.ok is True, result
    assert result.detail == f"1 pending, 1 running; b waits for quota: NonPreemptibleOverQuota: {OVER_QUOTA}"


@pytest.mark.parametrize("version", ["v0.16.8", "v0.17.0"])
@pytest.mark.parametrize("pod_condition", [f"QueueDoesNotExist: {NO_QUEUE}.", ""])  # "": markUnschedulable off
def test_a_task_pod_whose_queue_is_missing_cannot_be_placed(
    monkeypatch: pytest.MonkeyPatch, version: str, pod_condition: str
) -> None:
    groups = [pod_group(version, "b", "QueueDoesNotExist", NO_QUEUE)]
    result = check(monkeypatch, [pod("b", condition=pod_condition)], groups)
    assert result.ok is False, result
    assert result.detail == f"1 pending; b cannot be placed: QueueDoesNotExist: {NO_QUEUE}"


@pytest.mark.parametrize("version", ["v0.16.8", "v0.17.0"])
def test_a_task_pod_no_node_fits_names_the_node_filter_from_the_pods_condition(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    filter_message = "MaxNodePoolResources: no node has GPU: 16"
    groups = [pod_group(version, "c", "PodSchedulingErrors", NO_NODE)]
    result = check(monkeypatch, [pod("c", condition=filter_message)], groups)
    assert (result.ok, result.detail) == (False, f"1 pending; c cannot be placed: {filter_message}")
    # with no pod condition, the PodGroup's own reason and message
    result = check(monkeypatch, [pod("c")], groups)
    assert (result.ok, result.detail) == (False, f"1 pending; c cannot be placed: PodSchedulingErrors: {NO_NODE}")


def test_older_fields_a_podgroup_with_a_phase_only_leaves_the_pods_condition_to_go_by(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    group = {"metadata": {"name": "pg-b-0"}, "status": {"phase": "Pending", "pending": 1}}
    result = check(monkeypatch, [pod("b", condition=f"NonPreemptibleOverQuota: {OVER_QUOTA}")], [group])
    assert (result.ok, result.detail) == (True, f"1 pending; b waits for quota: NonPreemptibleOverQuota: {OVER_QUOTA}")


def test_unreadable_podgroups_leave_the_events_about_the_pod_or_its_podgroup(monkeypatch: pytest.MonkeyPatch) -> None:
    events = [
        {"involvedObject": {"kind": "Pod", "name": "other"}, "reason": "Unschedulable", "message": "not this one"},
        {
            "involvedObject": {"kind": "PodGroup", "name": "pg-b-0"},
            "type": "Normal",
            "reason": "Unschedulable",
            "message": f"{NO_QUEUE}\n",
            "lastTimestamp": "2026-12-04T23:00:01Z",
        },
    ]
    result = check(monkeypatch, [pod("b")], None, tuple(events))
    assert (result.ok, result.detail) == (False, f"1 pending; b cannot be placed: {NO_QUEUE}")


def test_a_multi_line_reason_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    message = f"\nNonPreemptibleOverQuota.\n{OVER_QUOTA}."
    result = check(monkeypatch, [pod("b")], [pod_group("v0.17.0", "b", "NonPreemptibleOverQuota", message)])
    assert result.ok is True, result
    assert result.detail.endswith(f"b waits for quota: NonPreemptibleOverQuota. {OVER_QUOTA}."), result


def test_no_pending_pod_reads_no_podgroup_and_no_event(monkeypatch: pytest.MonkeyPatch) -> None:
    def listing(api: Any, kind: str, namespace: str = "", *, selector: str | None = None) -> list[dict[str, Any]]:
        assert kind == "Pod", kind
        return [pod("a", "Running"), pod("b", "Succeeded")]

    def request(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no PodGroup is read when no task pod is pending")

    monkeypatch.setattr(taskpods, "list_objects", listing)
    monkeypatch.setattr(taskpods, "api_request", request)
    result = taskpods.task_pods_check(None, NS)
    assert (result.ok, result.detail) == (True, "1 running, 1 succeeded")
