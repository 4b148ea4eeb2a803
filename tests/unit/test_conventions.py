"""The CLI's conventions: exit codes, formats and files, short options, help, what copy leaves out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from sandbox.fixtures.installs import as_served, dump, flavour_b
from tests.conftest import gen

SECRET = "SK-conventions-41d2"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    path = tmp_path / "clearml.yaml"
    path.write_text(dump(as_served(flavour_b(secret_key=SECRET), "clearml", "agent")))
    return path


@pytest.fixture
def values(src: Path, tmp_path: Path) -> Path:
    path = tmp_path / "values.yaml"
    code, _, stderr = gen(["render", "--project", "p", "--from-file", str(src), "-o", str(path)])
    assert code == 0, stderr
    return path


def drifted(src: Path, tmp_path: Path) -> Path:
    objs = as_served(flavour_b(secret_key=SECRET), "clearml", "agent")
    deploy = next(o for o in objs if o["kind"] == "Deployment")
    deploy["spec"]["template"]["spec"]["containers"][0]["image"] = "docker.io/allegroai/clearml-agent-k8s-base:9.9-9"
    path = tmp_path / "drifted.yaml"
    path.write_text(dump(objs))
    return path


def test_diff_exits_0_when_same_1_on_drift_2_on_trouble(src: Path, values: Path, tmp_path: Path) -> None:
    assert gen(["diff", "--values", str(values), "--from-file", str(src)])[0] == 0
    assert gen(["diff", "--values", str(values), "--from-file", str(drifted(src, tmp_path))])[0] == 1
    troubles = [
        ["--values", str(tmp_path / "missing.yaml"), "--from-file", str(src)],  # no such file
        ["--values", str(src), "--from-file", str(src)],  # not a values file
        ["--values", str(values), "--from-file", str(tmp_path / "missing.yaml")],  # no dump
        ["--values", str(values), "--from-file", str(src), "--format", "yaml"],  # bad option (click's own)
        ["--values", str(values), "--from-file", str(src), "--project", "other"],
    ]
    for args in troubles:
        code, stdout, stderr = gen(["diff", *args])
        assert code == 2 and stdout == "" and len(stderr.strip().splitlines()) == 1, (args, code, stderr)


@pytest.mark.parametrize("spelling", [["-o", "json"], ["--format", "json"]])
def test_diff_reports_in_json(spelling: list[str], src: Path, values: Path, tmp_path: Path) -> None:
    code, stdout, _ = gen(["diff", "--values", str(values), "--from-file", str(src), *spelling])
    assert code == 0 and json.loads(stdout) == {"values": str(values), "drift": False, "changes": []}
    code, stdout, _ = gen(["diff", "--values", str(values), "--from-file", str(drifted(src, tmp_path)), *spelling])
    report = json.loads(stdout)
    assert code == 1 and report["drift"] is True
    assert {"path": "agent.image.tag", "change": "agent.image.tag: '1.24-21' -> '9.9-9'"} in report["changes"]
    assert SECRET not in stdout


def test_dash_o_names_a_file_and_format_the_format_on_every_report(src: Path, values: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    code, stdout, _ = gen(
        ["diff", "--values", str(values), "--from-file", str(src), "--format", "json", "-o", str(out)]
    )
    assert code == 0 and stdout == "" and json.loads(out.read_text())["drift"] is False
    code, stdout, _ = gen(["discover", "--from-file", str(src), "--format", "json", "-o", str(out)])
    assert code == 0 and stdout == "" and json.loads(out.read_text())["namespace"] == "clearml"
    code, _, stderr = gen(["discover", "--from-file", str(src), "--format", "table", "-o", "json"])
    assert code == 2 and "disagree" in stderr


def test_dash_n_is_namespace_everywhere(src: Path, tmp_path: Path) -> None:
    code, stdout, _ = gen(["render", "--project", "p", "-n", "team-ns", "--from-file", str(src), "--show-secrets"])
    assert code == 0 and YAML(typ="safe").load(stdout)["runai"]["namespace"] == "team-ns"
    code, stdout, _ = gen(["copy", "configmap/agent-clearml-agent-pt", "-n", "runai-x", "--from-file", str(src)])
    assert code == 0 and YAML(typ="safe").load(stdout)["items"][0]["metadata"]["namespace"] == "runai-x"
    code, _, stderr = gen(["verify", "--project", "p", "-n", "team-ns"])
    assert "No such option" not in stderr and "kubeconfig" in stderr


def test_no_arguments_prints_the_help() -> None:
    code, stdout, stderr = gen([])
    assert code == 0 and stderr == ""
    assert stdout.startswith("Usage: clearml-runai-gen") and "render" in stdout and "diff" in stdout


def test_copy_leaves_out_what_every_namespace_has_and_copies_each_object_once(src: Path) -> None:
    objs = as_served(flavour_b(), "clearml", "agent") + [
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": "agent-token", "namespace": "clearml",
                      "annotations": {"kubernetes.io/service-account.name": "agent"}},
         "data": {"token": "dG9rZW4="}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": "clearml"},
         "data": {"ca.crt": "CA"}},
    ]  # fmt: skip
    refs = ["secret/agent-token", "configmap/kube-root-ca.crt", "configmap/agent-clearml-agent-pt"]
    refs += ["cm/agent-clearml-agent-pt", "configmaps/agent-clearml-agent-pt"]
    code, stdout, stderr = gen(["copy", *refs, "-n", "runai-a", "--from-file", "-"], stdin=dump(objs))
    assert code == 0, stderr
    items = YAML(typ="safe").load(stdout)["items"]
    assert [(i["kind"], i["metadata"]["name"]) for i in items] == [("ConfigMap", "agent-clearml-agent-pt")]
    notes = stderr.strip().splitlines()
    assert len(notes) == 2 and "secret/agent-token is not copied: it is a ServiceAccount token" in notes[0]
    assert "configmap/kube-root-ca.crt is not copied" in notes[1] and "dG9rZW4=" not in stderr
    code, stdout, stderr = gen(["copy", "secret/agent-token", "-n", "runai-a", "--from-file", "-"], stdin=dump(objs))
    assert code == 2 and stdout == "" and len(stderr.strip().splitlines()) == 1 and "nothing left to copy" in stderr


class CountingName(str):
    """A full Service name that counts how often it is compared: what a list lookup does once per entry."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        CountingName.comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def no_proxy_comparisons(n: int, monkeypatch: pytest.MonkeyPatch) -> int:
    from clearml_runai_gen.hosts import HostRewriter

    names = [f"svc-{i}" for i in range(n)]
    rewriter = HostRewriter("clearml", "cluster.local", frozenset(names))
    monkeypatch.setattr(HostRewriter, "full", lambda self, host: CountingName(f"{host}.clearml.svc.cluster.local"))
    CountingName.comparisons = 0
    out = rewriter.no_proxy(",".join(names)).split(",")
    assert len(out) == 2 * n and out[1] == "svc-0.clearml.svc.cluster.local"
    return CountingName.comparisons


def test_no_proxy_handling_grows_linearly_with_its_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted, not timed: twice the names, at most about twice the comparisons (a list lookup made it n^2)."""
    small, large = no_proxy_comparisons(2_000, monkeypatch), no_proxy_comparisons(4_000, monkeypatch)
    assert large <= 2.5 * small + 100
    assert large <= 4 * 4_000
