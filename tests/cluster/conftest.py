"""Cluster tests: a real kube-apiserver (make cluster-up), real helm v4/v3 and kubectl.

The control plane runs kube-scheduler and KAI (the open-source Run:ai scheduler) as runai-scheduler,
with fake GPU nodes whose pods kwok runs (tests/cluster/kai.py says what runs and how a test drives
it). A task pod whose project has no queue stays Pending; the fixtures `kai` and `kai_cluster` make
queues, nodes and node pools.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CHART, ROOT, tool
from tests.fixtures.installs import json_to_yaml

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
        token = self.kubectl("create", "token", sa, "-n", namespace, "--duration", "10m").stdout.strip()
        cfg = json.loads(self.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
        cluster = cfg["clusters"][0]["cluster"]
        path = directory / f"{namespace}-{sa}.kubeconfig"
        path.write_text(
            json_to_yaml(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "sa",
                    "clusters": [{"name": "c", "cluster": cluster}],
                    "contexts": [{"name": "sa", "context": {"cluster": "c", "user": "sa", "namespace": namespace}}],
                    "users": [{"name": "sa", "user": {"token": token}}],
                }
            )
        )
        return str(path)


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


def local_chart(directory: Path, name: str, version: str, objects: list[dict[str, Any]]) -> Path:
    """A throwaway chart whose only template is `objects`: helm then installs them as a real release."""
    chart = directory / name
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    (chart / "Chart.yaml").write_text(json_to_yaml({"apiVersion": "v2", "name": name, "version": version}))
    docs = []
    for obj in objects:
        text = json_to_yaml(obj)
        # helm would read {{ }} inside template.yaml or scripts as template actions
        docs.append(text.replace("{{", '{{ "{{" }}'))
    (chart / "templates" / "objects.yaml").write_text("---\n".join(docs))
    return chart


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="clearml-runai-") as d:
        yield Path(d)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def decode(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


__all__ = ["CHART", "Kai", "Kube", "decode", "local_chart", "unique"]
