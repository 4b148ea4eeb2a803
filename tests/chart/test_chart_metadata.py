"""What chart-testing and Artifact Hub judge a chart by: its YAML style, Chart.yaml, and a README in step.

`ct lint` runs yamllint with its lintconf (ci/lintconf.yaml) on Chart.yaml, values.yaml and the
ci/*-values.yaml files (templates are not YAML until rendered), and checks Chart.yaml against its
schema; Artifact Hub reads the `artifacthub.io/*` annotations. The README is generated from Chart.yaml
and the `# --` comments of values.yaml by ci/chart_readme.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from yamllint import linter
from yamllint.config import YamlLintConfig

from .conftest import CHART_DIR, CI_DIR, REPO_ROOT, Helm, load_one, values

pytestmark = pytest.mark.chart

CHART = load_one((CHART_DIR / "Chart.yaml").read_text())
CT_LINTCONF = YamlLintConfig(file=str(REPO_ROOT / "ci" / "lintconf.yaml"))
# Artifact Hub's categories and change kinds (artifacthub.io/category, artifacthub.io/changes)
ARTIFACTHUB_CATEGORIES = {
    "ai-machine-learning",
    "database",
    "integration-delivery",
    "monitoring-logging",
    "networking",
    "security",
    "storage",
    "streaming-messaging",
}
CHANGE_KINDS = {"added", "changed", "deprecated", "removed", "fixed", "security"}


@pytest.mark.parametrize(
    "path",
    [CHART_DIR / "Chart.yaml", CHART_DIR / "values.yaml", *sorted(CI_DIR.glob("*-values.yaml"))],
    ids=lambda p: p.name,
)
def test_chart_yaml_passes_chart_testing_yamllint_rules(path: Path) -> None:
    problems = list(linter.run(path.read_text(), CT_LINTCONF, str(path)))
    # ct fails on errors only; warnings (truthy) count here too
    assert not problems, "\n".join(f"{path.name}:{p.line}:{p.column} [{p.level}] {p.message}" for p in problems)


def test_ct_lintconf_catches_what_ct_catches() -> None:
    bad = "a:  1\nb: [ 1]\nc: 2 # comment\n"
    rules = {p.rule for p in linter.run(bad, CT_LINTCONF)}
    assert {"colons", "brackets", "comments"} <= rules


def _is(value: Any, kind: type) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def test_chart_yaml_matches_the_chart_testing_schema() -> None:
    # etc/chart_schema.yaml of chart-testing, as data: required keys, then optional ones with their types
    for key in ("name", "home", "version", "apiVersion", "description"):
        assert _is(CHART.get(key), str) and CHART[key], key
    optional: dict[str, Any] = {
        "appVersion": (str, int, float),
        "keywords": list,
        "sources": list,
        "maintainers": list,
        "icon": str,
        "kubeVersion": str,
        "annotations": dict,
        "type": str,
        "deprecated": bool,
    }
    for key, kind in optional.items():
        if key in CHART:
            assert isinstance(CHART[key], kind), key
    known = {"name", "home", "version", "apiVersion", "description", "engine", "condition", "tags", "dependencies"}
    assert set(CHART) <= known | set(optional), set(CHART) - known - set(optional)
    for maintainer in CHART["maintainers"]:
        assert _is(maintainer.get("name"), str), maintainer
        assert set(maintainer) <= {"name", "email", "url"}, maintainer
    assert all(_is(k, str) and _is(v, str) for k, v in CHART["annotations"].items())


def test_chart_yaml_is_complete() -> None:
    assert CHART["apiVersion"] == "v2" and CHART["type"] == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+", CHART["version"])
    assert _is(CHART["appVersion"], str) and CHART["appVersion"]
    assert CHART["kubeVersion"] == ">=1.29.0-0"
    assert CHART["home"].startswith("https://")
    assert CHART["sources"] and all(s.startswith("https://") for s in CHART["sources"])
    assert CHART["maintainers"] and all(m.get("email") or m.get("url") for m in CHART["maintainers"])
    assert CHART["keywords"] and CHART["icon"].startswith("https://")


def test_artifacthub_annotations() -> None:
    annotations = CHART["annotations"]
    assert annotations["artifacthub.io/category"] in ARTIFACTHUB_CATEGORIES
    assert annotations["artifacthub.io/license"] == "Apache-2.0"
    links = load_one(annotations["artifacthub.io/links"])
    assert links and all(set(link) == {"name", "url"} and link["url"].startswith("https://") for link in links)
    changes = load_one(annotations["artifacthub.io/changes"])
    assert changes and all(c["kind"] in CHANGE_KINDS and c["description"].strip() for c in changes)
    images = load_one(annotations["artifacthub.io/images"])
    assert images and all(set(image) == {"name", "image"} for image in images)
    # the agent image Artifact Hub lists is the one the chart runs by default
    default = load_one((CHART_DIR / "values.yaml").read_text())["agent"]["image"]
    assert {"name": "clearml-agent-k8s-base", "image": f"docker.io/{default['repository']}:{default['tag']}"} in images


@pytest.mark.parametrize(("kube_version", "supported"), [("1.28.15", False), ("1.29.0", True), ("1.35.0", True)])
def test_helm_enforces_the_kube_version(helm: Helm, kube_version: str, supported: bool) -> None:
    proc = helm.run(
        "template",
        "agent",
        CHART_DIR,
        "--kube-version",
        kube_version,
        "-f",
        helm.values_file(values()),
        "--namespace",
        "runai-team-a",
        check=False,
    )
    assert (proc.returncode == 0) is supported, proc.stderr
    if not supported:
        assert "kubeVersion" in proc.stderr


def chart_readme(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "ci" / "chart_readme.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_readme_is_generated_from_the_current_values() -> None:
    proc = chart_readme("--check")
    assert proc.returncode == 0, f"charts/clearml-runai-agent/README.md is stale:\n{proc.stderr[-3000:]}"


def test_readme_check_fails_when_a_value_changes(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    chart.mkdir()
    for name in ("Chart.yaml", "values.yaml", "README.md", "README.md.j2"):
        (chart / name).write_text((CHART_DIR / name).read_text())
    assert chart_readme("--check", "--chart", str(chart)).returncode == 0
    values_yaml = chart / "values.yaml"
    values_yaml.write_text(values_yaml.read_text().replace("maxPods: 10", "maxPods: 12"))
    proc = chart_readme("--check", "--chart", str(chart))
    assert proc.returncode == 1 and "agent.maxPods | int | `12`" in proc.stderr
    values_yaml.write_text(values_yaml.read_text() + "extra: 1\n")
    proc = chart_readme("--check", "--chart", str(chart))
    assert proc.returncode == 1 and "extra has no `# --` comment" in proc.stderr


def test_readme_documents_every_value_in_the_values_table() -> None:
    readme = (CHART_DIR / "README.md").read_text()
    rows = re.findall(r"^\| ([\w.]+) \| (\w+) \| `(.*)` \| (.+) \|$", readme, re.MULTILINE)
    keys = [row[0] for row in rows]
    assert len(keys) == len(set(keys))
    assert {"runai.project", "agent.hardened", "networkPolicy.create", "taskPod.securityContext"} <= set(keys)
    assert all(description.strip() for *_, description in rows)
    required = {key for key, _, _, description in rows if description.startswith("**Required.**")}
    assert required == {"runai.project", "clearml.apiHost", "agent.queues"}
