"""Where the chart is (inside the installed wheel, or beside the package in a source checkout), and what it
says itself: its default values and its values schema, read from the packaged files, never copied."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from .errors import GenError

CHART_NAME = "clearml-runai-agent"


def chart_path() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "chart", here.parents[1] / "charts" / CHART_NAME):
        if (candidate / "Chart.yaml").is_file():
            return candidate
    raise GenError(f"the chart {CHART_NAME} is not installed with this package; reinstall clearml-runai")


@functools.cache
def _defaults() -> dict[str, Any]:
    from ruamel.yaml import YAML

    path = chart_path() / "values.yaml"
    try:
        data = YAML(typ="safe", pure=False).load(path.read_text(encoding="utf-8"))  # libyaml: ~8x faster
    except (OSError, ValueError) as exc:
        raise GenError(f"the chart's {path.name} cannot be read ({exc}); reinstall clearml-runai") from None
    if not isinstance(data, dict):
        raise GenError(f"the chart's {path.name} is not a mapping; reinstall clearml-runai")
    return data


def defaults(*, shared: bool = False) -> dict[str, Any]:
    """The chart's values.yaml: the defaults every release starts from. A copy to change freely; with
    `shared`, the one copy every caller reads, which none may change."""
    return _defaults() if shared else copy.deepcopy(_defaults())


def default(*path: str) -> Any:
    """One default of the chart, e.g. default("agent", "command")."""
    node: Any = _defaults()
    for key in path:
        node = node[key]
    return copy.deepcopy(node)


@functools.cache
def schema() -> dict[str, Any]:
    """The chart's values.schema.json, which helm checks every install's values against."""
    path = chart_path() / "values.schema.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GenError(f"the chart's {path.name} cannot be read ({exc}); reinstall clearml-runai") from None
    if not isinstance(data, dict):
        raise GenError(f"the chart's {path.name} is not a JSON schema; reinstall clearml-runai")
    return data
