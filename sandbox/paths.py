"""Paths of the repository, its pinned tools and the CLI as installed."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".cache" / "tools"
CHART = ROOT / "charts" / "clearml-runai-agent"
# the console script pip installed beside the running interpreter (the venv's, in tests and benchmarks)
CLI = Path(sys.executable).parent / "clearml-runai-gen"


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make tools` (ci/tools.sh)")
    return str(path)


def cli() -> str:
    """The CLI as a user runs it: the console script installed beside the running interpreter."""
    if not CLI.exists():
        raise RuntimeError(f"{CLI} is missing: install the project (make venv)")
    return str(CLI)
