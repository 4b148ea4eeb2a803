"""discover and diff on dumps: what they report, and that secrets never show."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from sandbox.fixtures.installs import ACCESS_KEY, SECRET_KEY, as_served, dump, flavour_a, flavour_b
from tests.unit.test_cli import run


def write(tmp_path: Path, name: str, objects: list) -> Path:
    path = tmp_path / name
    path.write_text(dump(objects))
    return path


def test_discover_reports_flavour_hints_and_redacts(tmp_path: Path) -> None:
    src = write(
        tmp_path, "a.yaml", as_served(flavour_a(version="3.5.1", release="ml", namespace="mlops"), "mlops", "ml")
    )
    code, stdout, _ = run(["discover", "--from-file", str(src), "-o", "json"])
    assert code == 0
    report = json.loads(stdout)
    agent = report["agents"][0]
    assert report["namespace"] == "mlops"
    assert agent["flavour"] == "A" and agent["deployment"] == "ml-clearml-k8sagent"
    assert agent["queues"] == ["aws-instances"] and agent["hosts"]["api"] == "http://ml-clearml-apiserver:8008"
    assert any("tolerations" in n for n in agent["notes"])
    assert report["roles"]["k8sagent-pods-access"] == ["create", "get", "list", "patch", "watch"]  # no delete: < 3.6
    assert ACCESS_KEY not in stdout and SECRET_KEY not in stdout
    code, table, _ = run(["discover", "--from-file", str(src)])
    assert code == 0 and "flavour A" in table and SECRET_KEY not in table


def test_diff_reports_drift_with_secrets_redacted(tmp_path: Path) -> None:
    objs = as_served(flavour_b(release="gpu", namespace="agents"), "agents", "gpu")
    src = write(tmp_path, "b.yaml", objs)
    values = tmp_path / "values.yaml"
    assert run(["render", "--project", "p", "--from-file", str(src), "-o", str(values)])[0] == 0
    code, stdout, _ = run(["diff", "--values", str(values), "--from-file", str(src)])
    assert code == 0 and "no drift" in stdout

    secret = next(o for o in objs if o["kind"] == "Secret")
    secret["data"]["agentk8sglue_secret"] = base64.b64encode(b"ROTATED-SECRET").decode()
    deploy = next(o for o in objs if o["kind"] == "Deployment")
    deploy["spec"]["template"]["spec"]["containers"][0]["image"] = "docker.io/allegroai/clearml-agent-k8s-base:1.25-1"
    src2 = write(tmp_path, "b2.yaml", objs)
    code, stdout, stderr = run(["diff", "--values", str(values), "--from-file", str(src2)])
    assert code == 1
    assert "clearml.secretKey: changed (value redacted" in stdout
    assert "agent.image.tag: '1.24-21' -> '1.25-1'" in stdout
    assert "ROTATED-SECRET" not in stdout + stderr and "SECRETKEY" not in stdout + stderr


def test_diff_rejects_a_file_that_is_no_values_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.yaml"
    bad.write_text("- a list\n")
    code, stdout, stderr = run(["diff", "--values", str(bad), "--from-file", str(bad)])
    assert code == 2 and stdout == "" and "not a values file" in stderr  # trouble, not drift


def test_chart_path_points_at_the_chart() -> None:
    code, stdout, _ = run(["chart-path"])
    assert code == 0 and (Path(stdout.strip()) / "Chart.yaml").is_file()


def test_diff_reports_a_malformed_values_file_in_one_line(tmp_path: Path) -> None:
    src = write(tmp_path, "a.yaml", as_served(flavour_a(), "clearml", "clearml"))
    bad = tmp_path / "values.yaml"
    for text in ("runai: 5\n", "runai:\n  project: p\nagent:\n  queues: 5\n", "runai:\n  project: Bad_Name\n"):
        bad.write_text(text)
        code, stdout, stderr = run(["diff", "--values", str(bad), "--from-file", str(src)])
        assert code in (1, 2) and stdout == "" and len(stderr.strip().splitlines()) == 1
        assert "internal error" not in stderr
