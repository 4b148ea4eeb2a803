"""3: 1 to 1000 projects in one `render --output-dir`: offline and live, files checked, API reads counted."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checks import check_dir
from ..cluster import Cluster, calls_in_process, count_delta, labelled_projects, make_namespaces
from ..config import CLI, KINDS_READ, SCALE, SCALE_REPEATS, SEED_INSTALL
from ..report import Report, Target, slope_ms
from ..timing import Case, bench, log, med, timed
from . import Context


@dataclass
class ScaleCase:
    """One way of rendering N projects; `run(rep)` times one invocation into a fresh directory."""

    name: str
    command: Callable[[Path], list[Any]]  # the command, given its output directory
    expected: dict[str, str]  # project -> namespace the files must hold
    env: dict[str, str] | None
    work: Path
    repeats: int
    cluster: Cluster | None = None  # count API reads around the last two runs
    counted: list[tuple[int, dict[str, int]]] = field(default_factory=list)
    others: Callable[[], dict[str, str]] | None = None  # projects not made here that may show up (--all-projects)
    verdict: str = "not checked"

    def run(self, rep: int) -> float:
        out = self.work / f"out-{abs(hash(self.name))}-{rep + 10}"
        cmd = self.command(out)
        if self.cluster is not None and rep >= self.repeats - 2:
            cluster = self.cluster
            dt, total, delta = count_delta(cluster, lambda: timed(cmd, self.env, "render"))
            self.counted.append((total, delta))
        else:
            dt = timed(cmd, self.env, "render")
        if rep == self.repeats - 1:
            self.verdict = self.check(out)
        shutil.rmtree(out, ignore_errors=True)
        return dt

    def check(self, out: Path) -> str:
        expected = dict(self.expected)
        extra = 0
        if self.others is not None:
            # other users of a shared control plane may add or remove Run:ai namespaces meanwhile:
            # their files are allowed (and checked) when their namespace is there after the run
            found = {f.name.removesuffix(".values.yaml") for f in out.glob("*.values.yaml")}
            now = self.others()
            for project in found - set(expected):
                if project in now:
                    expected[project] = now[project]
                    extra += 1
            for project in set(expected) - found:
                if project not in now and project not in self.expected:
                    del expected[project]
        problem = check_dir(out, expected)
        if problem:
            return f"WRONG: {problem}"
        return "right" + (f" (+{extra} of namespaces not made here)" if extra else "")


def scale_step(report: Report, dump: Path, ns: str, cluster: Cluster | None, n: int, repeats: int, work: Path) -> None:
    """Time rendering projects p1..pN every way; namespaces runai-p1..pN exist when live."""
    projects = [f"p{i}" for i in range(1, n + 1)]
    project_args = [a for p in projects for a in ("--project", p)]
    expected = {p: f"runai-{p}" for p in projects}
    cases = [
        ScaleCase(
            "offline: --from-file, --project ×N",
            lambda out: [CLI, "render", "--from-file", dump, "--output-dir", out, *project_args],
            expected,
            None,
            work,
            repeats,
        )
    ]
    if cluster is not None:
        live = [CLI, "render", "--clearml-namespace", ns, "--output-dir"]
        cases.append(
            ScaleCase(
                "live: --project ×N",
                lambda out: [*live, out, *project_args],
                expected,
                cluster.env,
                work,
                repeats,
                cluster,
            )
        )
        cases.append(
            ScaleCase(
                "live: --all-projects",
                lambda out: [*live, out, "--all-projects"],
                expected,
                cluster.env,
                work,
                repeats,
                cluster,
                others=lambda: labelled_projects(cluster),
            )
        )
    log(f"   {n} project(s): {len(cases)} case(s) × {repeats} runs")
    timing = [Case(c.name, c.run) for c in cases]
    bench(timing, repeats)
    entry: dict[str, Any] = {"n": n, "times": {}, "requests": {}}
    entry["labelled"] = len(labelled_projects(cluster)) if cluster is not None else 0
    entry["namespaces"] = len(cluster.kubectl("get", "namespaces", "-o", "name").split()) if cluster is not None else 0
    verdicts = {c.name.split(",")[0].replace(":", ""): c.verdict for c in cases}
    if all(v == "right" for v in verdicts.values()):
        entry["files"] = "right"
    else:
        entry["files"] = "; ".join(f"{k}: {v}" for k, v in verdicts.items())
    for c in cases:
        if c.verdict.startswith("WRONG"):
            report.errors.append(f"{c.name}, {n} projects: {c.verdict}")
    for c, t in zip(cases, timing, strict=True):
        entry["times"][c.name] = med(t.times)
        report.add("3", Case(f"{c.name}, N={n}", t.fn, t.times))
        if c.counted:
            entry["requests"][c.name] = min(c.counted, key=lambda x: x[0])
    if cluster is not None and n in (SCALE[0], SCALE[-1]):
        out = work / "in-process"
        for c in cases[1:]:
            argv = [str(a) for a in c.command(out)[1:]]
            entry.setdefault("in_process", {})[c.name] = len(calls_in_process(argv, cluster.env))
            shutil.rmtree(out, ignore_errors=True)
    report.scale.append(entry)


def run_section(ctx: Context) -> None:
    log("3: 1 to 1000 projects in one render --output-dir")
    report, cluster = ctx.report, ctx.cluster
    main = ctx.dump()
    dump = main.json if main else ctx.fixture.dump_json
    work = ctx.work / "scale"
    work.mkdir(exist_ok=True)
    made = 0
    for n in SCALE:
        if cluster is not None:
            make_namespaces(cluster, made + 1, n)
            made = n
        scale_step(report, dump, SEED_INSTALL.namespace, cluster, n, 3 if ctx.quick else SCALE_REPEATS[n], work)
    offline = "offline: --from-file, --project ×N"
    per = slope_ms([(e["n"], e["times"][offline]) for e in report.scale])
    source = main.label + " dump (JSON)" if main else "the fixture dump"
    report.ms_target(
        "per-project",
        per,
        f"{per:.2f} ms per further project ({offline}, {source}; "
        f"least-squares slope over N = {', '.join(map(str, SCALE))})",
    )
    if cluster is not None:
        # one list call per kind the install is read from, and one of namespaces, in pages of 500: --project
        # lists them all (the namespace labelled for each project, and its Pod Security level), --all-projects
        # the labelled ones (which are also all it places); never a read per project
        expected = {
            "live: --project ×N": lambda e: KINDS_READ + max(1, -(-e["namespaces"] // 500)),
            "live: --all-projects": lambda e: KINDS_READ + max(1, -(-e["labelled"] // 500)),
        }
        seen = {
            name: [(e["n"], e["requests"][name][0], want(e)) for e in report.scale if name in e["requests"]]
            for name, want in expected.items()
        }
        ok = all(got == want for rows in seen.values() for _, got, want in rows)
        report.targets.append(
            Target(
                "API reads: one list call per kind, and namespaces in pages of 500",
                "; ".join(
                    f"{k.removeprefix('live: ')}: " + ", ".join(f"{got} at N={n}" for n, got, _ in rows)
                    for k, rows in seen.items()
                ),
                f"{KINDS_READ} + ⌈namespaces / 500⌉; {KINDS_READ} + ⌈labelled namespaces / 500⌉",
                ok,
                "holds" if ok else "other reads than expected",
            )
        )
