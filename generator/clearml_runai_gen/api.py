"""Library calls behind the CLI: read an install once, render any number of projects."""

from __future__ import annotations

from dataclasses import dataclass

from .detect import read_install
from .emit import render_values
from .models import ProjectOptions
from .plan import make_plan
from .source import Source


@dataclass(frozen=True)
class Rendered:
    project: str
    text: str
    warnings: tuple[str, ...]


def render_many(source: Source, options: list[ProjectOptions], agent: str | None = None) -> list[Rendered]:
    """The install is read once; each project gets its own values."""
    install = read_install(source, agent)
    out = []
    for opt in options:
        plan = make_plan(install, opt)
        out.append(Rendered(opt.project, render_values(plan), tuple(plan.warnings)))
    return out
