"""verify's queue check against a ClearML stand-in that checks credentials (an HTTP server in this process).

The agent Deployment names an in-cluster API host that does not resolve here; `--clearml-api-host`
reaches the API another way (a port-forward, an ingress), as the stand-in's URL does in these tests.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from clearml_runai_gen.cli import main
from clearml_runai_gen.verify import _queue_check, as_table

from sandbox.agent_harness import ClearMLStandIn

KEY, SECRET, QUEUE = "AGENTKEY", "agent-secret", "runai-team-a"
IN_CLUSTER = "http://clearml-apiserver.clearml.svc.cluster.local:8008"
CLOSED = "http://127.0.0.1:9"  # nothing listens there


def deployment(api_host: str = IN_CLUSTER) -> dict[str, Any]:
    ref = {"name": "clearml-runai-team-a", "key": "{}"}
    env = [
        {"name": "CLEARML_API_HOST", "value": api_host},
        {"name": "K8S_GLUE_QUEUE", "value": QUEUE},
        *(
            {"name": var, "valueFrom": {"secretKeyRef": {**ref, "key": var}}}
            for var in ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY")
        ),
    ]
    return {"spec": {"template": {"spec": {"containers": [{"name": "k8s-glue", "env": env}]}}}}


SECRETS = [
    {
        "metadata": {"name": "clearml-runai-team-a"},
        "data": {
            "CLEARML_API_ACCESS_KEY": base64.b64encode(KEY.encode()).decode(),
            "CLEARML_API_SECRET_KEY": base64.b64encode(SECRET.encode()).decode(),
        },
    }
]


def test_queue_check_ok_when_the_credentials_log_in_and_the_queue_exists() -> None:
    with ClearMLStandIn(KEY, SECRET) as clearml:
        clearml.add_queue(QUEUE)
        url = clearml.url
        check = _queue_check(deployment(), SECRETS, None, url)
    assert check.ok is True, check
    assert check.detail.startswith(f"ClearML at {url} (the agent's {IN_CLUSTER}) has {QUEUE}")
    assert [c.endpoint for c in clearml.calls] == ["auth.login", "queues.get_all"]


def test_queue_check_fails_when_clearml_refuses_the_credentials() -> None:
    with ClearMLStandIn(KEY, "the-server-knows-another-secret") as clearml:
        clearml.add_queue(QUEUE)
        check = _queue_check(deployment(), SECRETS, None, clearml.url)
    assert check.ok is False, check
    assert "ClearML refused the agent's credentials" in check.detail
    assert "unauthorized (invalid credentials)" in check.detail
    assert SECRET not in check.detail
    assert len(as_table([check]).splitlines()) == 1


def test_queue_check_fails_when_the_queue_is_missing() -> None:
    with ClearMLStandIn(KEY, SECRET) as clearml:
        clearml.add_queue("runai-team-b")
        check = _queue_check(deployment(), SECRETS, None, clearml.url)
    assert check.ok is False and f"has no queue {QUEUE}" in check.detail, check


def test_queue_check_uses_the_agent_host_without_the_option_and_says_how_to_reach_it() -> None:
    with ClearMLStandIn(KEY, SECRET) as clearml:
        clearml.add_queue(QUEUE)
        assert _queue_check(deployment(clearml.url), SECRETS, None).ok is True
    check = _queue_check(deployment(CLOSED), SECRETS, None)
    assert check.ok is None and "did not answer" in check.detail and "--clearml-api-host" in check.detail


@pytest.mark.parametrize("bad", ["clearml-apiserver:8008", "ftp://x", "http://"])
def test_clearml_api_host_must_be_an_http_url(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--project", "team-a", "--clearml-api-host", bad]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--clearml-api-host" in err and "not an http(s) URL" in err


def _pod(name: str, phase: str, unscheduled: str = "") -> dict[str, Any]:
    conditions = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": unscheduled}]
    return {"metadata": {"name": name}, "status": {"phase": phase, "conditions": conditions if unscheduled else []}}


@pytest.mark.parametrize(
    "pods,ok,needle",
    [
        ([], True, "none in runai-p now"),
        ([_pod("a", "Running"), _pod("b", "Succeeded")], True, "1 running, 1 succeeded"),
        (
            [
                _pod("a", "Running"),
                _pod("b", "Pending", "NonPreemptibleOverQuota: Non-preemptible workload is over quota"),
            ],
            True,
            "b waits for quota: NonPreemptibleOverQuota",
        ),
        (
            [_pod("c", "Pending", "MaxNodePoolResources: no node has GPU: 16")],
            False,
            "c cannot be placed: MaxNodePoolResources: no node has GPU: 16",
        ),
    ],
)
def test_task_pods_check_says_why_a_task_pod_waits(
    monkeypatch: pytest.MonkeyPatch, pods: list[dict[str, Any]], ok: bool, needle: str
) -> None:
    from clearml_runai_gen import taskpods

    seen: list[str | None] = []

    def listing(api: Any, kind: str, namespace: str = "", *, selector: str | None = None) -> list[dict[str, Any]]:
        if kind != "Pod":
            return []
        seen.append(selector)
        return pods

    monkeypatch.setattr(taskpods, "list_objects", listing)
    monkeypatch.setattr(taskpods, "_pod_groups", lambda api, namespace: None)  # no KAI (tests/unit/test_verify_kai.py)
    check = taskpods.task_pods_check(None, "runai-p")
    assert (check.ok, check.name) == (ok, "task pods") and needle in check.detail, check
    assert seen == ["CLEARML"]  # only the pods the agent made
    assert "\n" not in as_table([check]).rstrip("\n")


def test_verify_gives_a_line_per_agent_and_queue_of_queue_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    from clearml_runai_gen import verify

    def agent(name: str, queue: str, available: int) -> dict[str, Any]:
        deploy = deployment()
        env = deploy["spec"]["template"]["spec"]["containers"][0]["env"]
        env[1]["value"] = queue
        deploy.update(metadata={"name": name}, status={"availableReplicas": available})
        deploy["spec"]["replicas"] = 1
        return deploy

    template = "metadata: {labels: {project: team-a}}\nspec: {schedulerName: runai-scheduler}\n"
    objects = {
        "Deployment": [
            agent("clearml-runai-team-a-train", "team-a-train", 1),
            agent("clearml-runai-team-a-cpu", "team-a-cpu", 0),
        ],
        "ConfigMap": [
            {"metadata": {"name": f"clearml-runai-team-a-{p}-pod-template"}, "data": {"template.yaml": template}}
            for p in ("train", "cpu")
        ],
        "Secret": SECRETS,
        "ServiceAccount": [{"metadata": {"name": "clearml-runai-team-a"}}],
        "Role": [{"metadata": {"name": "clearml-runai-team-a"}}],
        "RoleBinding": [{"metadata": {"name": "clearml-runai-team-a"}}],
    }
    monkeypatch.setattr(verify, "list_objects", lambda api, kind, namespace="", *, selector=None: objects.get(kind, []))
    monkeypatch.setattr(verify, "_why_not_available", lambda api, ns, deploy: "pod pending")
    monkeypatch.setattr(verify, "_permissions_check", lambda api, ns, sa: verify.Check("permissions", True, sa))
    monkeypatch.setattr(verify, "task_pods_check", lambda api, ns: verify.Check("task pods", None, "not read here"))
    with ClearMLStandIn(KEY, SECRET) as clearml:
        clearml.add_queue("team-a-train")
        checks = verify.verify(None, "team-a", "runai-team-a", clearml_api_host=clearml.url)
    by_name = {c.name: c for c in checks}
    assert by_name["agent clearml-runai-team-a-train (team-a-train)"].ok is True
    assert by_name["agent clearml-runai-team-a-cpu (team-a-cpu)"].ok is False
    assert by_name["agent clearml-runai-team-a-train: queue exists"].ok is True
    cpu_queue = by_name["agent clearml-runai-team-a-cpu: queue exists"]
    assert cpu_queue.ok is False and "has no queue team-a-cpu" in cpu_queue.detail
    for profile in ("train", "cpu"):
        assert by_name[f"task-pod template clearml-runai-team-a-{profile}-pod-template"].ok is True
    assert len(as_table(checks).strip().splitlines()) == len(checks)
