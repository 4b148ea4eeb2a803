"""1: one project, offline: `render --from-file` against the seed's jq/sed pipelines on the same objects."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .. import seed
from ..checks import check_values
from ..config import CLI, PROJECT, PY, SRC_NS
from ..imports import importtime
from ..timing import BenchError, Case, bench, log, run, timed
from . import Context

BARE = "python -c pass (interpreter start-up)"
IMPORTS = "python -c 'import <what render --from-file imports>' (start-up and imports, no work)"
FIXTURE_JSON = "ours: render --from-file (JSON List)"


def _ours(path: Path) -> Callable[[int], float]:
    return lambda _: timed([CLI, "render", "--project", PROJECT, "--from-file", path], what="render")


def _kb(path: Path) -> str:
    return f"{path.stat().st_size / 1024:.0f} KB"


def offline_imports(dump: Path) -> list[str]:
    """The top-level imports of `render --from-file`, in order, beyond what the interpreter imports itself."""
    base = importtime(None).modules
    lines = importtime(["render", "--project", PROJECT, "--from-file", str(dump)]).lines
    return [x.name for x in lines if x.depth == 0 and x.name not in base]


def run_section(ctx: Context) -> None:
    log("1: one project, offline: render --from-file against the seed's jq/sed pipelines")
    f, report = ctx.fixture, ctx.report
    problem = check_values(
        run([CLI, "render", "--project", PROJECT, "--from-file", f.dump_json]).decode(), PROJECT, f"runai-{PROJECT}"
    )
    if problem:
        raise BenchError(problem)
    seed_cmd = seed.checked(seed.files_cmd(f.objects_dir, SRC_NS, PROJECT), PROJECT)
    cases: list[tuple[Case, str]] = [
        (
            Case(seed.NAME_FILES, lambda _: timed(seed_cmd, what="seed.sh")),
            "fixture: the same 5 objects, one JSON file each",
        ),
        (
            Case(FIXTURE_JSON, _ours(f.dump_json)),
            f"fixture: one `kubectl get -o json` List of the 5 objects, {_kb(f.dump_json)}",
        ),
        (
            Case("ours: render --from-file (YAML List)", _ours(f.dump_yaml)),
            f"fixture: the same as `-o yaml`, {_kb(f.dump_yaml)}",
        ),
        (
            Case("ours: render --from-file, 5 objects + 3 synthetic helm release Secrets (JSON)", _ours(f.big_json)),
            f"fixture, {_kb(f.big_json)}",
        ),
        (
            Case("ours: render --from-file, 5 objects + 3 synthetic helm release Secrets (YAML)", _ours(f.big_yaml)),
            f"fixture, {_kb(f.big_yaml)}",
        ),
    ]
    real: dict[str, tuple[Case, ...]] = {}
    for d in ctx.dumps:
        for fmt, path in (("YAML", d.yaml), ("JSON", d.json)):
            problem = check_values(
                run([CLI, "render", "--project", PROJECT, "--from-file", path]).decode(), PROJECT, f"runai-{PROJECT}"
            )
            if problem:
                raise BenchError(f"{d.label} {fmt}: {problem}")
        yaml_case = Case(f"ours: render --from-file, {d.label} namespace dump (YAML)", _ours(d.yaml))
        json_case = Case(f"ours: render --from-file, {d.label} namespace dump (JSON)", _ours(d.json))
        cases += [
            (yaml_case, f"real install, the README's dump, {d.kb('yaml')}"),
            (json_case, f"the same as `-o json`, {d.kb('json')}"),
        ]
        group: tuple[Case, ...] = (yaml_case, json_case)
        if d.seed_dir is not None:
            ns = d.upstream.namespace
            cmd = seed.checked(seed.files_cmd(d.seed_dir, ns, PROJECT), PROJECT)
            seed_case = Case(f"seed on {d.label}: 5 × cat | sed | jq ×4–9", lambda _, c=cmd: timed(c, what="seed.sh"))
            cases.append((seed_case, "the same install's 5 objects, one `kubectl get KIND NAME -ojson` file each"))
            group = (*group, seed_case)
        real[d.label] = group
    main = ctx.dump()
    imports = offline_imports(main.yaml if main else f.dump_json)
    cases += [
        (Case(BARE, lambda _: timed([PY, "-c", "pass"])), "for the breakdown: the floor of any Python CLI here"),
        (
            Case(IMPORTS, lambda _: timed([PY, "-c", "import " + ", ".join(imports)])),
            f"for the breakdown: {', '.join(imports)}",
        ),
    ]
    bench([c for c, _ in cases], ctx.repeats)
    for c, note in cases:
        report.add("1", c, note)
    for label, group in real.items():
        if len(group) == 3:
            yaml_case, json_case, seed_case = group
            seed_row = report.find("1", seed_case.name)
            for c, fmt in ((yaml_case, "YAML"), (json_case, "JSON")):
                report.ratio_target("offline", report.find("1", c.name), seed_row, f"{label}, {fmt}")  # type: ignore[arg-type]
