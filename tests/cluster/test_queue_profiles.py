"""Queue profiles on KAI with the real agent: three queues of one project, each served by its own agent.

GPU with priority train, CPU with priority build (the source template's GPU deleted by `null`), and a
0.5 GPU fraction: a task enqueued to each queue is taken by that queue's agent alone, becomes a pod of
that profile's template, and KAI binds it in the project's queue (the CPU task on a node without GPUs).
verify reports every agent ok, and a finished pod stays as long as --keep-finished-pods asks.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from sandbox.agent_harness import AgentDaemon, create_and_enqueue, task_pod_name
from sandbox.kai import Kai

from .conftest import Kube, clearml_for
from .test_runai import ACCESS, SECRET, clearml_ns, deploy, gpu_nodes, wait_pod  # noqa: F401 (clearml_ns: fixture)

pytestmark = pytest.mark.cluster

PROFILES = """\
"{project}-train": {priorityClass: train}
"{project}-build":
  priorityClass: build
  taskPod:
    spec:
      containers:
        - resources: {limits: {nvidia.com/gpu: null}}
      affinity:  # off the GPU nodes (the GPU operator's label), which KAI would fill with CPU pods too
        nodeAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            nodeSelectorTerms:
              - matchExpressions: [{key: nvidia.com/gpu.present, operator: DoesNotExist}]
"{project}-nb": {gpuFraction: "0.5"}
"""
KEEP_MINUTES = 1


def test_three_profiles_each_task_taken_by_its_own_agent_and_placed_by_its_profile(
    kube: Kube,
    kai: Kai,
    clearml_ns: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(PROFILES)
    # bare pods, looked up by name (a `train` profile would otherwise make every agent create Jobs:
    # tests/cluster/test_preemption.py is about those)
    p = deploy(
        kube,
        kai,
        clearml_ns,
        tmp_path,
        "--queue-profiles",
        str(profiles),
        "--keep-finished-pods",
        str(KEEP_MINUTES),
        "--task-kind",
        "pod",
    )
    entries = {e["name"]: e for e in p.values["queueProfiles"]}
    queues = {name: e["queue"] for name, e in entries.items()}
    assert sorted(queues.values()) == sorted(f"{p.project}-{s}" for s in ("train", "build", "nb"))
    with contextlib.ExitStack() as stack:
        clearml = stack.enter_context(clearml_for(ACCESS, SECRET, p.queue, *queues.values()))
        agents: dict[str, AgentDaemon] = {}
        for name, queue in queues.items():
            deployment = f"{p.release}-{name}"
            agents[queue] = stack.enter_context(
                AgentDaemon(
                    kube.kubeconfig, p.namespace, p.release, clearml, tmp_path / name, deployment_name=deployment
                )
            )
        for queue, agent in agents.items():
            agent.wait_for(lambda q=queue: q in sum(clearml.workers().values(), []), f"the agent of {queue}")
        assert {tuple(qs) for qs in clearml.workers().values()} == {(q,) for q in queues.values()}

        made = create_and_enqueue(clearml, [(f"task-{queue}", queue) for queue in queues.values()])
        tasks = dict(zip(queues.values(), made, strict=True))
        for queue, task in tasks.items():
            wait_pod(agents[queue], p, task)
        for queue, task in tasks.items():
            for other, agent in agents.items():
                assert (task in agent.log()) == (other == queue), f"task of {queue} in the log of {other}'s agent"

        placed = {queue: kai.placement(p.namespace, task_pod_name(task), timeout=120) for queue, task in tasks.items()}
        train, build, nb = (placed[f"{p.project}-{s}"] for s in ("train", "build", "nb"))
        for pl in placed.values():
            assert pl.queue == p.project and pl.pod["metadata"]["labels"]["project"] == p.project
        assert str(train.pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]) == "1"
        assert train.pod_group["spec"]["priorityClassName"] == "train" and train.node in gpu_nodes(kube)
        assert "nvidia.com/gpu" not in str(build.pod["spec"]["containers"][0].get("resources") or {})
        assert build.pod_group["spec"]["priorityClassName"] == "build"
        assert build.node not in gpu_nodes(kube), "the CPU task was placed on a GPU node"
        assert nb.pod["metadata"]["annotations"]["gpu-fraction"] == "0.5"
        assert nb.bind_request["spec"]["receivedResourceType"] == "Fraction"

        code_lines = kube.gen("verify", "--project", p.project, "--clearml-api-host", clearml.url, check=False)
        assert code_lines.returncode == 0, code_lines.stdout
        for name in entries:
            assert f"agent {p.release}-{name} ({queues[name]})" in code_lines.stdout

        # a finished pod stays for inspection, then the agent deletes it
        build_task = tasks[f"{p.project}-build"]
        kai.wait_phase(p.namespace, task_pod_name(build_task), "Running")
        kai.finish(p.namespace, task_pod_name(build_task), "Succeeded")
        finished = time.monotonic()
        time.sleep(20)  # several of the agent's cleanup cycles (1 s polls here)
        assert p.pod(build_task) is not None, "the finished pod was deleted before its time"
        agents[f"{p.project}-build"].wait_for(
            lambda: p.pod(build_task) is None, "the deletion of the finished pod", timeout=KEEP_MINUTES * 60 + 90
        )
        assert time.monotonic() - finished >= KEEP_MINUTES * 60 - 5
