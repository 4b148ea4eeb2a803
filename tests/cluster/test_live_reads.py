"""Live reads on a real API server: paged, and helm's release history left on the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clearml_runai_gen import kube as kube_client
from clearml_runai_gen.kube import load_api_client
from clearml_runai_gen.source import LiveSource

from sandbox.corpus.cases import find
from sandbox.corpus.install import install, unpack

from .conftest import Kube, unique

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def upgraded(kube: Kube, tmp_path_factory: pytest.TempPathFactory):
    """A clearml-agent install that helm upgraded a few times: one release Secret per revision."""
    ns, case, workdir = unique("hist"), find("b-5.3.2-defaults"), tmp_path_factory.mktemp("src")
    install(kube, case, ns, workdir)
    chart = unpack(case, workdir)
    for i in range(3):
        kube.helm("v4", "upgrade", case.release, str(chart), "-n", ns, "--reuse-values", "--set", f"revision={i}")
    yield ns, case.release
    kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_helm_release_history_stays_on_the_server(kube: Kube, upgraded: tuple[str, str]) -> None:
    ns, release = upgraded
    on_server = {s["metadata"]["name"] for s in kube.get("secrets", ns)["items"]}
    history = {n for n in on_server if n.startswith(f"sh.helm.release.v1.{release}.")}
    assert len(history) == 4  # install and three upgrades
    read = {s["metadata"]["name"] for s in LiveSource(load_api_client(kube.kubeconfig), ns).objects("Secret")}
    assert read == on_server - history and read  # the agent's own Secret is read, no revision is
    proc = kube.gen("render", "--project", "p", "--clearml-namespace", ns)
    assert "accessKey:" in proc.stdout


def test_lists_are_read_in_pages(kube: Kube, upgraded: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    ns, _ = upgraded
    kube.apply([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"extra-{i}"}} for i in range(5)], ns)
    everything = {c["metadata"]["name"] for c in kube.get("configmaps", ns)["items"]}
    calls: list[dict[str, str]] = []
    real = kube_client.api_request

    def counting(api, method, path, *, what, query=None, body=None):  # type: ignore[no-untyped-def]
        calls.append(dict(query or {}))
        return real(api, method, path, what=what, query=query, body=body)

    monkeypatch.setattr(kube_client, "PAGE", 2)
    monkeypatch.setattr(kube_client, "api_request", counting)
    read = LiveSource(load_api_client(kube.kubeconfig), ns).objects("ConfigMap")
    assert {c["metadata"]["name"] for c in read} == everything and all(c["kind"] == "ConfigMap" for c in read)
    assert len(calls) == -(-len(everything) // 2)  # ceil: one call per page of two
    assert all(q["limit"] == "2" for q in calls) and "continue" not in calls[0] and "continue" in calls[-1]


def test_an_api_server_that_does_not_answer_is_one_line(kube: Kube, tmp_path: Path) -> None:
    """The same kubeconfig, pointed at a port that takes the connection and never answers."""
    import json
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(listener.accept()[0]) for _ in range(8)], daemon=True).start()
    cfg = json.loads(kube.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    cfg["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{listener.getsockname()[1]}"
    path = tmp_path / "silent.kubeconfig"
    path.write_text(json.dumps(cfg))
    kube.env["CLEARML_RUNAI_REQUEST_TIMEOUT"] = "1"
    try:
        proc = kube.gen("render", "--project", "p", "--clearml-namespace", "x", kubeconfig=str(path), check=False)
    finally:
        del kube.env["CLEARML_RUNAI_REQUEST_TIMEOUT"]
        listener.close()
    assert proc.returncode == 1 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "did not answer within 1 s" in proc.stderr, proc.stderr


def test_a_live_command_prints_all_its_output_and_leaves_no_temporary_file(
    kube: Kube, upgraded: tuple[str, str], tmp_path: Path
) -> None:
    """The kubernetes client writes the kubeconfig's certificates to temporary files and removes them at
    exit; the CLI leaves without the interpreter's module teardown, and must still run that removal."""
    import subprocess

    from ruamel.yaml import YAML

    from tests.conftest import cli

    script = cli()
    ns, _ = upgraded
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**kube.env, "TMPDIR": str(tmp)}
    args = ["--clearml-namespace", ns, "--kubeconfig", kube.kubeconfig]
    proc = subprocess.run([script, "render", "--project", "p", "--show-secrets", *args], env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert YAML(typ="safe").load(proc.stdout)["runai"]["project"] == "p"  # whole: it parses to the end
    assert proc.stdout.endswith(b"\n")
    report = subprocess.run([script, "discover", "-o", "json", *args], env=env, capture_output=True)
    assert json.loads(report.stdout)["namespace"] == ns
    assert list(tmp.iterdir()) == [], "the client's certificate files were left behind"
    # a command's verdict still reaches the shell
    nowhere = [script, "render", "--project", "p", "--clearml-namespace", "nowhere", "--kubeconfig", kube.kubeconfig]
    failing = subprocess.run([*nowhere, "-o", str(tmp_path / "v.yaml")], env=env, capture_output=True)
    assert failing.returncode == 1 and b"no ClearML k8s agent" in failing.stderr
