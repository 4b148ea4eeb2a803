"""Library calls behind the CLI: read an install once, render any number of projects."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .detect import read_install
from .emit import render_gitops, render_secret, render_values
from .errors import GenError, InputError
from .models import AgentInstall, DeliveryOptions, Obj, Plan, ProjectOptions
from .plan import make_plan
from .secret import separate_credentials
from .source import Source
from .write import Target, transaction

if TYPE_CHECKING:
    from .request import RenderRequest


@dataclass(frozen=True)
class Rendered:
    project: str
    text: str  # the values, or the Argo CD/Flux objects
    warnings: tuple[str, ...]
    notes: tuple[str, ...] = ()
    secret: str = ""  # the Secret manifest, when the credentials are apart


@dataclass(frozen=True)
class Output:
    """What each project's release is rendered as."""

    delivery: DeliveryOptions = DeliveryOptions()


# below this many projects a second process costs more than it saves; work goes out in batches
PARALLEL_FROM = 64
BATCH = 25

_FORKED: tuple[AgentInstall, Output] | None = None  # what forked workers inherit


def render_one(install: AgentInstall, options: ProjectOptions, output: Output = Output()) -> Rendered:
    """One project's values (or GitOps objects), and its Secret manifest when the credentials are apart."""
    delivery = output.delivery
    plan = make_plan(install, options)
    secret_text = ""
    if delivery.separate_secret:
        plan, secret = separate_credentials(plan)
        secret_text = render_secret(plan, secret)
    text = render_values(plan) if delivery.format == "values" else render_gitops(plan, delivery)
    return Rendered(options.project, text, tuple(plan.warnings), tuple(plan.notes), secret_text)


def render_files(
    request: RenderRequest, source: Source, agent: str | None = None, progress: Callable[[int], None] | None = None
) -> list[Rendered]:
    """Render what `request` asks for and write every file of it, or none: each target is checked before
    anything is rendered, and the files are committed together once all of them are staged."""
    with transaction(request.show_secrets) as tx:
        # --all-projects: the project namespaces, listed once, both to find the projects and to place them
        labelled = project_namespaces(source.api) if request.all_projects else None  # type: ignore[attr-defined]
        options = request.project_options(lambda: runai_projects(labelled or []))
        options, lookup_notes = _place_live(request, source, options, labelled)
        targets = request.plan_targets(tx, options)
        results = render_many(source, options, agent, progress, Output(request.delivery))
        items: list[tuple[Target, str]] = []
        for r in results:
            values, secret = targets[r.project]
            if secret is not None:
                items.append((secret, r.secret))
            items.append((values, r.text))
        tx.stage(items)
        tx.commit()
    if lookup_notes:
        results = [dataclasses.replace(r, notes=(*lookup_notes, *r.notes)) for r in results]
    return results


def _place_live(
    request: RenderRequest, source: Source, options: list[ProjectOptions], namespaces: list[Obj] | None = None
) -> tuple[list[ProjectOptions], tuple[str, ...]]:
    """Live: the namespaces are read once, for where each project lives and what it enforces (with
    --all-projects, `namespaces` are the project namespaces already listed, all that is needed). When they
    cannot be read (no cluster-wide right), the install may still be: go on, and say what was not checked."""
    api = getattr(source, "api", None)
    if api is None:
        return options, ()
    from .projects import list_namespaces

    if namespaces is None:
        try:
            namespaces = list_namespaces(api)
        except GenError as exc:
            return options, (request.unplaced_note(str(exc)),)
    return request.place(options, namespaces), ()


def _render_batch(batch: list[ProjectOptions]) -> list[Rendered]:
    assert _FORKED is not None
    install, output = _FORKED
    return [render_one(install, o, output=output) for o in batch]


def render_many(
    source: Source,
    options: list[ProjectOptions],
    agent: str | None = None,
    progress: Callable[[int], None] | None = None,
    output: Output = Output(),
) -> list[Rendered]:
    """The install is read once; each project gets its own values, in the order given.

    `output` says in what form (values, or Argo CD/Flux objects; credentials inline or apart).
    Emitting commented YAML is the per-project cost: with many projects it is spread over the CPUs by
    forked workers, which inherit the install already read (nothing is read twice).
    """
    install = read_install(source, agent)
    batches = [options[i : i + BATCH] for i in range(0, len(options), BATCH)]
    workers = min(os.cpu_count() or 1, len(options) // (PARALLEL_FROM // 2))
    if workers >= 2 and len(options) >= PARALLEL_FROM:
        import multiprocessing  # only here: most runs render one project

        if "fork" in multiprocessing.get_all_start_methods():
            return _render_forked(multiprocessing.get_context("fork"), workers, install, batches, output, progress)
    out: list[Rendered] = []
    for batch in batches:
        out += [render_one(install, o, output=output) for o in batch]
        if progress:
            progress(len(batch))
    return out


def _render_forked(
    context: Any,
    workers: int,
    install: AgentInstall,
    batches: list[list[ProjectOptions]],
    output: Output,
    progress: Callable[[int], None] | None,
) -> list[Rendered]:
    global _FORKED
    out: list[Rendered] = []
    _FORKED = (install, output)
    try:
        with context.Pool(workers) as pool:
            for part in pool.imap(_render_batch, batches):  # in order
                out += part
                if progress:
                    progress(len(part))
    finally:
        _FORKED = None
    return out


def render_plan(source: Source, options: ProjectOptions, agent: str | None = None) -> Plan:
    return make_plan(read_install(source, agent), options)


def load_values(path: str) -> dict[str, Any]:
    """A values file written by `render`, or the values inline in its Argo CD or Flux objects."""
    from .gitops import values_of
    from .parse import MAX_DOCUMENT_BYTES, load_stream
    from .source import read_text

    hint = "pass a file written by `render`"
    origin = "standard input" if path == "-" else f"--values {path}"
    text = read_text(path, origin, MAX_DOCUMENT_BYTES, hint)
    docs = [d for d in load_stream(text, origin, hint) if d is not None]
    data = values_of(docs)
    if data is None:
        data = docs[0] if len(docs) == 1 else None
    if not isinstance(data, dict):
        raise InputError(f"{origin} is not a values file of clearml-runai-gen")
    return data


def project_namespaces(api: Any) -> list[Obj]:
    """Every Run:ai project's namespace: the namespaces labelled runai/queue. One list call."""
    from .kube import list_objects

    return list_objects(api, "Namespace", selector="runai/queue")


def runai_projects(namespaces: list[Obj]) -> list[tuple[str, str]]:
    """(project, namespace) of every Run:ai project among `namespaces`."""
    out = []
    for ns in namespaces:
        name = ns["metadata"]["name"]
        project = (ns["metadata"].get("labels") or {}).get("runai/queue") or name.removeprefix("runai-")
        out.append((project, name))
    return sorted(out)
