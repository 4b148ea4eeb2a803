"""Cluster tests: a real kube-apiserver (make cluster-up), real helm v4/v3 and kubectl.

The control plane runs kube-scheduler and KAI (the open-source Run:ai scheduler) as runai-scheduler,
with fake GPU nodes whose pods kwok runs (sandbox/kai.py says what runs and how a test drives
it). A task pod whose project has no queue stays Pending; the fixtures `kai` and `kai_cluster` make
queues, nodes and node pools.

For scenarios with the real agent, the helpers of sandbox/cluster.py (re-exported here): ClearML
installs made by the real upstream charts, Run:ai projects with our release, the ClearML stand-in
and the release's agent.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.cluster import (
    Kube,
    Project,
    clearml_for,
    control_plane,
    get_pod,
    install_clearml,
    install_project,
    remove_project,
    run_agent,
    set_pod_phase,
    upgrade_clearml,
)
from sandbox.kai import Kai, kai_on
from sandbox.names import unique
from sandbox.paths import CHART, ROOT

pytestmark = pytest.mark.cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


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
    with control_plane(KAI_CLUSTER_RUN_DIR, "kai") as kubeconfig, kai_on(Kube(kubeconfig)) as k:
        yield k


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="clearml-runai-") as d:
        yield Path(d)


def decode(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


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
    "upgrade_clearml",
]
