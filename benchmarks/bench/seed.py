"""The seed procedure, run as written (benchmarks/seed.sh): from one JSON file per object, or with kubectl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .checks import check_seed_output
from .config import SEED
from .timing import BenchError, run

NAME_FILES = "seed: 5 × cat | sed | jq ×4–9 (no kubectl create)"
NAME_LIVE = "seed: 5 × kubectl get | sed | jq ×4–9 (no kubectl create)"


def files_cmd(objects_dir: Path, namespace: str, project: str) -> list[Any]:
    return ["bash", SEED, "files", objects_dir, namespace, project]


def live_cmd(namespace: str, project: str) -> list[Any]:
    return ["bash", SEED, "live", namespace, project]


def checked(cmd: list[Any], project: str, env: dict[str, str] | None = None) -> list[Any]:
    """`cmd`, after one run that printed the five objects moved to runai-<project>."""
    problem = check_seed_output(run(cmd, env=env, what="seed.sh"), f"runai-{project}")
    if problem:
        raise BenchError(problem)
    return cmd
