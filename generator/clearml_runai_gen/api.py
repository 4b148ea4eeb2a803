"""Library calls behind the CLI: read an install once, render any number of projects."""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .detect import read_install
from .emit import render_values
from .errors import InputError
from .models import AgentInstall, Plan, ProjectOptions
from .plan import make_plan
from .source import Source


@dataclass(frozen=True)
class Rendered:
    project: str
    text: str
    warnings: tuple[str, ...]


# below this many projects a second process costs more than it saves
PARALLEL_FROM = 64


def render_one(install: AgentInstall, options: ProjectOptions) -> Rendered:
    plan = make_plan(install, options)
    return Rendered(options.project, render_values(plan), tuple(plan.warnings))


def _render_chunk(chunk: list[ProjectOptions]) -> list[Rendered]:
    assert _FORKED_INSTALL is not None
    return [render_one(_FORKED_INSTALL, o) for o in chunk]


_FORKED_INSTALL: AgentInstall | None = None


def render_many(source: Source, options: list[ProjectOptions], agent: str | None = None) -> list[Rendered]:
    """The install is read once; each project gets its own values, in the order given.

    Emitting commented YAML is the per-project cost; with many projects it is spread over the CPUs
    by forked workers, which inherit the install already read (nothing is read twice).
    """
    global _FORKED_INSTALL
    install = read_install(source, agent)
    workers = min(os.cpu_count() or 1, len(options) // (PARALLEL_FROM // 2))
    if workers < 2 or len(options) < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return [render_one(install, o) for o in options]
    chunks = [options[i::workers] for i in range(workers)]
    _FORKED_INSTALL = install
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_render_chunk, chunks)
    finally:
        _FORKED_INSTALL = None
    # chunk i holds options i, i+workers, ...: interleave them back into the given order
    out: list[Rendered] = [None] * len(options)  # type: ignore[list-item]
    for i, part in enumerate(parts):
        out[i::workers] = part
    return out


def render_plan(source: Source, options: ProjectOptions, agent: str | None = None) -> Plan:
    return make_plan(read_install(source, agent), options)


def load_values(path: str) -> dict[str, Any]:
    """A values file written by `render`."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--values {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--values {path} cannot be read: {exc}") from None
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError:
        raise InputError(f"--values {path} is not valid YAML; pass a file written by `render`") from None
    if not isinstance(data, dict):
        raise InputError(f"--values {path} is not a values file of clearml-runai-gen")
    return data


def runai_projects(api: Any) -> list[tuple[str, str]]:
    """(project, namespace) of every Run:ai project: namespaces labelled runai/queue. One list call."""
    from .source import list_objects

    out = []
    for ns in list_objects(api, "Namespace", selector="runai/queue"):
        name = ns["metadata"]["name"]
        project = (ns["metadata"].get("labels") or {}).get("runai/queue") or name.removeprefix("runai-")
        out.append((project, name))
    return sorted(out)
