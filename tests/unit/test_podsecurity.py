"""The Pod Security check: what each level refuses of a pod spec, and of the pods a release's values make."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from clearml_runai_gen.podsecurity import namespace_level, pods_from_values, refusals, violations

# the chart's defaults for the agent and task pods (charts/clearml-runai-agent/values.yaml)
AGENT = {
    "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    "hardened": False,
}
TASK = {
    "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["NET_RAW"]}},
}
HARDENED_TASK = {
    "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
}


def chart_values(agent: dict[str, Any] | None = None, task: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"agent": {**copy.deepcopy(AGENT), **(agent or {})}, "taskPod": copy.deepcopy(task or TASK)}


def checks(spec: dict[str, Any], level: str) -> list[str]:
    return [v.split(" (")[0] for v in violations(spec, level)]


def test_the_chart_defaults_meet_baseline_and_restricted_refuses_both_pods() -> None:
    pods = pods_from_values(chart_values())
    assert {what: checks(spec, "baseline") for what, spec in pods.items()} == {"agent": [], "task pods": []}
    assert checks(pods["agent"], "restricted") == ["runAsNonRoot != true"]
    assert checks(pods["task pods"], "restricted") == ["unrestricted capabilities", "runAsNonRoot != true"]


def test_hardened_values_meet_restricted() -> None:
    pods = pods_from_values(chart_values({"hardened": True}, HARDENED_TASK))
    assert {what: violations(spec, "restricted") for what, spec in pods.items()} == {"agent": [], "task pods": []}


def test_a_container_setting_overrides_the_pods_run_as_non_root() -> None:
    task = copy.deepcopy(HARDENED_TASK)
    task["securityContext"]["runAsNonRoot"] = False
    assert checks(pods_from_values(chart_values(task=task))["task pods"], "restricted") == ["runAsNonRoot != true"]


@pytest.mark.parametrize(
    "spec,expected",
    [
        ({"hostNetwork": True, "containers": [{"name": "c"}]}, "host namespaces"),
        ({"containers": [{"name": "c", "securityContext": {"privileged": True}}]}, "privileged"),
        (
            {"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
            "non-default capabilities",
        ),
        ({"containers": [{"name": "c"}], "volumes": [{"name": "d", "hostPath": {"path": "/"}}]}, "hostPath volumes"),
        ({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}, "hostPort"),
        (
            {"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": [{"name": "c"}]},
            "seccompProfile",
        ),
        (
            {"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}, "containers": [{"name": "c"}]},
            "forbidden sysctls",
        ),
        (
            {"initContainers": [{"name": "i", "securityContext": {"procMount": "Unmasked"}}], "containers": []},
            "procMount",
        ),
    ],
)
def test_baseline_refuses_what_the_standard_names(spec: dict[str, Any], expected: str) -> None:
    assert checks(spec, "baseline") == [expected]
    assert expected in checks(spec, "restricted")
    assert violations(spec, "privileged") == []


def test_restricted_refuses_other_volume_types_and_root() -> None:
    spec = pods_from_values(chart_values({"hardened": True}, HARDENED_TASK))["task pods"]
    spec["volumes"] = [{"name": "data", "nfs": {"server": "nfs", "path": "/"}}]
    spec["containers"][0]["securityContext"]["runAsUser"] = 0
    found = violations(spec, "restricted")
    assert [v.split(" (")[0] for v in found] == ["restricted volume types", "runAsUser=0"]
    assert "data: nfs" in found[0]


def test_namespace_level_reads_the_enforce_label() -> None:
    label = "pod-security.kubernetes.io/enforce"
    assert namespace_level({"metadata": {"labels": {label: "restricted"}}}) == "restricted"
    assert namespace_level({"metadata": {"labels": {"pod-security.kubernetes.io/warn": "restricted"}}}) == "privileged"
    assert namespace_level(None) == "privileged"


def test_refusals_name_the_namespace_the_pods_and_the_values_that_satisfy_restricted() -> None:
    found = refusals(chart_values(), "research-ns", "restricted")
    assert len(found) == 2
    agent, task = found
    assert agent.startswith("namespace research-ns enforces Pod Security 'restricted'")
    assert "refuses the agent: runAsNonRoot != true" in agent and "agent.hardened: true" in agent
    assert "refuses the task pods" in task and 'capabilities.drop: ["ALL"]' in task
    assert refusals(chart_values(), "research-ns", "baseline") == []
    assert refusals(chart_values({"hardened": True}, HARDENED_TASK), "research-ns", "restricted") == []
    privileged = chart_values({"securityContext": {"privileged": True}})
    assert "refuses the agent: privileged" in refusals(privileged, "ns", "baseline")[0]
