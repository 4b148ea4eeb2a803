"""The whole loop: a ClearML task becomes a pod that KAI, the Run:ai scheduler's open-source core, binds
to a GPU node in the project's queue, runs, and the agent cleans up.

Real: the upstream clearml-agent chart's install (a helm release), render, our chart (helm), the
pinned clearml-agent's daemon loop (as its container runs it, with the release ServiceAccount's token
and the real kubectl), the API server, kube-scheduler (the agent's own pod) and KAI (scheduler, binder,
pod-grouper, admission webhook) as `runai-scheduler` with `runai/queue`. Stood in: the nodes and their
container runtime (kwok runs bound pods; a test ends them), the ClearML server (a local API that knows
only the agent's key pair), and a task's own process (its status reports are played by the test).
Projects, quotas and pools are made per test with the `kai` fixture (sandbox/kai.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from sandbox.agent_harness import ClearMLStandIn, create_and_enqueue, enqueue, task_pod_name, task_status
from sandbox.corpus.cases import credentials, find, merge
from sandbox.corpus.install import install
from sandbox.kai import Kai
from sandbox.names import names
from tests.conftest import ProjectNames

from .conftest import CHART, Kube, clearml_for, get_pod, run_agent, unique

pytestmark = pytest.mark.cluster

ACCESS, SECRET = "AKRUNAILOOP7", "runai-loop-secret-4f1c"
CASE = "b-5.3.2-internal-multiqueue"  # the agent chart beside the ClearML server's Services
TASK_IMAGE = "nvcr.io/nvidia/pytorch:24.05-py3"
GPU_TEMPLATE = {"agentk8sglue": {"basePodTemplate": {"resources": {"limits": {"nvidia.com/gpu": 1}}}}}


def install_clearml_for_runai(kube: Kube, workdir: Path) -> str:
    """A clearml-agent 5.3.2 install whose task template asks for one GPU; returns its namespace."""
    namespace, case = unique("ml"), find(CASE)
    install(kube, case, namespace, workdir, merge(credentials(case, ACCESS, SECRET, "gpu"), GPU_TEMPLATE))
    return namespace


@pytest.fixture(scope="module")
def clearml_ns(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    namespace = install_clearml_for_runai(kube, tmp_path_factory.mktemp("clearml"))
    yield namespace
    kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@dataclass
class RunaiProject(ProjectNames):
    kube: Kube
    project: str
    values: dict[str, Any]

    @property
    def queue(self) -> str:
        return str(self.values["agent"]["queues"][0])

    def pod(self, task: str) -> dict[str, Any] | None:
        return get_pod(self.kube, self.namespace, task_pod_name(task))

    def verify(self, clearml: ClearMLStandIn) -> tuple[int, dict[str, str]]:
        proc = self.kube.gen("verify", "--project", self.project, "--clearml-api-host", clearml.url, check=False)
        lines = {line[6:].split("  ")[0].strip(): line for line in proc.stdout.splitlines()}
        return proc.returncode, lines


def deploy(
    kube: Kube,
    kai: Kai,
    clearml_ns: str,
    workdir: Path,
    *render: str,
    gpu_quota: float = 2,
    department: str = "default",
    pool: str | None = None,
    queue: str | None = None,
    helm_set: tuple[str, ...] = (),
) -> RunaiProject:
    """A Run:ai project (namespace and queue with this GPU quota; the queue named `queue`, else after the
    project) and our release in it, rendered live; the agent's own pod placed by kube-scheduler and
    running (helm --wait)."""
    project = unique("p")
    kai.project(project, gpu_quota=gpu_quota, department=department, pool=pool, queue=queue)
    if queue:
        helm_set = (*helm_set, f"runai.queue={queue}")
    path = workdir / f"{project}.values.yaml"
    kube.gen("render", "--project", project, "--clearml-namespace", clearml_ns, "-o", str(path), *render)
    sets = [arg for item in helm_set for arg in ("--set", item)]
    made = names(project)
    install_args = ["-n", made.namespace, "-f", str(path), "--wait", "--timeout=120s", *sets]
    kube.helm("v4", "install", made.release, str(CHART), *install_args)
    return RunaiProject(kube, project, YAML(typ="safe").load(path.read_text()))


def gpu_nodes(kube: Kube) -> dict[str, dict[str, Any]]:
    nodes = kube.get("nodes", "default")["items"]
    return {n["metadata"]["name"]: n for n in nodes if "nvidia.com/gpu" in n["status"].get("capacity", {})}


def wait_pod(agent: Any, p: RunaiProject, task: str) -> dict[str, Any]:
    return agent.wait_for(lambda: p.pod(task), f"the agent's pod for task {task}")  # type: ignore[no-any-return]


def test_a_task_becomes_a_pod_kai_binds_in_the_projects_queue_that_runs_and_is_cleaned_up(
    kube: Kube, kai: Kai, clearml_ns: str, tmp_path: Path
) -> None:
    # a scheduler queue named otherwise than the project: only the label runai/queue leads the pod there
    queue = f"{unique('team')}-gpu"
    p = deploy(kube, kai, clearml_ns, tmp_path, queue=queue)
    with (
        clearml_for(ACCESS, SECRET, p.queue) as clearml,
        run_agent(kube, p.namespace, p.release, clearml, tmp_path / "agent") as agent,
    ):
        assert clearml.workers() == {p.release: [p.queue]}
        task = enqueue(clearml, "train-resnet", p.queue, image=TASK_IMAGE)
        created = wait_pod(agent, p, task)
        # the image the user's Task.create(docker=...) set is the one the agent's pod runs
        assert created["spec"]["containers"][0]["image"] == TASK_IMAGE
        # created by the agent's kubectl, as the release's ServiceAccount, in the project's namespace
        assert created["metadata"]["namespace"] == p.namespace
        assert created["spec"]["schedulerName"] == "runai-scheduler"

        placed = kai.placement(p.namespace, task_pod_name(task))
        assert placed.node in gpu_nodes(kube)
        assert placed.queue == queue, "the PodGroup is not in the project's queue"
        assert placed.pod["metadata"]["labels"]["project"] == p.project
        assert placed.bind_request["status"]["phase"] == "Succeeded"
        assert placed.bind_request["spec"]["selectedNode"] == placed.node
        assert str(placed.pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]) == "1"

        kai.wait_phase(p.namespace, task_pod_name(task), "Running")
        # the task's own process (no container runtime here) reports as it would from the pod
        clearml.report_as_task(task, "in_progress")
        clearml.report_as_task(task, "completed")
        kai.finish(p.namespace, task_pod_name(task), "Succeeded")
        agent.wait_for(lambda: p.pod(task) is None, "the agent's cleanup of the finished pod")
        # made by the SDK, moved to the agent's pending queue once its pod exists (stop, enqueue), run
        assert clearml.statuses(task) == ["created", "queued", "stopped", "queued", "in_progress", "completed"]
        assert [c.by for c in clearml.history(task)[:2]] == ["tasks.create", "tasks.enqueue"]
        assert task_status(clearml, task) == "completed"  # what the user's Task.get_task(task_id=) says

        assert clearml.statuses(task) == ["created", "queued", "stopped", "queued", "in_progress", "completed"]
        assert any(r["task"] == task for r in clearml.status_reports(p.release))
        code, lines = p.verify(clearml)
    assert code == 0, "\n".join(lines.values())
    for name in ("release objects", "agent available", "task-pod template", "agent permissions", "queue exists"):
        assert lines[name].startswith("ok"), lines


def test_over_quota_the_extra_task_waits_with_kais_reason_and_verify_says_it(
    kube: Kube, kai: Kai, clearml_ns: str, tmp_path: Path
) -> None:
    p = deploy(kube, kai, clearml_ns, tmp_path, "--priority-class", "build", gpu_quota=1)
    with (
        clearml_for(ACCESS, SECRET, p.queue) as clearml,
        run_agent(kube, p.namespace, p.release, clearml, tmp_path / "agent") as agent,
    ):
        # the first task takes the quota before the extra one comes: KAI does not order pods created at once
        first = enqueue(clearml, "first", p.queue)
        wait_pod(agent, p, first)
        assert kai.placement(p.namespace, task_pod_name(first)).pod_group["spec"]["priorityClassName"] == "build"
        extra = enqueue(clearml, "extra", p.queue)
        wait_pod(agent, p, extra)
        reason, message = kai.pending_reason(p.namespace, task_pod_name(extra))
        assert reason == "Unschedulable" and "NonPreemptibleOverQuota" in message, message
        assert f"{p.project} quota is 1 GPUs" in message
        # the agent's pending-pods monitor passes KAI's reason on to the task in ClearML
        agent.wait_for(
            lambda: "NonPreemptibleOverQuota" in (clearml.task(extra).get("status_message") or ""),
            "KAI's reason in the task's status message",
        )
        code, lines = p.verify(clearml)
    line = lines["task pods"]
    assert line.startswith("ok") and "waits for quota" in line and "NonPreemptibleOverQuota" in line, line
    assert task_pod_name(extra) in line and code == 0


def test_half_gpu_tasks_share_one_gpu(kube: Kube, kai: Kai, clearml_ns: str, tmp_path: Path) -> None:
    p = deploy(kube, kai, clearml_ns, tmp_path, "--gpu-fraction", "0.5", gpu_quota=1)
    with (
        clearml_for(ACCESS, SECRET, p.queue) as clearml,
        run_agent(kube, p.namespace, p.release, clearml, tmp_path / "agent") as agent,
    ):
        tasks = create_and_enqueue(clearml, [(f"half-{i}", p.queue) for i in range(2)])
        for task in tasks:
            wait_pod(agent, p, task)
        placed = [kai.placement(p.namespace, task_pod_name(t), timeout=120) for t in tasks]
    for place in placed:
        assert place.pod["metadata"]["annotations"]["gpu-fraction"] == "0.5"
        assert "nvidia.com/gpu" not in json.dumps(place.pod["spec"]["containers"][0].get("resources") or {})
        assert place.bind_request["spec"]["receivedResourceType"] == "Fraction"
    assert placed[0].node == placed[1].node
    assert len({pl.pod["metadata"]["labels"]["runai-gpu-group"] for pl in placed}) == 1, "two GPUs for two halves"


def test_a_node_pool_project_lands_on_its_pools_nodes_and_its_priority_reaches_the_pod_group(
    kube: Kube, kai: Kai, clearml_ns: str, tmp_path: Path
) -> None:
    pool = unique("pool")
    department = kai.node_pool(pool, nodes=2, gpus=2)
    pool_nodes = {n for n, node in gpu_nodes(kube).items() if node["metadata"]["labels"].get("runai/node-pool") == pool}
    p = deploy(
        kube, kai, clearml_ns, tmp_path, "--node-pool", pool, "--priority-class", "train", "--task-kind", "pod",
        department=department, pool=pool,
    )  # fmt: skip
    with (
        clearml_for(ACCESS, SECRET, p.queue) as clearml,
        run_agent(kube, p.namespace, p.release, clearml, tmp_path / "agent") as agent,
    ):
        tasks = create_and_enqueue(clearml, [(f"pool-{i}", p.queue) for i in range(3)])
        for task in tasks:
            wait_pod(agent, p, task)
        placed = [kai.placement(p.namespace, task_pod_name(t)) for t in tasks]
    assert {pl.node for pl in placed} <= pool_nodes, "a task pod of the pool ran outside it"
    for pl in placed:
        assert pl.pod["metadata"]["labels"]["runai/node-pool"] == pool
        assert pl.pod_group["spec"]["priorityClassName"] == "train"
        assert pl.queue == p.project


def test_two_projects_at_once_each_agent_serves_only_its_namespace_and_queue(
    kube: Kube, kai: Kai, clearml_ns: str, tmp_path: Path
) -> None:
    a = deploy(kube, kai, clearml_ns, tmp_path)
    b = deploy(kube, kai, clearml_ns, tmp_path)
    with (
        clearml_for(ACCESS, SECRET, a.queue, b.queue) as clearml,
        run_agent(kube, a.namespace, a.release, clearml, tmp_path / "agent-a") as agent_a,
        run_agent(kube, b.namespace, b.release, clearml, tmp_path / "agent-b", registered=False) as agent_b,
    ):
        agent_b.wait_for(lambda: b.release in clearml.workers(), "the second agent's worker registration")
        assert clearml.workers() == {a.release: [a.queue], b.release: [b.queue]}
        task_a, task_b = create_and_enqueue(clearml, [("for-a", a.queue), ("for-b", b.queue)])
        wait_pod(agent_a, a, task_a)
        wait_pod(agent_b, b, task_b)
        assert a.pod(task_b) is None and b.pod(task_a) is None
        assert kai.placement(a.namespace, task_pod_name(task_a)).queue == a.project
        assert kai.placement(b.namespace, task_pod_name(task_b)).queue == b.project
        for agent, other in ((agent_a, task_b), (agent_b, task_a)):
            assert other not in agent.log(), "an agent handled the other project's task"


def test_a_task_no_node_can_fit_is_reported_by_verify(kube: Kube, kai: Kai, clearml_ns: str, tmp_path: Path) -> None:
    p = deploy(
        kube, kai, clearml_ns, tmp_path, gpu_quota=16, helm_set=("taskPod.resources.limits.nvidia\\.com/gpu=16",)
    )
    with (
        clearml_for(ACCESS, SECRET, p.queue) as clearml,
        run_agent(kube, p.namespace, p.release, clearml, tmp_path / "agent") as agent,
    ):
        task = enqueue(clearml, "too-big", p.queue)
        wait_pod(agent, p, task)
        reason, message = kai.pending_reason(p.namespace, task_pod_name(task))
        assert "MaxNodePoolResources" in message, message
        code, lines = p.verify(clearml)
    line = lines["task pods"]
    assert line.startswith("FAIL") and "cannot be placed" in line and "MaxNodePoolResources" in line, line
    assert code == 1


def test_kai_scheduler_names_serve_a_kai_install_end_to_end(kai_cluster: Kai, tmp_path: Path) -> None:
    """--scheduler kai on the control plane whose KAI runs under its open-source names."""
    kube, kai = kai_cluster.kube, kai_cluster
    namespace = install_clearml_for_runai(kube, tmp_path / "clearml")
    try:
        p = deploy(kube, kai, namespace, tmp_path, "--scheduler", "kai")
        with (
            clearml_for(ACCESS, SECRET, p.queue) as clearml,
            run_agent(kube, p.namespace, p.release, clearml, tmp_path / "agent") as agent,
        ):
            task = enqueue(clearml, "oss", p.queue)
            pod = wait_pod(agent, p, task)
            assert pod["spec"]["schedulerName"] == "kai-scheduler"
            assert pod["metadata"]["labels"]["kai.scheduler/queue"] == p.project
            placed = kai.placement(p.namespace, task_pod_name(task))
        assert placed.queue == p.project and placed.node in gpu_nodes(kube)
    finally:
        kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
