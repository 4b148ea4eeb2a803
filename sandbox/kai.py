"""Run:ai-lineage scheduling on the local control plane: KAI, fake GPU nodes, pod phases a test drives.

What `ci/cluster.sh up` runs beside etcd, kube-apiserver and kube-controller-manager:

- kube-scheduler: places the pods of `default-scheduler`, such as the agent Deployment's pod.
- KAI v0.16.8 (the LTS release; `KAI_VERSION=v0.17.0` selects the newest), the open-source core of
  the Run:ai scheduler (scheduler, binder, pod-grouper and admission webhook, built by ci/kai from
  the release archives in ci/kai/upstream), as `runai-scheduler` with queue label `runai/queue` and
  node-pool label `runai/node-pool`. With `CLUSTER_SCHEDULER=kai` the same KAI runs under its
  open-source names (`kai-scheduler`, `kai.scheduler/queue`, `kai.scheduler/node-pool`): one KAI
  per control plane, so that scenario has a control plane of its own (fixture `kai_cluster`).
  Each SchedulingShard runs one KAI scheduler: shard `default` serves the nodes and queues without
  a node-pool label, a shard with `partitionLabelValue: P` those labelled with pool P, as
  Run:ai node pools are served.
- kwok, in the kubelet's place on nodes annotated `kwok.x-k8s.io/node: fake`: it keeps them Ready
  (Lease renewal), runs every pod bound to them (Running, Ready, a pod IP), finishes a running pod
  when the pod is annotated `testenv.clearml-runai/phase: Succeeded|Failed`, removes deleted pods,
  and plays the GPU reservation pod's part in GPU fractions (ci/kai/kwok-stages.yaml).
- Defaults (ci/kai/defaults.yaml): department queue `default` (8 GPUs), nodes `gpu-node-0` and
  `gpu-node-1` (4 GPUs each) and `cpu-node-0` in the default node pool, Run:ai's priority classes
  (`train`, `build`, `inference`, `interactive-preemptible`, `build-preemptible`), namespace and
  ServiceAccount `kai-resource-reservation`, RuntimeClass `nvidia`. The names KAI runs with are in
  its Config object `kai-config` (`spec.global`).

Fixtures (tests/cluster/conftest.py): `kai` is a `Kai` on the control plane of the `kube` fixture
(module scope); `kai_cluster` is a `Kai` on a second control plane that runs KAI under its
open-source names (session scope). What a `Kai` creates is deleted when its fixture ends; for
a narrower scope, `with kai_on(kube) as k: ...`.

`Kai` methods, for scenarios of their own (other projects, quotas and pools than the defaults):

- `project(P, gpu_quota=2, department="default", pool=None, queue=None)`: namespace `runai-P`
  (label `runai/queue: P`) and the project queue (`queue`, else `P`) under the department;
  returns the namespace.
- `queue(name, gpu_quota=2, department="default", pool=None)`: a project queue alone.
- `department(name, gpu_quota, pool=None)`: a department queue (parent of project queues).
- `gpu_nodes(count, gpus=4, pool=None)`: fake GPU nodes, Ready when it returns; with a pool they
  carry the pool label (both `runai/node-pool` and `kai.scheduler/node-pool`).
- `node_pool(pool, nodes=2, gpus=4, department=...)`: nodes of pool, the pool's department queue
  and its SchedulingShard, whose scheduler runs when it returns; returns the department name.
- `task_pod(namespace, project, gpus=1, ...)`: a task pod as the chart's template shapes it
  (`helm template` of charts/clearml-runai-agent with the matching `runai.*` values), completed
  with a name, image and command as the agent would; `create(pod)` creates it.
- `placement(namespace, pod)`: waits until KAI bound the pod and returns the proof: node,
  `PodBound=True`, the PodGroup and its queue, the BindRequest in phase Succeeded.
- `finish(namespace, pod, "Succeeded"|"Failed")` and `wait_phase(namespace, pod, phase)`.
- `pending_reason(namespace, pod)`: waits for `PodScheduled=False` and returns (reason, message).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ruamel.yaml import YAML

from .names import names
from .paths import CHART, tool

if TYPE_CHECKING:  # a type only
    from .cluster import Kube

PHASE_ANNOTATION = "testenv.clearml-runai/phase"
FAKE_NODE = {"kwok.x-k8s.io/node": "fake"}
POOL_LABELS = ("runai/node-pool", "kai.scheduler/node-pool")
DEFAULT_DEPARTMENT = "default"
_yaml = YAML(typ="safe", pure=True)


@dataclass(frozen=True)
class Names:
    """What KAI reads from pods on this control plane (KAI's Config kai-config, spec.global)."""

    scheduler: str
    queue_label: str
    pool_label: str


@dataclass(frozen=True)
class Placement:
    """Proof that KAI placed a pod (events alone mislead)."""

    node: str
    pod_group: dict[str, Any]
    bind_request: dict[str, Any]
    pod: dict[str, Any]

    @property
    def queue(self) -> str:
        return str(self.pod_group["spec"]["queue"])


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


def wait_for(
    what: str,
    probe: Callable[[], Any],
    timeout: float = 60.0,
    interval: float = 0.5,
    explain: Callable[[], str] | None = None,
) -> Any:
    """probe() until it returns something truthy; fail naming `what` and, from explain(), why."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            why = f": {explain()}" if explain else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{why}")
        time.sleep(interval)


def _json_stream(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON objects `kubectl get --watch -o json` prints one after another, as they come."""
    decoder, buffer = json.JSONDecoder(), ""
    for line in lines:
        buffer += line
        while buffer.strip():
            try:
                obj, end = decoder.raw_decode(buffer.lstrip())
            except ValueError:
                break
            buffer = buffer.lstrip()[end:]
            yield obj


def resources(gpu: float, cpu: float = -1, memory: float = -1, gpu_limit: float = -1) -> dict[str, Any]:
    """A Queue's spec.resources: quota, limit and over-quota weight per resource (-1: unlimited)."""
    return {
        "gpu": {"quota": gpu, "limit": gpu_limit, "overQuotaWeight": 1},
        "cpu": {"quota": cpu, "limit": -1, "overQuotaWeight": 1},
        "memory": {"quota": memory, "limit": -1, "overQuotaWeight": 1},
    }


def _node_ip() -> str:
    """An address for a fake node (10.2.0.0/16: the defaults use 10.1.0.0/24, kwok's pods 10.0.0.0/24)."""
    n = uuid.uuid4().int
    return f"10.2.{n % 256}.{(n >> 8) % 254 + 1}"


class Kai:
    """Queues, nodes, node pools and task pods on one control plane; delete() removes what it made."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        spec = json.loads(kube.kubectl("get", "configs.kai.scheduler", "kai-config", "-o", "json").stdout)["spec"]
        g = spec["global"]
        self.names = Names(g["schedulerName"], g["queueLabelKey"], g["nodePoolLabelKey"])
        self._created: list[tuple[str, str, str | None]] = []

    # -- objects ---------------------------------------------------------------------------------

    def _create(self, obj: dict[str, Any]) -> None:
        """Create obj with its status (a Node's capacity): `kubectl create` keeps it, apply would not."""
        kind, meta = obj["kind"], obj["metadata"]
        self.kube.kubectl("create", "-f", "-", stdin=json.dumps(obj))
        self._created.append((kind, meta["name"], meta.get("namespace")))

    def delete(self) -> None:
        """Namespaces first, waiting for their pods to go while kwok still runs their nodes (a pod on
        a node that is gone stays Terminating until the pod garbage collector finds it)."""
        namespaces = [name for kind, name, _ in self._created if kind == "Namespace"]
        if namespaces:
            self.kube.kubectl("delete", "namespace", *namespaces, "--ignore-not-found", "--timeout=90s", check=False)
        for kind, name, namespace in reversed(self._created):
            if kind != "Namespace":
                args = ["delete", kind, name, "--ignore-not-found", "--wait=false"]
                self.kube.kubectl(*args, *(["-n", namespace] if namespace else []), check=False)
        self._created.clear()

    def _queue(self, name: str, gpu_quota: float, parent: str | None, pool: str | None, gpu_limit: float) -> str:
        spec: dict[str, Any] = {"resources": resources(gpu_quota, gpu_limit=gpu_limit)}
        if parent:
            spec["parentQueue"] = parent
        labels = {self.names.pool_label: pool} if pool else {}
        self._create(
            {
                "apiVersion": "scheduling.run.ai/v2",
                "kind": "Queue",
                "metadata": {"name": name, "labels": labels},
                "spec": spec,
            }
        )
        return name

    def department(self, name: str, gpu_quota: float, pool: str | None = None) -> str:
        """A department queue. Each scheduler shard sees only the queues of its pool (label), so a
        node pool needs a department of its own."""
        return self._queue(name, gpu_quota, None, pool, -1)

    def project(
        self,
        project: str,
        gpu_quota: float = 2,
        department: str = DEFAULT_DEPARTMENT,
        pool: str | None = None,
        gpu_limit: float = -1,
        queue: str | None = None,
    ) -> str:
        """Namespace runai-<project> and the project's queue (`queue`, else named after the project)
        under a department. Returns the namespace."""
        namespace = names(project).namespace
        self._create(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": namespace, "labels": {"runai/queue": project}},
            }
        )
        self.queue(queue or project, gpu_quota, department, pool, gpu_limit)
        return namespace

    def queue(
        self,
        name: str,
        gpu_quota: float = 2,
        department: str = DEFAULT_DEPARTMENT,
        pool: str | None = None,
        gpu_limit: float = -1,
    ) -> str:
        """A project queue alone (for a namespace made otherwise, e.g. by `helm install --create-namespace`)."""
        return self._queue(name, gpu_quota, department, pool, gpu_limit)

    def gpu_nodes(
        self,
        count: int,
        gpus: int = 4,
        pool: str | None = None,
        cpu: str = "32",
        memory: str = "256Gi",
        prefix: str | None = None,
    ) -> list[str]:
        """Fake GPU nodes (kwok), Ready when this returns."""
        prefix = prefix or f"gpu-{pool or 'default'}-{uuid.uuid4().hex[:4]}"
        names = [f"{prefix}-{i}" for i in range(count)]
        capacity = {"cpu": cpu, "memory": memory, "pods": "110"}
        if gpus:
            capacity["nvidia.com/gpu"] = str(gpus)
        for name in names:
            labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
            if gpus:
                labels |= {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.count": str(gpus)}
            if pool:
                labels |= dict.fromkeys(POOL_LABELS, pool)
            self._create(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": name, "labels": labels, "annotations": dict(FAKE_NODE)},
                    "status": {
                        "capacity": capacity,
                        "allocatable": capacity,
                        "addresses": [
                            {"type": "InternalIP", "address": _node_ip()},
                            {"type": "Hostname", "address": name},
                        ],
                    },
                }
            )
        for name in names:
            wait_for(f"node {name} Ready", lambda n=name: self._node_ready(n))
        return names

    def _node_ready(self, name: str) -> bool:
        node = json.loads(self.kube.kubectl("get", "node", name, "-o", "json").stdout)
        ready = condition(node, "Ready")
        return bool(ready and ready["status"] == "True")

    def node_pool(self, pool: str, nodes: int = 2, gpus: int = 4, department: str | None = None) -> str:
        """A node pool: its nodes, a department queue of its own and the SchedulingShard whose KAI
        scheduler serves it (running when this returns). Returns the department's name."""
        department = department or f"{pool}-department"
        self.gpu_nodes(nodes, gpus=gpus, pool=pool)
        self.department(department, gpu_quota=nodes * gpus, pool=pool)
        self._create(
            {
                "apiVersion": "kai.scheduler/v1",
                "kind": "SchedulingShard",
                "metadata": {"name": pool},
                "spec": {"partitionLabelValue": pool},
            }
        )

        def available() -> bool:
            shard = json.loads(self.kube.kubectl("get", "schedulingshards.kai.scheduler", pool, "-o", "json").stdout)
            c = condition(shard, "Available")
            return bool(c and c["status"] == "True")

        wait_for(f"the scheduler of node pool {pool}", available, timeout=120)
        return department

    # -- task pods -------------------------------------------------------------------------------

    def task_template(
        self,
        project: str,
        gpus: float = 1,
        queue: str | None = None,
        gpu_fraction: str | None = None,
        priority: str | None = None,
        pool: str | None = None,
    ) -> dict[str, Any]:
        """The task pod template the chart renders (template.yaml) for these runai.* values."""
        runai: dict[str, Any] = {"project": project, "scheduler": self.names.scheduler}
        for key, value in (("queue", queue), ("gpuFraction", gpu_fraction), ("priorityClass", priority)):
            if value:
                runai[key] = value
        if pool:
            runai["nodePool"] = pool
        values = {
            "runai": runai,
            "clearml": {
                "apiHost": "http://clearml-apiserver.clearml.svc.cluster.local:8008",
                "accessKey": "ACCESSKEY",
                "secretKey": "SECRETKEY",
            },
            "agent": {"queues": [names(project).queue]},
            "taskPod": {"resources": {"limits": {"nvidia.com/gpu": gpus}} if gpus and not gpu_fraction else {}},
        }
        # JSON is YAML: helm reads the values from stdin
        proc = self.kube.run(
            [tool("helm"), "template", "t", str(CHART), "-n", names(project).namespace, "--values", "-"],
            stdin=json.dumps(values),
        )
        for doc in list(_yaml.load_all(proc.stdout)):  # one YAML instance parses one stream at a time
            if doc and doc.get("kind") == "ConfigMap" and "template.yaml" in (doc.get("data") or {}):
                return dict(_yaml.load(doc["data"]["template.yaml"]))
        raise AssertionError("the chart rendered no task pod template")

    def task_pod(self, namespace: str, project: str, name: str | None = None, **template: Any) -> dict[str, Any]:
        """A task pod as the agent makes one from the chart's template: a name, an image, a command."""
        pod = self.task_template(project, **template)
        pod["metadata"]["name"] = name or f"clearml-id-{uuid.uuid4().hex[:12]}"
        pod["metadata"]["namespace"] = namespace
        container = pod["spec"]["containers"][0]
        container.update({"name": pod["metadata"]["name"], "image": "python:3.11-slim", "command": ["sleep", "60"]})
        return pod

    def create(self, pod: dict[str, Any]) -> str:
        self.kube.kubectl("create", "-f", "-", stdin=json.dumps(pod))
        return str(pod["metadata"]["name"])

    # -- observing and driving -------------------------------------------------------------------

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.kube.get("pod", namespace, name))

    def placement(self, namespace: str, name: str, timeout: float = 60) -> Placement:
        """Wait until KAI bound the pod: spec.nodeName, PodBound=True, its PodGroup, a Succeeded BindRequest."""

        def bound() -> Placement | None:
            pod = self.pod(namespace, name)
            c = condition(pod, "PodBound")
            if not pod["spec"].get("nodeName") or not c or c["status"] != "True":
                return None
            group = (pod["metadata"].get("annotations") or {}).get("pod-group-name")
            requests = self.kube.get("bindrequests.scheduling.run.ai", namespace)["items"]
            done = [
                r
                for r in requests
                if r["spec"].get("podName") == name and (r.get("status") or {}).get("phase") == "Succeeded"
            ]
            if not group or not done:
                return None
            return Placement(
                node=pod["spec"]["nodeName"],
                pod_group=self.kube.get("podgroups.scheduling.run.ai", namespace, group),
                bind_request=done[0],
                pod=pod,
            )

        return wait_for(  # type: ignore[no-any-return]
            f"KAI to bind pod {namespace}/{name}", bound, timeout, explain=lambda: self.why_pending(namespace, name)
        )

    def why_pending(self, namespace: str, name: str) -> str:
        """What the pod shows of its scheduling: scheduler, node, PodScheduled and PodGroup queue."""
        pod = self.pod(namespace, name)
        c = condition(pod, "PodScheduled") or {}
        group = (pod["metadata"].get("annotations") or {}).get("pod-group-name", "none")
        return (
            f"schedulerName {pod['spec'].get('schedulerName')}, node {pod['spec'].get('nodeName')}, "
            f"PodScheduled {c.get('status')} {c.get('message', '')!r}, pod group {group}"
        )

    def wait_phase(self, namespace: str, name: str, phase: str, timeout: float = 60) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            pod = self.pod(namespace, name)
            return pod if pod.get("status", {}).get("phase") == phase else None

        return wait_for(f"pod {namespace}/{name} {phase}", reached, timeout)  # type: ignore[no-any-return]

    def finish(self, namespace: str, name: str, phase: str = "Succeeded", timeout: float = 60) -> dict[str, Any]:
        """End a running pod's containers (exit 0 for Succeeded, 1 for Failed) and return the pod in that phase.

        The phase is read from a watch opened before the pod is told to end: the agent deletes a finished
        task pod as soon as it sees it, which may be before a later read would find it."""
        if phase not in ("Succeeded", "Failed"):
            raise ValueError(f"phase must be Succeeded or Failed, not {phase!r}")
        watch = subprocess.Popen(
            [tool("kubectl"), "get", "pod", name, "-n", namespace, "--watch", "-o", "json"]
            + [f"--request-timeout={int(timeout)}s"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "KUBECONFIG": self.kube.kubeconfig},
        )
        try:
            pods = _json_stream(watch.stdout)  # type: ignore[arg-type]
            first = next(pods, None)  # the watch is open: what follows is every change
            if first is None:
                raise AssertionError(f"pod {namespace}/{name} is not there to finish")
            self.kube.kubectl("annotate", "pod", name, "-n", namespace, f"{PHASE_ANNOTATION}={phase}", "--overwrite")
            for pod in itertools.chain([first], pods):
                if pod.get("status", {}).get("phase") == phase:
                    return pod
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for pod {namespace}/{name} {phase}")
        finally:
            watch.kill()
            watch.wait()

    def pending_reason(self, namespace: str, name: str, timeout: float = 60) -> tuple[str, str]:
        """Wait for PodScheduled=False and return its (reason, message)."""

        def unscheduled() -> tuple[str, str] | None:
            c = condition(self.pod(namespace, name), "PodScheduled")
            if c and c["status"] == "False" and c.get("message"):
                return str(c.get("reason", "")), str(c["message"])
            return None

        return wait_for(f"pod {namespace}/{name} to be reported unschedulable", unscheduled, timeout)  # type: ignore[no-any-return]


@contextmanager
def kai_on(kube: Kube) -> Iterator[Kai]:
    k = Kai(kube)
    try:
        yield k
    finally:
        k.delete()


__all__ = ["PHASE_ANNOTATION", "Kai", "Names", "Placement", "condition", "kai_on", "resources", "wait_for"]
