"""Shared fixtures; the paths of the repository, its pinned tools and the CLI, and a project's names,
come from the sandbox (sandbox/paths.py, sandbox/names.py)."""

from __future__ import annotations

import os

import pytest

from sandbox.names import ProjectNames, names, unique
from sandbox.paths import CHART, ROOT, TOOLS, cli, tool


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


@pytest.fixture(autouse=True)
def _no_ambient_kubeconfig(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    # unit and chart tests must never talk to whatever cluster the developer's shell points at
    if "cluster" not in request.keywords:
        monkeypatch.setenv("KUBECONFIG", os.devnull)


__all__ = ["CHART", "ROOT", "TOOLS", "ProjectNames", "cli", "gen", "names", "tool", "unique"]
