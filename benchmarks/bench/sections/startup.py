"""4: start-up: `--help` wall time; what `--help`, the offline and the live render import (`-X importtime`)."""

from __future__ import annotations

from typing import Any

from ..config import CLI, GOALS, HEAVY_MODULES, PROJECT, PY, SEED_INSTALL
from ..imports import children, import_total_ms, importtime, third_party
from ..timing import Case, bench, log, med, timed
from . import Context
from .offline import BARE


def run_section(ctx: Context) -> None:
    log("4: start-up: --help wall time, imports of the --help and offline paths")
    report, repeats = ctx.report, ctx.repeats
    live_env = ctx.cluster.env if ctx.cluster is not None and ctx.dump(seed_only=True) else None
    main = ctx.dump()
    paths: dict[str, list[str]] = {
        "--help": ["--help"],
        "render --from-file": [
            "render",
            "--project",
            PROJECT,
            "--from-file",
            str(main.yaml if main else ctx.fixture.dump_json),
        ],
    }
    if live_env is not None:
        paths["render (live)"] = ["render", "--project", PROJECT, "--clearml-namespace", SEED_INSTALL.namespace]
    allowed = {"--help": {"click"}, "render --from-file": {"click", "ruamel", "_ruamel_yaml"}, "render (live)": None}
    base = [importtime(None) for _ in range(5)]
    base_pkgs = set(third_party(base[0]))
    startup: dict[str, Any] = {"baseline_ms": med(import_total_ms(b) for b in base), "paths": {}}
    for label, argv in paths.items():
        runs = [importtime(argv, live_env if label == "render (live)" else None) for _ in range(5)]
        last = runs[-1]
        pkgs = {k: v for k, v in third_party(last).items() if k not in base_pkgs}
        ours = [sum(x.cum_us for x in r.lines if x.depth == 0 and x.name.startswith("clearml_runai_gen")) for r in runs]
        ok = allowed[label]
        startup["paths"][label] = {
            "total_ms": med(import_total_ms(r) for r in runs),
            "ours_ms": med(ours) / 1000,
            "packages": {k: (round(v[0], 1), v[1]) for k, v in sorted(pkgs.items(), key=lambda kv: -kv[1][0])},
            "heavy": {m: any(x == m or x.startswith(m + ".") for x in last.modules) for m in HEAVY_MODULES},
            "unexpected": sorted(set(pkgs) - ok) if ok is not None else [],
            "imports": [x.name for x in last.lines if x.depth == 0 and x.name not in base[0].modules],
            "kubernetes": children(last.lines, "kubernetes"),
            "own": sorted(
                (
                    (x.name, med(y.self_us for r in runs for y in r.lines if y.name == x.name) / 1000)
                    for x in last.lines
                    if x.name.startswith("clearml_runai_gen")
                ),
                key=lambda kv: -kv[1],
            ),
        }
    report.startup = startup

    help_case = Case("ours: clearml-runai-gen --help", lambda _: timed([CLI, "--help"]))
    version_case = Case("ours: clearml-runai-gen --version", lambda _: timed([CLI, "--version"]))
    bare = Case(BARE, lambda _: timed([PY, "-c", "pass"]))
    bench([help_case, version_case, bare], repeats)
    help_row = report.add("4", help_case, f"target < {GOALS['help'].limit:g} ms")
    report.add("4", version_case)
    report.add("4", bare, "for scale")
    report.ms_target("help", help_row.median * 1000, f"{help_row.median * 1000:.0f} ms (median wall, console script)")
    for label in ("--help", "render --from-file"):
        p = startup["paths"][label]
        heavy = [m for m in ("kubernetes", "urllib3", "jinja2") if p["heavy"][m]]
        if p["unexpected"] or heavy:
            report.notes.append(
                f"`{label}` imports what it does not use: "
                + "; ".join(f"{m} ({p['packages'][m][0]} ms, {p['packages'][m][1]})" for m in p["unexpected"])
            )
        else:
            report.notes.append(
                f"`{label}` imports no package it does not use (third-party: "
                + (", ".join(p["packages"]) or "none")
                + "; kubernetes, urllib3 and jinja2 are not imported)."
            )
