"""Where the chart is: inside the installed wheel, or beside the package in a source checkout."""

from __future__ import annotations

from pathlib import Path

from .errors import GenError

CHART_NAME = "clearml-runai-agent"


def chart_path() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "chart", here.parents[1] / "charts" / CHART_NAME):
        if (candidate / "Chart.yaml").is_file():
            return candidate
    raise GenError(f"the chart {CHART_NAME} is not installed with this package; reinstall clearml-runai")
