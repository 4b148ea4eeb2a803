"""The real clearml-agent 3.0.3, whole: its daemon loop against the API server and a ClearML stand-in.

One project release (rendered live from a clearml-agent 5.3 install, installed with helm v4); each test
starts the release's agent as its container starts (``sandbox/agent_harness``) and drives it as ClearML
users and the cluster would: enqueue tasks, abort one, report a pod finished (KAI holds the pods of
this project pending, as it has no Run:ai queue here, and says why). What is asserted is what 3.0.3
does, read from its code (``clearml_agent/glue/k8s.py``, ``pending_pods_daemon.py``) and seen here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.agent_harness import AgentDaemon, ClearMLStandIn, enqueue, task_pod_name

from .conftest import Kube, Project, clearml_for, install_project, remove_project, run_agent, set_pod_phase

pytestmark = pytest.mark.cluster

PENDING_QUEUE = "k8s_scheduler"  # where 3.0.3 parks a task while its pod waits for the scheduler


@pytest.fixture(scope="module")
def project(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    made = install_project(kube, tmp_path_factory.mktemp("agent-project"))
    yield made
    remove_project(made)


@pytest.fixture
def clearml(project: Project) -> Iterator[ClearMLStandIn]:
    with clearml_for(project.access_key, project.secret_key, project.queue) as stand_in:
        yield stand_in


@pytest.fixture
def agent(kube: Kube, project: Project, clearml: ClearMLStandIn, tmp_path: Path) -> Iterator[AgentDaemon]:
    with run_agent(kube, project.namespace, project.release, clearml, tmp_path) as daemon:
        yield daemon
    for pod in project.task_pods():  # what a test left behind
        kube.kubectl("delete", "pod", pod["metadata"]["name"], "-n", project.namespace, "--wait=false", check=False)


def wait_pod(agent: AgentDaemon, project: Project, task: str) -> dict:
    return agent.wait_for(lambda: project.pod(task_pod_name(task)), f"a pod for task {task}")


def test_enqueued_task_becomes_one_pod_created_with_the_service_account_token(
    kube: Kube, project: Project, clearml: ClearMLStandIn, agent: AgentDaemon
) -> None:
    # the worker registered under the release's worker id, for the project's queue
    assert clearml.workers() == {project.release: [project.queue]}
    # the agent's kubectl authenticates as the release's ServiceAccount, nothing else
    whoami = json.loads(kube.kubectl("auth", "whoami", "-o", "json", "--kubeconfig", str(agent.kubeconfig)).stdout)
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{project.namespace}:{project.release}"

    task = enqueue(clearml, "train-resnet", project.queue)
    pod = wait_pod(agent, project, task)

    assert [p["metadata"]["name"] for p in project.task_pods()] == [task_pod_name(task)]
    labels = pod["metadata"]["labels"]
    assert pod["spec"]["schedulerName"] == "runai-scheduler"
    assert labels["project"] == project.project and labels["runai/queue"] == project.project
    assert labels["clearml-agent-queue-name"] == project.queue
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert f".{project.clearml_ns}.svc.cluster.local:" in env["CLEARML_API_HOST"]["value"]
    assert env["CLEARML_API_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"].startswith(project.release)
    assert env["CLEARML_WORKER_ID"]["value"] == f"{project.release}:{task}"
    assert pod["status"]["phase"] == "Pending"  # no scheduler here

    # what 3.0.3 reports: it moves the task to its pending queue (stop, then enqueue there: a "basic"
    # server has no same-state transition) and leaves it queued until the task itself starts in the pod
    assert [(c.status, c.reason) for c in clearml.history(task)] == [
        ("created", ""),
        ("queued", ""),
        ("stopped", "moving to k8s pending queue"),
        ("queued", "k8s pending scheduler"),
    ]
    assert clearml.queue_tasks(PENDING_QUEUE) == [task] and clearml.queue_tasks(project.queue) == []
    assert clearml.task(task)["hyperparams"]["properties"]["k8s-queue"]["value"] == project.queue
    assert any(r["task"] == task for r in clearml.status_reports(project.release))
    assert f"task {task} pulled from" in clearml.log_lines(task)[0]
    assert clearml.unknown_calls == []
    assert project.secret_key not in agent.log()


def test_a_key_pair_clearml_does_not_know_is_refused_at_login(kube: Kube, project: Project, tmp_path: Path) -> None:
    # ClearML's copy of the secret was rotated; the release still holds the old one
    with clearml_for(project.access_key, "rotated-" + project.secret_key, project.queue) as clearml:
        with run_agent(kube, project.namespace, project.release, clearml, tmp_path, registered=False) as agent:
            code = agent.wait_exit(timeout=60)
        assert code != 0
        assert "Failed getting token (error 401" in agent.log()
        assert "unauthorized (invalid credentials)" in agent.log()
        assert {(c.endpoint, c.status) for c in clearml.calls} == {("auth.login", 401)}
        assert clearml.ever_registered() == set()
    assert project.task_pods() == []
    assert project.secret_key not in agent.log()


def test_finished_pod_is_deleted_and_3_0_3_then_trips_over_the_task_last_change(
    kube: Kube, project: Project, clearml: ClearMLStandIn, agent: AgentDaemon
) -> None:
    first = enqueue(clearml, "short", project.queue)
    wait_pod(agent, project, first)
    set_pod_phase(kube, project.namespace, task_pod_name(first), "Succeeded")

    # the loop's cleanup deletes its pods that are neither Pending nor Running ...
    agent.wait_for(lambda: project.pod(task_pod_name(first)) is None, "the finished pod's deletion")
    # ... then asks ClearML for their tasks still queued or running, to fail the stale ones; 3.0.3
    # subtracts the answer's last_change (a string in the server's JSON) from a datetime, and the
    # TypeError ends that loop pass (fixed upstream after 3.0.3): the task is left as it was
    agent.wait_for(
        lambda: "TypeError: unsupported operand type(s) for -: 'datetime.datetime' and 'str'" in agent.log(),
        "the cleanup's TypeError",
    )
    assert clearml.statuses(first)[-1] == "queued" and clearml.queue_tasks(PENDING_QUEUE) == [first]
    assert "tasks.failed" not in clearml.endpoints()

    # the daemon restarts its loop and serves the queue on
    second = enqueue(clearml, "next", project.queue)
    wait_pod(agent, project, second)


def test_a_task_that_ran_to_completion_has_its_pod_deleted_and_its_status_left_alone(
    kube: Kube, project: Project, clearml: ClearMLStandIn, agent: AgentDaemon
) -> None:
    """The path every task takes on a cluster with a scheduler; the task's own process is played by the test."""
    task = enqueue(clearml, "train", project.queue)
    name = task_pod_name(task)
    wait_pod(agent, project, task)
    set_pod_phase(kube, project.namespace, name, "Running")
    clearml.report_as_task(task, "in_progress")
    polls = agent.log().count("No tasks in Queues")
    agent.wait_for(lambda: agent.log().count("No tasks in Queues") >= polls + 2, "two more polls")
    assert project.pod(name) is not None  # a running pod is the task's: left alone
    clearml.report_as_task(task, "completed")
    set_pod_phase(kube, project.namespace, name, "Succeeded")
    agent.wait_for(lambda: project.pod(name) is None, "the finished pod's deletion")
    assert clearml.statuses(task)[-2:] == ["in_progress", "completed"]
    assert "tasks.failed" not in clearml.endpoints() and "FATAL ERROR" not in agent.log()


def test_max_pods_one_holds_the_second_task_in_its_queue_until_the_first_pod_is_gone(
    kube: Kube, project: Project, tmp_path: Path
) -> None:
    project.upgrade("--set", "agent.maxPods=1")  # K8S_GLUE_MAX_PODS=1 in the Deployment
    try:
        with (
            clearml_for(project.access_key, project.secret_key, project.queue) as clearml,
            run_agent(kube, project.namespace, project.release, clearml, tmp_path) as agent,
        ):
            assert agent.launch.argv[agent.launch.argv.index("--max-pods") + 1] == "1"
            first = enqueue(clearml, "first", project.queue)
            wait_pod(agent, project, first)
            second = enqueue(clearml, "second", project.queue)
            agent.wait_for(lambda: "Maximum pod limit reached 1/1" in agent.log(), "the max-pods wait")
            assert clearml.queue_tasks(project.queue) == [second] and clearml.statuses(second) == ["created", "queued"]
            assert [p["metadata"]["name"] for p in project.task_pods()] == [task_pod_name(first)]

            # someone deletes the first pod: the slot is free, the second task gets its pod
            kube.kubectl("delete", "pod", task_pod_name(first), "-n", project.namespace)
            wait_pod(agent, project, second)
            assert clearml.queue_tasks(project.queue) == []
            # 3.0.3 acts only on pods it deleted itself: the first task stays in its pending queue
            assert clearml.statuses(first)[-1] == "queued" and first in clearml.queue_tasks(PENDING_QUEUE)
            for pod in project.task_pods():
                kube.kubectl("delete", "pod", pod["metadata"]["name"], "-n", project.namespace, "--wait=false")
    finally:
        project.upgrade()


def test_unschedulable_reason_reaches_clearml_and_an_aborted_task_loses_its_pending_pod(
    kube: Kube, project: Project, clearml: ClearMLStandIn, agent: AgentDaemon
) -> None:
    """The reason is the scheduler's own: KAI (as runai-scheduler) holds the pod pending, as the project
    has no Run:ai queue on this cluster, and writes why on the pod's PodScheduled condition."""
    task = enqueue(clearml, "big", project.queue)
    name = task_pod_name(task)
    wait_pod(agent, project, task)

    def held() -> dict | None:
        pod = project.pod(name) or {}
        conditions = (pod.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "PodScheduled" and c["status"] == "False"), None)

    condition = agent.wait_for(held, "the scheduler's PodScheduled=False condition")
    assert condition["reason"] == "Unschedulable" and f"'{project.project}'" in condition["message"], condition

    # the pending-pods monitor reports why the pod waits, on the task: what the pod says now
    def reported() -> str | None:
        now = held()
        if now is None:
            return None
        expected = f"K8S glue status: {now['reason']} ({now['message']})"
        return expected if clearml.task(task)["status_message"] == expected else None

    expected = agent.wait_for(reported, "the scheduler's reason on the task")
    assert expected.removeprefix("K8S glue status: ") in {
        line.removeprefix("Kubernetes Pod status: ") for line in clearml.log_lines(task)
    }

    # a user aborts the task: the monitor deletes the pod that still waits for it
    clearml.abort(task)
    agent.wait_for(lambda: project.pod(name) is None, "the aborted task's pod deletion")
    assert clearml.statuses(task)[-1] == "stopped"


def test_template_naming_another_namespace_fails_the_task_with_the_forbidden_error(
    kube: Kube, project: Project, clearml: ClearMLStandIn, tmp_path: Path
) -> None:
    """Fault 3 of the copy-and-sed procedure (chart 3.10 writes `namespace: clearml` into template.yaml):
    the agent applies the pod there, its ServiceAccount may not, and the task fails."""
    configmap = f"{project.release}-pod-template"
    template = project.kube.get("configmap", project.namespace, configmap)["data"]["template.yaml"]
    broken = template.replace("metadata:\n", f"metadata:\n  namespace: {project.clearml_ns}\n", 1)
    assert broken != template

    def put(text: str) -> None:
        patch = json.dumps({"data": {"template.yaml": text}})
        kube.kubectl("patch", "configmap", configmap, "-n", project.namespace, "--type=merge", "-p", patch)

    put(broken)
    try:
        with run_agent(kube, project.namespace, project.release, clearml, tmp_path) as agent:
            task = enqueue(clearml, "lost", project.queue)
            agent.wait_for(lambda: "failed" in clearml.statuses(task), "the task's failure")
        assert "forbidden" in agent.log() and f'in the namespace "{project.clearml_ns}"' in agent.log()
        assert kube.get("pod", project.clearml_ns, selector="CLEARML")["items"] == [] and project.task_pods() == []
        assert clearml.queue_tasks(PENDING_QUEUE) == []
    finally:
        put(template)


def test_verify_checks_the_queue_with_the_agent_credentials_both_ways(kube: Kube, project: Project) -> None:
    def queue_line(*args: str) -> str:
        out = kube.gen("verify", "--project", project.project, *args, check=False).stdout
        lines = [line for line in out.splitlines() if "queue exists" in line]
        assert len(lines) == 1, out
        return lines[0]

    with clearml_for(project.access_key, project.secret_key, project.queue) as clearml:
        line = queue_line("--clearml-api-host", clearml.url)
        assert line.startswith("ok") and project.queue in line, line
        assert [c.endpoint for c in clearml.calls] == ["auth.login", "queues.get_all"]
    with clearml_for(project.access_key, "rotated-" + project.secret_key, project.queue) as clearml:
        line = queue_line("--clearml-api-host", clearml.url)
        assert line.startswith("FAIL") and "ClearML refused the agent's credentials" in line, line
        assert project.secret_key not in line
    with clearml_for(project.access_key, project.secret_key, "some-other-queue") as clearml:
        line = queue_line("--clearml-api-host", clearml.url)
        assert line.startswith("FAIL") and f"has no queue {project.queue}" in line, line
    # without the option the agent's in-cluster host does not resolve here: not checked, and why
    line = queue_line()
    assert line.startswith("skip") and "--clearml-api-host" in line, line
