"""Paths of the repository, its pinned tools and the CLI as installed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# where ci/tools.sh unpacks the pinned helm v4, helm v3 and kubectl; CLEARML_RUNAI_TOOLS_DIR points the
# tests elsewhere (a test of what they do when a tool is missing)
TOOLS = Path(os.environ.get("CLEARML_RUNAI_TOOLS_DIR") or ROOT / ".cache" / "tools")
PINNED_TOOLS = ("helm", "helm3", "kubectl")
CHART = ROOT / "charts" / "clearml-runai-agent"
# the operator's chart renderer (renderer/), as ci/build.sh builds it
RENDERER = ROOT / ".cache" / "renderer" / "bin" / "clearml-runai-render"
# the console script pip installed beside the running interpreter (the venv's, in tests and benchmarks)
CLI = Path(sys.executable).parent / "clearml-runai-gen"


def missing_tools() -> str | None:
    """One line naming the pinned tools that are not in place, or None when all are."""
    missing = [name for name in PINNED_TOOLS if not (TOOLS / name).is_file()]
    if not missing:
        return None
    where = TOOLS.relative_to(ROOT) if TOOLS.is_relative_to(ROOT) else TOOLS
    return f"{', '.join(missing)} missing from {where}: run `make tools` (ci/tools.sh)"


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make tools` (ci/tools.sh)")
    return str(path)


def renderer() -> str:
    if not RENDERER.exists():
        raise RuntimeError(f"{RENDERER} is missing: run `make renderer` (ci/build.sh renderer)")
    return str(RENDERER)


def cli() -> str:
    """The CLI as a user runs it: the console script installed beside the running interpreter."""
    if not CLI.exists():
        raise RuntimeError(f"{CLI} is missing: install the project (make venv)")
    return str(CLI)
