"""KAI, the open-source Run:ai scheduler, places task pods shaped by the chart's template.

Plain pods, no agent: each pod is the chart's task template (helm template) completed with a name,
image and command, created with kubectl. What a Run:ai cluster does with it is asserted on what KAI
leaves behind (node, PodBound, PodGroup and its queue, BindRequest), not on events.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from typing import Any

import pytest

from sandbox.kai import Kai, condition, wait_for
from sandbox.names import names
from tests.conftest import CHART, ROOT, tool

from .conftest import Kube, unique

pytestmark = pytest.mark.cluster

DEFAULT_GPU_NODES = {"gpu-node-0", "gpu-node-1"}


def terminated(pod: dict[str, Any]) -> dict[str, Any]:
    return dict(pod["status"]["containerStatuses"][0]["state"]["terminated"])


def test_task_pod_is_bound_by_kai_to_a_gpu_node_in_its_queue_then_runs_and_finishes(kai: Kai) -> None:
    project = unique("bind")
    # a queue named otherwise than the project: only the label runai/queue can lead the pod there
    queue = f"{project}-gpu"
    ns = kai.project(project, gpu_quota=2, queue=queue)
    ok = kai.create(kai.task_pod(ns, project, gpus=1, queue=queue))
    failing = kai.create(kai.task_pod(ns, project, gpus=1, queue=queue))

    for name in (ok, failing):
        placed = kai.placement(ns, name)
        assert placed.node in DEFAULT_GPU_NODES
        assert placed.pod["spec"]["schedulerName"] == "runai-scheduler"
        assert placed.queue == queue, "the PodGroup is not in the pod's queue (label runai/queue)"
        assert placed.bind_request["spec"]["selectedNode"] == placed.node
        assert placed.bind_request["status"]["phase"] == "Succeeded"
        # since v0.16 KAI's webhook gives the GPU operator's runtime class to GPU-fraction pods only
        assert "runtimeClassName" not in placed.pod["spec"]
        running = kai.wait_phase(ns, name, "Running")
        assert condition(running, "Ready")["status"] == "True"  # type: ignore[index]
        assert running["status"]["podIP"]

    done = kai.finish(ns, ok, "Succeeded")
    assert terminated(done)["exitCode"] == 0
    failed = kai.finish(ns, failing, "Failed")
    assert terminated(failed)["exitCode"] == 1 and terminated(failed)["reason"] == "Error"


def test_non_preemptible_pod_over_the_project_quota_stays_pending_with_kais_reason(kai: Kai) -> None:
    project = unique("quota")
    ns = kai.project(project, gpu_quota=1)
    first = kai.create(kai.task_pod(ns, project, gpus=1, priority="build"))
    kai.placement(ns, first)
    extra = kai.create(kai.task_pod(ns, project, gpus=1, priority="build"))

    reason, message = kai.pending_reason(ns, extra)
    assert reason == "Unschedulable"
    assert "NonPreemptibleOverQuota" in message and f"{project} quota is 1 GPUs" in message, message
    pod = kai.pod(ns, extra)
    assert not pod["spec"].get("nodeName")
    group = kai.kube.get("podgroups.scheduling.run.ai", ns, pod["metadata"]["annotations"]["pod-group-name"])
    assert group["spec"]["priorityClassName"] == "build"
    assert group["spec"]["queue"] == project
    # a preemptible (train) pod of the same project may still go over quota, into the department's spare GPUs
    train = kai.create(kai.task_pod(ns, project, gpus=1, priority="train"))
    assert kai.placement(ns, train).node in DEFAULT_GPU_NODES


def test_pods_of_a_node_pool_land_only_on_that_pools_nodes(kai: Kai) -> None:
    pool = unique("pool")
    department = kai.node_pool(pool, nodes=2, gpus=2)
    pool_nodes = {
        n["metadata"]["name"] for n in kai.kube.get("nodes", "default", selector=f"runai/node-pool={pool}")["items"]
    }
    assert len(pool_nodes) == 2
    in_pool = unique("inpool")
    ns_pool = kai.project(in_pool, gpu_quota=4, department=department, pool=pool)
    elsewhere = unique("nopool")
    ns_default = kai.project(elsewhere, gpu_quota=4)

    pool_pods = [kai.create(kai.task_pod(ns_pool, in_pool, gpus=1, pool=pool)) for _ in range(3)]
    default_pods = [kai.create(kai.task_pod(ns_default, elsewhere, gpus=1)) for _ in range(3)]
    for name in pool_pods:
        placed = kai.placement(ns_pool, name)
        assert placed.pod["metadata"]["labels"]["runai/node-pool"] == pool
        assert placed.node in pool_nodes, f"{name} left its node pool for {placed.node}"
        assert placed.pod_group["metadata"]["labels"]["runai/node-pool"] == pool
    for name in default_pods:
        assert kai.placement(ns_default, name).node in DEFAULT_GPU_NODES


def test_pod_no_node_can_fit_stays_pending_with_the_schedulers_reason(kai: Kai) -> None:
    project = unique("nofit")
    ns = kai.project(project, gpu_quota=16)
    name = kai.create(kai.task_pod(ns, project, gpus=16))  # no node has more than 4 GPUs

    reason, message = kai.pending_reason(ns, name)
    assert reason == "Unschedulable"
    assert "MaxNodePoolResources" in message and "GPU: 16" in message, message
    assert "OverQuota" not in message
    assert not kai.pod(ns, name)["spec"].get("nodeName")


def test_two_half_gpu_fractions_share_one_gpu(kai: Kai) -> None:
    project = unique("frac")
    ns = kai.project(project, gpu_quota=1)
    pods = [kai.create(kai.task_pod(ns, project, gpu_fraction="0.5")) for _ in range(2)]

    placed = [kai.placement(ns, name, timeout=120) for name in pods]
    for p in placed:
        annotations = p.pod["metadata"]["annotations"]
        assert annotations["gpu-fraction"] == "0.5"
        # added by KAI's admission webhook, as on a Run:ai cluster
        assert annotations["runai/shared-gpu-configmap"]
        assert p.bind_request["spec"]["receivedResourceType"] == "Fraction"
    assert placed[0].node == placed[1].node
    groups = {p.pod["metadata"]["labels"]["runai-gpu-group"] for p in placed}
    assert len(groups) == 1, f"the two halves got different GPUs: {groups}"
    (group,) = groups
    reservation = kai.kube.get("pods", "kai-resource-reservation", selector=f"runai-gpu-group={group}")["items"]
    assert len(reservation) == 1 and reservation[0]["spec"]["nodeName"] == placed[0].node
    gpu_id = reservation[0]["metadata"]["annotations"]["run.ai/reserve_for_gpu_index"]
    assert gpu_id.startswith("GPU-")
    for p in placed:
        configmap = kai.kube.get("configmap", ns, f"{p.pod['metadata']['annotations']['runai/shared-gpu-configmap']}-0")
        assert configmap["data"]["GPU_PORTION"] == "0.50"
        assert configmap["data"]["NVIDIA_VISIBLE_DEVICES"] == gpu_id


def test_what_kai_does_with_a_wrong_scheduler_name_a_missing_queue_label_and_a_project_label_only(
    kai: Kai,
) -> None:
    project = unique("labels")
    ns = kai.project(project, gpu_quota=4)

    # another scheduler's name: KAI's pod-grouper never looks at the pod, nothing places it
    other_scheduler = kai.task_pod(ns, project, gpus=1)
    other_scheduler["spec"]["schedulerName"] = "other-scheduler"
    # no schedulerName (the clearml-agent chart's own template): kube-scheduler places it,
    # outside every Run:ai queue and quota
    no_scheduler = kai.task_pod(ns, project, gpus=1)
    no_scheduler["spec"].pop("schedulerName")
    # the project label is KAI's built-in fallback: without runai/queue the queue is the project's
    project_only = kai.task_pod(ns, project, gpus=1)
    project_only["metadata"]["labels"].pop(kai.names.queue_label)
    # with neither label the queue is "default-queue", which a Run:ai cluster does not have
    no_queue = kai.task_pod(ns, project, gpus=1)
    for label in (kai.names.queue_label, "project"):
        no_queue["metadata"]["labels"].pop(label, None)
    names = {
        key: kai.create(pod)
        for key, pod in (
            ("other", other_scheduler),
            ("default", no_scheduler),
            ("project", project_only),
            ("none", no_queue),
        )
    }

    assert kai.placement(ns, names["project"]).queue == project
    _, message = kai.pending_reason(ns, names["none"])
    assert message.startswith("QueueDoesNotExist: Queue 'default-queue' does not exist"), message
    bypassed = kai.wait_phase(ns, names["default"], "Running")
    assert bypassed["spec"]["schedulerName"] == "default-scheduler" and bypassed["spec"]["nodeName"]
    assert "pod-group-name" not in (bypassed["metadata"].get("annotations") or {}), "no PodGroup, no queue, no quota"
    # KAI has grouped and judged the pods created after it; a moment more for the pod-grouper's workers
    time.sleep(2)
    other = kai.pod(ns, names["other"])
    assert not other["spec"].get("nodeName") and other["status"]["phase"] == "Pending"
    assert "pod-group-name" not in (other["metadata"].get("annotations") or {}), "KAI grouped another's pod"


def test_agent_deployment_pod_is_placed_by_kube_scheduler_and_runs(kube: Kube, kai: Kai) -> None:
    """The chart's agent Deployment names no scheduler: kube-scheduler places it, kwok runs it."""
    project = unique("agent")
    ns = kai.project(project)
    release = names(project).release
    values = {
        "runai": {"project": project},
        "clearml": {
            "apiHost": "http://clearml-apiserver.clearml.svc.cluster.local:8008",
            "accessKey": "ACCESSKEY",
            "secretKey": "SECRETKEY",
        },
        "agent": {"queues": [names(project).queue]},
    }
    kube.run(
        [tool("helm"), "install", release, str(CHART), "-n", ns, "--values", "-", "--wait", "--timeout", "120s"],
        stdin=json.dumps(values),
    )
    try:
        pods = kube.get("pods", ns, selector=f"app.kubernetes.io/instance={release}")["items"]
        assert len(pods) == 1
        pod = pods[0]
        assert pod["spec"]["schedulerName"] == "default-scheduler"
        assert pod["spec"]["nodeName"]
        assert pod["status"]["phase"] == "Running"
        scheduled = [
            e
            for e in kube.get("events", ns)["items"]
            if e["involvedObject"]["name"] == pod["metadata"]["name"] and e["reason"] == "Scheduled"
        ]
        assert (
            scheduled
            and (scheduled[0].get("reportingComponent") or scheduled[0]["source"]["component"]) == "default-scheduler"
        )
        deployment = kube.get("deployment", ns, release)
        assert condition(deployment, "Available")["status"] == "True"  # type: ignore[index]
    finally:
        kube.helm("v4", "uninstall", release, "-n", ns, check=False)


def test_kai_scheduler_names_serve_kai_installs_on_a_control_plane_of_their_own(kai_cluster: Kai) -> None:
    """--scheduler kai: schedulerName kai-scheduler, label kai.scheduler/queue; runai-scheduler pods wait."""
    kai = kai_cluster
    assert kai.names.scheduler == "kai-scheduler" and kai.names.queue_label == "kai.scheduler/queue"
    project = unique("oss")
    ns = kai.project(project, gpu_quota=2)
    pod = kai.task_pod(ns, project, gpus=1)
    assert pod["spec"]["schedulerName"] == "kai-scheduler"
    assert pod["metadata"]["labels"]["kai.scheduler/queue"] == project
    assert "runai/queue" not in pod["metadata"]["labels"]
    name = kai.create(pod)
    placed = kai.placement(ns, name)
    assert placed.queue == project and placed.node in DEFAULT_GPU_NODES
    kai.finish(ns, name, "Succeeded")

    runai_pod = kai.task_pod(ns, project, gpus=1)
    runai_pod["spec"]["schedulerName"] = "runai-scheduler"
    stranger = kai.create(runai_pod)
    other = kai.create(kai.task_pod(ns, project, gpus=1))
    kai.placement(ns, other)
    time.sleep(3)
    assert not kai.pod(ns, stranger)["spec"].get("nodeName")


def test_kai_node_pool_label_keeps_kai_installs_on_their_pool(kai_cluster: Kai) -> None:
    """--scheduler kai --node-pool P: label kai.scheduler/node-pool, served by that pool's scheduler shard."""
    kai = kai_cluster
    pool = unique("oss-pool")
    department = kai.node_pool(pool, nodes=1, gpus=2)
    pool_nodes = {
        n["metadata"]["name"]
        for n in kai.kube.get("nodes", "default", selector=f"kai.scheduler/node-pool={pool}")["items"]
    }
    project = unique("ossp")
    ns = kai.project(project, gpu_quota=2, department=department, pool=pool)
    pod = kai.task_pod(ns, project, gpus=1, pool=pool)
    assert pod["metadata"]["labels"]["kai.scheduler/node-pool"] == pool
    assert "runai/node-pool" not in pod["metadata"]["labels"]
    placed = kai.placement(ns, kai.create(pod))
    assert placed.node in pool_nodes and placed.queue == project


def test_cluster_up_starts_when_its_children_are_slow_to_exec() -> None:
    """`ci/cluster.sh up` waits on the pids it launched, not on their command lines: a child held
    between fork and exec still has the script's command line, and a wait that went by it gave up at
    once, stopped the control plane it had just started and blamed a readiness timeout that never
    ran. TESTENV_START_DELAY holds each child there for 2 s; a control plane of its own (its own
    TESTENV_RUN_DIR) starts anyway and is stopped again."""
    run_dir = ROOT / ".cache" / "testenv" / f"run-slow-exec-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "TESTENV_RUN_DIR": str(run_dir), "TESTENV_START_DELAY": "2", "CLUSTER_SCHEDULER": "runai"}
    script = str(ROOT / "ci" / "cluster.sh")
    try:
        up = subprocess.run([script, "up"], env=env, capture_output=True, text=True, timeout=900)
        assert up.returncode == 0, up.stderr[-4000:]
        assert up.stdout.strip().splitlines()[-1] == f"export KUBECONFIG={run_dir / 'state' / 'kubeconfig'}"
        assert "within" not in up.stderr, up.stderr
        status = subprocess.run([script, "status"], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0 and "ready; KAI" in status.stdout, status.stdout + status.stderr
    finally:
        subprocess.run([script, "down"], env=env, capture_output=True, text=True, timeout=300)
        shutil.rmtree(run_dir, ignore_errors=True)


def test_verify_names_the_reason_this_kai_release_writes_for_over_quota_and_a_missing_queue(kai: Kai) -> None:
    """verify's task-pods line read from what the running KAI (v0.16.8, or v0.17.0 with KAI_VERSION)
    writes: its PodGroups' scheduling conditions, the pods' conditions and the events."""
    from clearml_runai_gen import taskpods
    from kubernetes import config as kube_config

    project = unique("verify")
    ns = kai.project(project, gpu_quota=1)
    kai.gpu_nodes(1, gpus=1)  # a free GPU whatever the tests before left running
    api = kube_config.new_client_from_config(config_file=kai.kube.kubeconfig)

    def agent_pod(queue: str | None = None) -> dict[str, Any]:
        pod = kai.task_pod(ns, project, gpus=1, priority="build", queue=queue)
        pod["metadata"]["labels"][taskpods.TASK_POD_SELECTOR] = "agent-0123abcd"  # as the agent labels its pods
        return pod

    def task_pods_line(needle: str) -> Any:
        def probe() -> taskpods.Check | None:
            check = taskpods.task_pods_check(api, ns)
            return check if needle in check.detail else None

        return wait_for(
            f"verify's task pods line to say {needle!r}", probe, explain=lambda: str(taskpods.task_pods_check(api, ns))
        )

    first = kai.create(agent_pod())
    kai.placement(ns, first)
    extra = kai.create(agent_pod())
    check = task_pods_line(f"{extra} waits for quota: NonPreemptibleOverQuota")
    assert check.ok is True and "\n" not in check.detail, check

    ghost = unique("ghost")
    lost = kai.create(agent_pod(queue=ghost))
    check = task_pods_line(f"{lost} cannot be placed: QueueDoesNotExist")
    assert check.ok is False and f"Queue '{ghost}' does not exist" in check.detail, check
    api.close()
