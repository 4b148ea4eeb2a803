"""Preemption, end to end with the real agent: a project's `train` task runs on the last free GPU of its
node pool, then a `build` workload (non-preemptible, a better claim) comes into the same queue, and KAI
reclaims the GPU by evicting the task's pod.

What the pinned clearml-agent 3.0.3 does then (measured here; its code: glue/pending_pods_daemon.py):
- a bare Pod (`CLEARML_K8S_GLUE_KIND` unset) is deleted, nothing replaces it, and nothing in the agent
  looks at a task whose pod is gone: the task stays `in_progress` with no pod, even after the GPU is free;
- a Job's pod is replaced by the Job controller; the replacement waits (KAI: no GPU), and the agent's
  pending-pods monitor re-enqueues the `in_progress` task whose pod is pending; once the rival is done
  the replacement is bound, runs the task again, and it completes.
So `render` gives a preemptible priority a Job per task (tests/unit/test_task_kind.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from sandbox.agent_harness import ClearMLStandIn, enqueue, task_pod_name, task_status
from sandbox.kai import Kai, wait_for

from .conftest import CHART, Kube, clearml_for, get_pod, run_agent, unique
from .test_runai import ACCESS, SECRET, install_clearml_for_runai

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def clearml_ns(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    namespace = install_clearml_for_runai(kube, tmp_path_factory.mktemp("clearml"))
    yield namespace
    kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def one_gpu_project(kube: Kube, kai: Kai, clearml_ns: str, workdir: Path, *render: str) -> tuple[str, str, str, str]:
    """A node pool of one node with one GPU, a project in it (GPU quota 1), and our release rendered live
    with priority `train`. Returns (project, namespace, pool, render's stderr)."""
    pool = unique("pool")
    department = kai.node_pool(pool, nodes=1, gpus=1)
    project = unique("p")
    namespace = kai.project(project, gpu_quota=1, department=department, pool=pool)
    path = workdir / "values.yaml"
    proc = kube.gen("render", "--project", project, "--clearml-namespace", clearml_ns, "--priority-class", "train",
                    "--node-pool", pool, "-o", str(path), *render)  # fmt: skip
    kube.helm("v4", "install", f"clearml-runai-{project}", str(CHART), "-n", namespace, "-f", str(path),
              "--wait", "--timeout=120s")  # fmt: skip
    assert YAML(typ="safe").load(path.read_text())["runai"]["priorityClass"] == "train"
    return project, namespace, pool, proc.stderr


def job_pods(kube: Kube, namespace: str, task: str) -> list[dict[str, Any]]:
    out = kube.kubectl("get", "pods", "-n", namespace, "-l", f"job-name={task_pod_name(task)}", "-o", "json").stdout
    return list(json.loads(out)["items"])


def rival(kai: Kai, namespace: str, project: str, pool: str) -> str:
    """A non-preemptible workload of the same queue that wants the GPU."""
    return kai.create(kai.task_pod(namespace, project, name=unique("rival"), gpus=1, priority="build", pool=pool))


def wait_status(agent: Any, clearml: ClearMLStandIn, task: str, status: str, timeout: float = 90) -> None:
    agent.wait_for(lambda: clearml.statuses(task)[-1] == status, f"task {task} {status}", timeout=timeout)


def test_a_preempted_task_pod_leaves_its_task_in_progress_with_no_pod(
    kube: Kube, kai: Kai, clearml_ns: str, tmp_path: Path
) -> None:
    project, namespace, pool, stderr = one_gpu_project(kube, kai, clearml_ns, tmp_path, "--task-kind", "pod")
    assert "is preemptible" not in stderr, stderr
    queue = f"runai-{project}"
    with (
        clearml_for(ACCESS, SECRET, queue) as clearml,
        run_agent(kube, namespace, f"clearml-runai-{project}", clearml, tmp_path / "agent") as agent,
    ):
        task = enqueue(clearml, "preempted-pod", queue)
        pod = task_pod_name(task)
        agent.wait_for(lambda: get_pod(kube, namespace, pod), "the task pod")
        kai.placement(namespace, pod)
        kai.wait_phase(namespace, pod, "Running")
        clearml.report_as_task(task, "in_progress")

        other = rival(kai, namespace, project, pool)
        kai.placement(namespace, other, timeout=120)  # KAI evicted the task's pod to bind it
        wait_for("the task pod to be gone", lambda: get_pod(kube, namespace, pod) is None, timeout=60)
        kai.finish(namespace, other, "Succeeded")  # the GPU is free again
        kube.kubectl("delete", "pod", other, "-n", namespace)
        # the agent's loops run every few seconds: for 30 s (several of its polls) nothing changes
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert clearml.statuses(task)[-1] == "in_progress" and get_pod(kube, namespace, pod) is None
            time.sleep(1)
        statuses = clearml.statuses(task)
        seen = task_status(clearml, task)  # what the user's Task.get_task(task_id=) says: running, with no pod
    assert statuses == ["created", "queued", "stopped", "queued", "in_progress"], statuses
    assert seen == "in_progress"


def test_a_preempted_job_pod_takes_its_task_back_to_the_queue_and_it_runs_again(
    kube: Kube, kai: Kai, clearml_ns: str, tmp_path: Path
) -> None:
    project, namespace, pool, stderr = one_gpu_project(kube, kai, clearml_ns, tmp_path)
    assert "priority train is preemptible: the agent creates a Job per task" in stderr, stderr
    queue = f"runai-{project}"
    with (
        clearml_for(ACCESS, SECRET, queue) as clearml,
        run_agent(kube, namespace, f"clearml-runai-{project}", clearml, tmp_path / "agent") as agent,
    ):
        task = enqueue(clearml, "preempted-job", queue)
        first = agent.wait_for(lambda: job_pods(kube, namespace, task), "the task's Job pod")[0]["metadata"]["name"]
        kai.placement(namespace, first)
        kai.wait_phase(namespace, first, "Running")
        clearml.report_as_task(task, "in_progress")

        other = rival(kai, namespace, project, pool)
        kai.placement(namespace, other, timeout=120)

        def replacement() -> str:
            names = [p["metadata"]["name"] for p in job_pods(kube, namespace, task)]
            return names[0] if names and first not in names else ""

        def job_state() -> str:  # why no replacement came: the Job's status and its pods' phases
            jobs = json.loads(kube.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout)["items"]
            pods = [(p["metadata"]["name"], p.get("status", {}).get("phase")) for p in job_pods(kube, namespace, task)]
            return f"jobs {[j.get('status') for j in jobs]}, pods {pods}"

        # the Job controller replaces the evicted pod after its back-off (10 s at the first failure), later when
        # the control plane is still busy with an earlier module's namespaces
        second = wait_for("the Job's replacement pod", replacement, timeout=240, explain=job_state)
        reason, message = kai.pending_reason(namespace, second)
        assert reason == "Unschedulable", message
        wait_status(agent, clearml, task, "queued")  # the pending-pods monitor took it back to the queue

        kai.finish(namespace, other, "Succeeded")
        kube.kubectl("delete", "pod", other, "-n", namespace)
        kai.placement(namespace, second, timeout=120)
        kai.wait_phase(namespace, second, "Running")
        clearml.report_as_task(task, "in_progress")  # the task's process starts again in the new pod
        clearml.report_as_task(task, "completed")
        kai.finish(namespace, second, "Succeeded")
        statuses = clearml.statuses(task)
        seen = task_status(clearml, task)
    assert statuses == ["created", "queued", "stopped", "queued", "in_progress", "queued", "in_progress", "completed"]
    assert seen == "completed"
