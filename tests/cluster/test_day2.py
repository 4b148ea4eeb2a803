"""Day-2 commands on a live API server: many projects, discover, verify, and a forbidden cluster."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from ruamel.yaml import YAML

from sandbox.corpus.cases import SECRETS, find
from sandbox.corpus.install import install
from sandbox.names import names
from tests.conftest import gen

from .conftest import CHART, Kube, unique

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def clearml(kube: Kube, tmp_path_factory: pytest.TempPathFactory):
    ns, case = unique("ml"), find("b-5.3.2-internal-multiqueue")
    install(kube, case, ns, tmp_path_factory.mktemp("src"), {"agentk8sglue": {"queue": "gpu"}})
    yield ns, case.release
    kube.helm("v4", "uninstall", case.release, "-n", ns, check=False)
    kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_all_projects_render_one_file_each_from_one_read(kube: Kube, clearml: tuple[str, str], tmp_path: Path) -> None:
    ns, _ = clearml
    tag = unique("bulk")
    projects = [f"{tag}-{i}" for i in range(12)]
    kube.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": names(p).namespace, "labels": {"runai/queue": p}},
            }
            for p in projects
        ]
    )
    try:
        out = tmp_path / "values"
        proc = kube.gen("render", "--all-projects", "--clearml-namespace", ns, "--output-dir", str(out))
        assert proc.stdout == ""
        files = {p.name for p in out.iterdir()}
        assert {f"{p}.values.yaml" for p in projects} <= files
        worker_ids = set()
        for p in projects:
            values = YAML(typ="safe").load((out / f"{p}.values.yaml").read_text())
            assert values["runai"]["project"] == p and values["runai"]["namespace"] == names(p).namespace
            assert values["agent"]["queues"] == [names(p).queue]
            worker_ids.add(values["agent"]["workerId"])
            assert (out / f"{p}.values.yaml").stat().st_mode & 0o077 == 0
        assert len(worker_ids) == len(projects)
    finally:
        kube.kubectl("delete", "namespace", *[names(p).namespace for p in projects], "--wait=false", check=False)


def _reads(kube: Kube, monkeypatch: pytest.MonkeyPatch, args: list[str]) -> Counter[str]:
    """The resources a live render (in process, through the real client) asks the API server for, counted."""
    from kubernetes.client import ApiClient

    calls: list[tuple[str, str]] = []
    real = ApiClient.call_api

    def counted(self: Any, method: str, url: str, *rest: Any, **kw: Any) -> Any:
        calls.append((method, urlsplit(url).path))
        return real(self, method, url, *rest, **kw)

    monkeypatch.setattr(ApiClient, "call_api", counted)
    code, _, err = gen(["render", *args, "--kubeconfig", kube.kubeconfig])
    monkeypatch.setattr(ApiClient, "call_api", real)
    assert code == 0, err
    assert {m for m, _ in calls} == {"GET"}, calls
    return Counter(path.rsplit("/", 1)[-1] for _, path in calls)


def test_a_live_render_lists_each_kind_once(
    kube: Kube, clearml: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One list call per kind the install is read from, and one of namespaces (with --all-projects the
    labelled ones, which also place each project): never a read per object or per project."""
    ns, _ = clearml
    tag = unique("reads")
    projects = [f"{tag}-{i}" for i in range(5)]
    kube.apply(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"team-{p}", "labels": {"runai/queue": p}}}
            for p in projects
        ]
    )
    pages = -(-len(json.loads(kube.kubectl("get", "namespaces", "-o", "json").stdout)["items"]) // 500)
    kinds = {"deployments": 1, "configmaps": 1, "secrets": 1, "services": 1, "serviceaccounts": 1}
    source = ["--clearml-namespace", ns]
    try:
        every = _reads(kube, monkeypatch, ["--all-projects", *source, "--output-dir", str(tmp_path)])
        assert every == {**kinds, "namespaces": 1}, every
        one = _reads(kube, monkeypatch, ["--project", projects[0], *source, "-o", str(tmp_path / "v")])
        assert one == {**kinds, "namespaces": pages}, one
        assert YAML(typ="safe").load((tmp_path / "v").read_text())["runai"]["namespace"] == f"team-{projects[0]}"
    finally:
        kube.kubectl("delete", "namespace", *[f"team-{p}" for p in projects], "--wait=false", check=False)


def test_discover_live_redacts_credentials(kube: Kube, clearml: tuple[str, str]) -> None:
    ns, release = clearml
    proc = kube.gen("discover", "--clearml-namespace", ns, "-o", "json")
    report = json.loads(proc.stdout)
    agent = report["agents"][0]
    assert agent["deployment"] == f"{release}-clearml-agent"
    assert agent["flavour"] == "B" and agent["queues"] == ["gpu"]
    table = kube.gen("discover", "--clearml-namespace", ns).stdout
    assert "flavour B" in table
    for secret in SECRETS.values():
        assert secret not in proc.stdout + table


def test_verify_reports_each_check_and_why_the_agent_is_not_available(
    kube: Kube, clearml: tuple[str, str], tmp_path: Path
) -> None:
    ns, _ = clearml
    project = unique("v")
    namespace = names(project).namespace
    kube.create_namespace(namespace, {"runai/queue": project})
    values = tmp_path / "values.yaml"
    kube.gen("render", "--project", project, "--clearml-namespace", ns, "-o", str(values))
    # a node selector no node matches: kube-scheduler cannot place the agent pod and says why
    unplaceable = tmp_path / "unplaceable.yaml"
    unplaceable.write_text(json.dumps({"agent": {"nodeSelector": {"clearml-runai-test/unplaceable": "true"}}}))
    kube.helm(
        "v4",
        "install",
        names(project).release,
        str(CHART),
        "-n",
        namespace,
        "-f",
        str(values),
        "-f",
        str(unplaceable),
    )
    try:
        proc = kube.gen("verify", "--project", project, check=False)
        lines = {line.split()[1]: line for line in proc.stdout.splitlines()}
        assert lines["release"].startswith("ok"), proc.stdout
        assert lines["task-pod"].startswith("ok") and "runai-scheduler" in lines["task-pod"]
        assert lines["agent"].startswith("ok") or lines["agent"].startswith("FAIL")
        permissions = [ln for ln in proc.stdout.splitlines() if "agent permissions" in ln][0]
        assert permissions.startswith("ok"), proc.stdout
        # the agent pod stays Pending, and verify says why with kube-scheduler's reason, and fails
        available = wait_for_line(kube, project, "agent available", "node affinity/selector")
        assert available.startswith("FAIL") and "FailedScheduling" in available, available
        assert "didn't match Pod's node affinity/selector" in available, available
        assert proc.returncode == 1
        queue = [ln for ln in proc.stdout.splitlines() if "queue exists" in ln][0]
        assert queue.startswith("skip"), "the ClearML API is not reachable from here"
    finally:
        kube.helm("v4", "uninstall", names(project).release, "-n", namespace, check=False)
        kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def wait_for_line(kube: Kube, project: str, check: str, text: str, timeout: float = 60) -> str:
    """The `verify` line of `check`, once it holds `text` (the scheduler reports after a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        proc = kube.gen("verify", "--project", project, check=False)
        line = next(ln for ln in proc.stdout.splitlines() if check in ln)
        if text in line or time.monotonic() > deadline:
            return line
        time.sleep(1)


def test_forbidden_cluster_is_one_clear_line(kube: Kube, clearml: tuple[str, str], tmp_path: Path) -> None:
    ns, _ = clearml
    outsider_ns = unique("outsider")
    kube.create_namespace(outsider_ns)
    kube.kubectl("create", "serviceaccount", "reader", "-n", outsider_ns)
    try:
        cfg = kube.service_account_kubeconfig(outsider_ns, "reader", tmp_path)
        out = tmp_path / "values.yaml"
        out.write_text("previous\n")
        proc = kube.gen(
            "render", "--project", "p", "--clearml-namespace", ns, "-o", str(out), check=False, kubeconfig=cfg
        )
        assert proc.returncode == 1
        assert proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "forbidden" in lines[0] and ns in lines[0], proc.stderr
        assert out.read_text() == "previous\n"
    finally:
        kube.kubectl("delete", "namespace", outsider_ns, "--wait=false", check=False)
