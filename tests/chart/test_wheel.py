"""The wheel carries the chart: after `pip install`, `chart-path` points at a chart helm can install."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT, tool

pytestmark = pytest.mark.chart


def test_wheel_carries_a_lintable_chart(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("clearml_runai-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from clearml_runai_gen.chart import chart_path; print(chart_path())",
            str(site),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    chart = Path(found)
    assert chart == site / "clearml_runai_gen" / "chart"
    assert not (chart / "ci").exists() and not list(chart.glob("*.j2"))
    lint = subprocess.run(
        [
            tool("helm"),
            "lint",
            "--strict",
            str(chart),
            "-f",
            str(ROOT / "charts/clearml-runai-agent/ci/handwritten-values.yaml"),
        ],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
