"""Shared fixtures: paths of the repository and its pinned tools."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".cache" / "tools"
CHART = ROOT / "charts" / "clearml-runai-agent"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def chart_dir() -> Path:
    return CHART


class ProjectNames:
    """The names of a Run:ai project's release: namespace runai-<project>, release clearml-runai-<project>."""

    project: str

    @property
    def namespace(self) -> str:
        return f"runai-{self.project}"

    @property
    def release(self) -> str:
        return f"clearml-runai-{self.project}"


def gen(args: list[str], stdin: str | None = None) -> tuple[int, str, str]:
    """The CLI's real entry point, in process: (exit code, stdout, stderr)."""
    import click
    from clearml_runai_gen.cli import main
    from click.testing import CliRunner

    @click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    @click.pass_context
    def entry(ctx: click.Context) -> None:
        ctx.exit(main(list(ctx.args)))

    result = CliRunner().invoke(entry, args, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def tool(name: str) -> str:
    path = TOOLS / name
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make tools` (ci/tools.sh)")
    return str(path)


@pytest.fixture(autouse=True)
def _no_ambient_kubeconfig(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    # unit and chart tests must never talk to whatever cluster the developer's shell points at
    if "cluster" not in request.keywords:
        monkeypatch.setenv("KUBECONFIG", os.devnull)
