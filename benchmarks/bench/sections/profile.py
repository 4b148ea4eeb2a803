"""Where the time of an offline render goes, in-process: its phases, and cProfile grouped by package."""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from ..config import PROJECT
from ..timing import log, med
from . import Context


def _package_of(filename: str) -> str:
    if "clearml_runai_gen" in filename:
        return "clearml_runai_gen (ours)"
    m = re.search(r"site-packages/([^/]+)", filename)
    if m:
        return m.group(1).removesuffix(".py")
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    return "stdlib"


EMIT_PHASE = "emit commented YAML (render_values, ruamel.yaml)"
TEMPLATE_PHASE = "… of which: parse the ConfigMap's template.yaml text (detect._parse_template)"


def run_section(ctx: Context) -> None:
    """In-process profile of the offline path: its phases, and cProfile grouped by package."""
    log("profile: where the time of the offline render goes")
    report, main = ctx.report, ctx.dump()
    dump_json, dump_yaml = (main.json, main.yaml) if main else (ctx.fixture.dump_json, ctx.fixture.dump_yaml)
    from clearml_runai_gen.cli import main as cli_main
    from clearml_runai_gen.detect import read_install
    from clearml_runai_gen.emit import render_values
    from clearml_runai_gen.models import ProjectOptions
    from clearml_runai_gen.parse import load_stream
    from clearml_runai_gen.plan import make_plan
    from clearml_runai_gen.source import FileSource
    from clearml_runai_gen.write import write_atomic

    work = ctx.work / "profile"
    work.mkdir(exist_ok=True)

    def per_call(fn: Callable[[], Any], n: int = 40) -> float:
        fn()
        xs = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            xs.append(time.perf_counter() - t0)
        return med(xs)

    src = FileSource.from_path(str(dump_json))
    install = read_install(src)
    options = ProjectOptions.build(PROJECT)
    plan = make_plan(install, options)
    text = render_values(plan)
    out = work / "x.values.yaml"

    def no_fsync() -> Any:
        from unittest import mock

        return mock.patch.object(os, "fsync", lambda fd: None)

    def write_no_fsync() -> None:
        with no_fsync():
            write_atomic(out, text)

    phases = {
        "parse the JSON dump (FileSource)": per_call(lambda: FileSource.from_path(str(dump_json))),
        "parse the YAML dump (FileSource)": per_call(lambda: FileSource.from_path(str(dump_yaml)), 15),
        "… of which: the YAML parse itself (parse.load_stream, libyaml)": per_call(
            lambda: load_stream(dump_yaml.read_text(), "dump", ""), 15
        ),
        "find and read the install (read_install)": per_call(lambda: read_install(src)),
        TEMPLATE_PHASE: 0.0,
        "plan the project (make_plan)": per_call(lambda: make_plan(install, options)),
        EMIT_PHASE: per_call(lambda: render_values(plan)),
        "write the file (write_atomic, with fsync)": per_call(lambda: write_atomic(out, text)),
        "for comparison: the same write_atomic without its fsync": per_call(write_no_fsync),
    }
    from clearml_runai_gen import detect

    parse_template = getattr(detect, "_parse_template", None)
    templates = [
        c["data"].get("template.yaml") for c in src.objects("ConfigMap") if "template.yaml" in c.get("data", {})
    ]
    if parse_template is not None and templates:
        phases[TEMPLATE_PHASE] = per_call(lambda: parse_template(templates[0], "template"))
    else:
        del phases[TEMPLATE_PHASE]
    argv = ["render", "--project", PROJECT, "--from-file", str(dump_json), "-o", str(out)]
    with contextlib.redirect_stderr(io.StringIO()):
        whole = per_call(lambda: cli_main(argv))
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(30):
            cli_main(argv)
        prof.disable()
    by_pkg = _group(prof)
    top = _top(prof, 10)

    # many projects: the same, 200 projects in one process (what render --output-dir does per project)
    many = [ProjectOptions.build(f"p{i}") for i in range(1, 201)]
    many_dir = work / "many"
    many_dir.mkdir(exist_ok=True)
    from clearml_runai_gen.api import render_many

    t0 = time.perf_counter()
    results = render_many(src, many)
    t_render = time.perf_counter() - t0
    t_write = t_plain = 0.0
    for rnd in range(3):  # alternate, each into a fresh directory, and keep the lower of three
        for fsync in (True, False):
            target = many_dir / f"{rnd}-{fsync}"
            target.mkdir()
            with contextlib.nullcontext() if fsync else no_fsync():
                t0 = time.perf_counter()
                for r in results:
                    write_atomic(target / f"{r.project}.values.yaml", r.text)
                dt = time.perf_counter() - t0
            if fsync:
                t_write = dt if rnd == 0 else min(t_write, dt)
            else:
                t_plain = dt if rnd == 0 else min(t_plain, dt)
    prof200 = cProfile.Profile()
    with contextlib.redirect_stderr(io.StringIO()):
        argv200 = ["render", "--from-file", str(dump_json), "--output-dir", str(work / "many2")]
        argv200 += [a for i in range(1, 201) for a in ("--project", f"p{i}")]
        prof200.enable()
        cli_main(argv200)
        prof200.disable()
    report.profile = {
        "source": main.label if main else "the fixture",
        "phases_ms": {k: v * 1000 for k, v in phases.items()},
        "in_process_ms": whole * 1000,
        "by_package": by_pkg,
        "top": top,
        "many": {
            "projects": len(many),
            "render_ms_per_project": t_render * 1000 / len(many),
            "write_ms_per_file": t_write * 1000 / len(many),
            "plain_write_ms_per_file": t_plain * 1000 / len(many),
        },
        "many_by_package": _group(prof200),
        "many_top": _top(prof200, 8),
    }


def _group(prof: cProfile.Profile) -> list[tuple[str, float]]:
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    groups: Counter[str] = Counter()
    for (filename, _, _), v in stats.stats.items():  # type: ignore[attr-defined]
        groups[_package_of(filename)] += v[2]
    return [(k, v / total * 100) for k, v in groups.most_common(6)]


def _top(prof: cProfile.Profile, n: int) -> list[tuple[str, float]]:
    stats = pstats.Stats(prof)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:n]  # type: ignore[attr-defined]
    out = []
    for (filename, line, func), v in rows:
        short = re.sub(r"^.*?(site-packages/|generator/|lib/python3\.\d+/)", "", filename)
        out.append((f"{short}:{line} {func}", v[2] / total * 100))
    return out
