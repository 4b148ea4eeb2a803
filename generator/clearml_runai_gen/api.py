"""Library calls behind the CLI: read an install once, render any number of projects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .detect import read_install
from .emit import render_values
from .errors import InputError
from .models import Plan, ProjectOptions
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
