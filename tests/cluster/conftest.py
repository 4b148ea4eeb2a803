"""Cluster tests: a real kube-apiserver (make cluster-up), real helm v4/v3 and kubectl.

The control plane runs kube-scheduler and KAI (the open-source Run:ai scheduler) as runai-scheduler,
with fake GPU nodes whose pods kwok runs (tests/cluster/kai.py says what runs and how a test drives
it). A task pod whose project has no queue stays Pending; the fixtures `kai` and `kai_cluster` make
queues, nodes and node pools.

For scenarios with the real agent:
``install_clearml(kube, workdir, case_id, ...)`` installs a ClearML install with a real upstream chart
(a case of tests/corpus, with the given key pair and queue) and returns its namespace and release;
``install_project(kube, workdir, ...)`` adds a Run:ai project namespace and our release, rendered live
from it, and returns a ``Project``; ``remove_project(project)`` takes both away again.
``clearml_for(access_key, secret_key, *queues)`` is a ClearML stand-in that knows that key pair and
has those queues; ``run_agent(kube, namespace, release, clearml, workdir)`` the release's agent,
started as its container and registered with that stand-in (a context manager: it stops on exit).
``get_pod(kube, namespace, name)`` is the pod, or None.
``set_pod_phase(kube, namespace, name, phase)`` moves a pod as a kubelet would report it.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.agent_harness import AgentDaemon, ClearMLStandIn, kubectl_as, sa_kubeconfig
from tests.conftest import CHART, ROOT, ProjectNames, tool
from tests.corpus.cases import credentials, find
from tests.corpus.install import install

from .kai import Kai, kai_on

pytestmark = pytest.mark.cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


class Kube:
    """kubectl, helm (v4 and v3) and the CLI against one kubeconfig."""

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.env = {
            **os.environ,
            "KUBECONFIG": kubeconfig,
            "HELM_CACHE_HOME": str(ROOT / ".cache" / "helm"),
            "HELM_CONFIG_HOME": str(ROOT / ".cache" / "helm"),
            "HELM_DATA_HOME": str(ROOT / ".cache" / "helm"),
        }

    def run(self, argv: list[str], stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(argv, input=stdin, env=self.env, capture_output=True, text=True, timeout=180)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv[:6])} failed ({proc.returncode}): {proc.stderr}{proc.stdout}")
        return proc

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run([tool("kubectl"), *args], stdin, check)

    def helm(self, version: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run([tool("helm" if version == "v4" else "helm3"), *args], check=check)

    def gen(self, *args: str, check: bool = True, kubeconfig: str | None = None) -> subprocess.CompletedProcess[str]:
        """The installed CLI, as a user runs it, against this cluster (or another kubeconfig)."""
        cli = str(ROOT / ".venv" / "bin" / "clearml-runai-gen")
        return self.run([cli, *args, "--kubeconfig", kubeconfig or self.kubeconfig], check=check)

    def get(self, kind: str, namespace: str, name: str | None = None, selector: str | None = None) -> Any:
        args = ["get", kind, "-n", namespace, "-o", "json"]
        if name:
            args.insert(2, name)
        if selector:
            args += ["-l", selector]
        return json.loads(self.kubectl(*args).stdout)

    def apply(self, objects: list[dict[str, Any]], namespace: str | None = None) -> None:
        args = ["apply", "-f", "-"] + (["-n", namespace] if namespace else [])
        self.kubectl(*args, stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}))

    def create_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}])

    def service_account_kubeconfig(self, namespace: str, sa: str, directory: Path) -> str:
        """A kubeconfig that authenticates with a real token of ServiceAccount namespace/sa."""
        path = directory / f"{namespace}-{sa}.kubeconfig"
        return str(sa_kubeconfig(kubectl_as(self.kubeconfig), namespace, sa, path, duration="10m"))


@pytest.fixture(scope="module")
def kube(kube_cluster: Any) -> Kube:
    """The pytest-helm-charts cluster, wrapped with our pinned binaries."""
    k = Kube(kube_cluster.kube_config_path)
    version = json.loads(k.kubectl("version", "-o", "json").stdout)
    assert "serverVersion" in version, "the local kube-apiserver did not answer"
    return k


@pytest.fixture(scope="module")
def kai(kube: Kube) -> Iterator[Kai]:
    """KAI on the `kube` control plane: what the tests of a module create through it goes afterwards."""
    with kai_on(kube) as k:
        yield k


KAI_CLUSTER_RUN_DIR = ROOT / ".cache" / "testenv" / "run-kai"


@pytest.fixture(scope="session")
def kai_cluster() -> Iterator[Kai]:
    """A second control plane whose KAI runs under its open-source names (kai-scheduler,
    kai.scheduler/queue, kai.scheduler/node-pool): one KAI per control plane. Started for the first
    test that needs it, stopped after the session unless it was running already."""
    env = {**os.environ, "TESTENV_RUN_DIR": str(KAI_CLUSTER_RUN_DIR), "CLUSTER_SCHEDULER": "kai"}
    script = str(ROOT / "ci" / "cluster.sh")
    running = subprocess.run([script, "status"], env=env, capture_output=True, text=True).returncode == 0
    up = subprocess.run([script, "up"], env=env, capture_output=True, text=True, timeout=1800)
    if up.returncode != 0:
        raise AssertionError(f"ci/cluster.sh up (CLUSTER_SCHEDULER=kai) failed:\n{up.stderr}")
    kubeconfig = up.stdout.strip().splitlines()[-1].removeprefix("export KUBECONFIG=")
    try:
        with kai_on(Kube(kubeconfig)) as k:
            yield k
    finally:
        if not running:
            subprocess.run([script, "down"], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="clearml-runai-") as d:
        yield Path(d)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def decode(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


def install_clearml(
    kube: Kube,
    workdir: Path,
    case_id: str = "b-5.3.2-gpu-template",
    *,
    access_key: str,
    secret_key: str,
    queue: str = "gpu",
) -> tuple[str, str]:
    """A ClearML install made by a real upstream chart: the corpus case `case_id` (tests/corpus), as a helm
    release in a namespace of its own, with this key pair and queue; returns (namespace, release)."""
    case = find(case_id)
    clearml_ns = unique("ml")
    install(kube, case, clearml_ns, workdir, credentials(case, access_key, secret_key, queue))
    return clearml_ns, case.release


@dataclass
class Project(ProjectNames):
    """A Run:ai project with our release installed, its values rendered live from a ClearML install."""

    kube: Kube
    clearml_ns: str
    source_release: str
    project: str
    access_key: str  # the agent's key pair, as the ClearML install holds it
    secret_key: str
    values_path: Path
    helm: str = "v4"

    @property
    def queue(self) -> str:
        return f"runai-{self.project}"

    def upgrade(self, *helm_args: str) -> None:
        """helm upgrade with the rendered values and `helm_args` (e.g. --set agent.maxPods=1)."""
        self.kube.helm(
            self.helm,
            "upgrade",
            self.release,
            str(CHART),
            "-n",
            self.namespace,
            "-f",
            str(self.values_path),
            *helm_args,
        )

    def pod(self, name: str) -> dict[str, Any] | None:
        return get_pod(self.kube, self.namespace, name)

    def task_pods(self) -> list[dict[str, Any]]:
        """Every pod of the namespace that the agent made (label CLEARML=agent-...)."""
        pods = self.kube.get("pod", self.namespace)["items"]
        return [p for p in pods if str((p["metadata"].get("labels") or {}).get("CLEARML", "")).startswith("agent-")]


def install_project(kube: Kube, workdir: Path, *, case_id: str = "b-5.3.2-gpu-template", helm: str = "v4") -> Project:
    project = unique("p")
    access, secret = f"AK{project.upper().replace('-', '')}", f"SK-{project}-secret"
    clearml_ns, source_release = install_clearml(kube, workdir, case_id, access_key=access, secret_key=secret)
    made = Project(kube, clearml_ns, source_release, project, access, secret, workdir / "values.yaml", helm)
    kube.create_namespace(made.namespace, {"runai/queue": project})
    kube.gen("render", "--project", project, "--clearml-namespace", clearml_ns, "-o", str(made.values_path))
    kube.helm(helm, "install", made.release, str(CHART), "-n", made.namespace, "-f", str(made.values_path))
    return made


def remove_project(p: Project) -> None:
    p.kube.helm(p.helm, "uninstall", p.release, "-n", p.namespace, check=False)
    p.kube.helm("v4", "uninstall", p.source_release, "-n", p.clearml_ns, check=False)
    p.kube.kubectl("delete", "namespace", p.namespace, p.clearml_ns, "--wait=false", check=False)


def get_pod(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    proc = kube.kubectl("get", "pod", name, "-n", namespace, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def clearml_for(access_key: str, secret_key: str, *queues: str, enterprise: bool = False) -> ClearMLStandIn:
    """A ClearML stand-in that knows one key pair and has `queues` (an enterprise server with `enterprise`)."""
    stand_in = ClearMLStandIn(access_key, secret_key, enterprise=enterprise)
    for queue in queues:
        stand_in.add_queue(queue)
    return stand_in


@contextmanager
def run_agent(
    kube: Kube, namespace: str, release: str, clearml: ClearMLStandIn, workdir: Path, *, registered: bool = True
) -> Iterator[AgentDaemon]:
    """The release's agent, running as its container runs; with `registered`, once its worker is."""
    with AgentDaemon(kube.kubeconfig, namespace, release, clearml, workdir) as agent:
        if registered:
            agent.wait_for(lambda: clearml.workers(), "the agent's worker registration")
        yield agent


def set_pod_phase(kube: Kube, namespace: str, name: str, phase: str) -> None:
    """Report a pod's phase through the status subresource, as a kubelet does."""
    patch = json.dumps({"status": {"phase": phase}})
    kube.kubectl("patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", patch)


__all__ = [
    "CHART",
    "Kai",
    "Kube",
    "Project",
    "clearml_for",
    "decode",
    "get_pod",
    "install_clearml",
    "install_project",
    "remove_project",
    "run_agent",
    "set_pod_phase",
    "unique",
]
