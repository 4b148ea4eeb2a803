"""`make package`: the chart archive that goes to a registry, at the tool's own version."""

from __future__ import annotations

import subprocess
import tarfile
import tomllib
from pathlib import Path

import pytest
from clearml_runai_gen import __version__

from tests.conftest import ROOT, tool

from .conftest import CHART_DIR, load_one

pytestmark = pytest.mark.chart


def test_chart_version_is_the_tools_version() -> None:
    """argocd/flux objects install the chart at the tool's version: the two must be one."""
    chart = load_one((CHART_DIR / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["version"] == __version__ == project["version"]


def test_make_package_builds_the_archive_helm_pushes(tmp_path: Path) -> None:
    proc = subprocess.run(
        ["make", "-s", "package", f"PACKAGE_DIR={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    (archive,) = tmp_path.iterdir()
    assert archive.name == f"clearml-runai-agent-{__version__}.tgz"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "clearml-runai-agent/Chart.yaml" in names and "clearml-runai-agent/values.schema.json" in names
    # what is for this repository's CI, not for users, stays out
    assert not [n for n in names if "/ci/" in n or n.endswith(".j2")]
    shown = subprocess.run([tool("helm"), "show", "chart", str(archive)], capture_output=True, text=True, check=True)
    assert load_one(shown.stdout)["version"] == __version__
