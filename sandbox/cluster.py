"""The local control plane as the tests, the demo and the benchmarks drive it.

``Kube`` is kubectl, helm (v4 and v3) and the CLI against one kubeconfig.
``install_clearml(kube, workdir, case_id, ...)`` installs a ClearML install with a real upstream chart
(a case of sandbox/corpus, with the given key pair and queue) and returns its namespace and release;
``upgrade_clearml(kube, workdir, namespace, release, case_id, ...)`` upgrades such an install with helm to
the chart and values of another case (another chart version), with a key pair and queue, and values over them;
``install_project(kube, workdir, ...)`` adds a Run:ai project namespace and our release, rendered live
from it, and returns a ``Project``; ``remove_project(project)`` takes both away again.
``clearml_for(access_key, secret_key, *queues)`` is a ClearML stand-in that knows that key pair and
has those queues; ``run_agent(kube, namespace, release, clearml, workdir)`` the release's agent,
started as its container and registered with that stand-in (a context manager: it stops on exit).
``get_pod(kube, namespace, name)`` is the pod, or None.
``set_pod_phase(kube, namespace, name, phase)`` moves a pod as a kubelet would report it.
``control_plane(run_dir, scheduler)`` a control plane of ci/cluster.sh (started when it is not running,
stopped afterwards if it started it); yields its kubeconfig.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .agent_harness import AgentDaemon, ClearMLStandIn, kubectl_as, sa_kubeconfig
from .corpus.cases import credentials, find, merge
from .corpus.install import install, upgrade
from .names import ProjectNames, unique
from .paths import CHART, ROOT, cli, tool


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
        return self.run([cli(), *args, "--kubeconfig", kubeconfig or self.kubeconfig], check=check)

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


def install_clearml(
    kube: Kube,
    workdir: Path,
    case_id: str = "b-5.3.2-gpu-template",
    *,
    access_key: str,
    secret_key: str,
    queue: str = "gpu",
) -> tuple[str, str]:
    """A ClearML install made by a real upstream chart: the corpus case `case_id` (sandbox/corpus), as a helm
    release in a namespace of its own, with this key pair and queue; returns (namespace, release)."""
    case = find(case_id)
    clearml_ns = unique("ml")
    install(kube, case, clearml_ns, workdir, credentials(case, access_key, secret_key, queue))
    return clearml_ns, case.release


def upgrade_clearml(
    kube: Kube,
    workdir: Path,
    namespace: str,
    release: str,
    case_id: str,
    *,
    access_key: str,
    secret_key: str,
    queue: str = "gpu",
    values: dict[str, Any] | None = None,
) -> None:
    """`helm upgrade` of an install of `install_clearml` to the chart (version) and values of the corpus case
    `case_id`, with this key pair and queue, then `values` over them."""
    case = find(case_id)
    overrides = merge(credentials(case, access_key, secret_key, queue), values or {})
    upgrade(kube, case, namespace, release, workdir, overrides)


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


@contextmanager
def control_plane(run_dir: Path, scheduler: str) -> Iterator[str]:
    """The control plane of ci/cluster.sh whose state lives in `run_dir`, with KAI as `scheduler`
    (runai or kai); yields its kubeconfig. Stopped on exit unless it was running already."""
    env = {**os.environ, "TESTENV_RUN_DIR": str(run_dir), "CLUSTER_SCHEDULER": scheduler}
    script = str(ROOT / "ci" / "cluster.sh")
    running = subprocess.run([script, "status"], env=env, capture_output=True, text=True).returncode == 0
    up = subprocess.run([script, "up"], env=env, capture_output=True, text=True, timeout=1800)
    if up.returncode != 0:
        raise AssertionError(f"ci/cluster.sh up (CLUSTER_SCHEDULER={scheduler}) failed:\n{up.stderr}")
    try:
        yield up.stdout.strip().splitlines()[-1].removeprefix("export KUBECONFIG=")
    finally:
        if not running:
            subprocess.run([script, "down"], env=env, capture_output=True, text=True, timeout=300)
