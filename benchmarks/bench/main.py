"""`make bench`: the options, the order of the sections, and the report."""

from __future__ import annotations

import argparse
import datetime
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .cluster import Cluster
from .config import CLI, DOC, HELM, KUBECTL, REPEATS, ROOT
from .doc import markdown
from .inputs import make_fixture, real_dumps
from .machine import describe_machine
from .report import Report
from .sections import Context, helm, history, live, offline, operator, profile, scale, startup
from .timing import BenchError, log

USAGE = """Benchmarks of clearml-runai-gen against the seed procedure it replaces (`make bench`).

Sections (each figure is the median of repeated runs after a warm-up; the cases of a section run interleaved):
  1  one project, offline: render --from-file on dumps of real upstream installs (and the small fixture),
     against the seed's jq/sed pipelines on the same objects
  2  one project, live (local control plane): render against the seed's kubectl get | jq pipelines
  3  1, 10, 100, 200, 1000 projects in one render --output-dir (offline and live; files checked, API reads
     counted from the kube-apiserver's metrics and in-process)
  4  start-up: --help wall time; what --help, the offline and the live render import
  5  helm template of the chart with rendered values, helm v4 and v3
  6  a long helm history: memory of a live render with 10 and 500 release revisions in the namespace
  7  the operator: cold start with 1, 50, 200 projects against render + helm upgrade --install per project;
     idle writes, a rotation with 200 projects, a new project's latency (p50, p95), peak memory with 500

The live sections use ci/cluster.sh: a control plane that already runs is used and left running; otherwise
it is started and stopped again at the end. BENCH_ARGS holds extra arguments (BENCH_ARGS=--write-docs make bench).
"""
LIVE = {"1", "2", "3", "4", "6", "7"}  # sections that use the control plane (1 and 4: the real dumps)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write-docs", action="store_true", help="also write the results into docs/benchmarks.md")
    ap.add_argument(
        "--offline", action="store_true", help="no control plane: the dumps of an earlier run, no live cases"
    )
    ap.add_argument("--sections", default="1,2,3,4,5,6,7", help="comma list of sections to run [default: all]")
    ap.add_argument("--quick", action="store_true", help="3 repeats everywhere (a smoke run; figures are rough)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument(
        "--doc", type=Path, default=DOC, help=f"the file --write-docs writes [default: {DOC.relative_to(ROOT)}]"
    )
    return ap.parse_args(argv)


def preflight() -> None:
    missing = []
    if shutil.which("jq") is None:
        missing.append("jq is not installed (the seed pipelines need it): apt-get install -y jq")
    for tool in (*HELM.values(), KUBECTL):
        if not os.access(tool, os.X_OK):
            missing.append(f"{tool.relative_to(ROOT)} is missing: run `make tools` (or `make bench`)")
    if not os.access(CLI, os.X_OK):
        missing.append("clearml-runai-gen is not installed in this Python: run `make bench`")
    if missing:
        for m in missing:
            print(f"bench: {m}", file=sys.stderr)
        raise SystemExit(2)


def _start_cluster(report: Report) -> Cluster | None:
    cluster = Cluster()
    try:
        cluster.start()
        return cluster
    except BenchError as exc:
        log(f"the live cases cannot run: {exc}")
        report.errors.append(f"live cases: {exc}")
        cluster.cleanup()
        return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv) + shlex.split(os.environ.get("BENCH_ARGS", ""))
    args = parse_args(argv)
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    preflight()
    started = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M")
    t_start = time.perf_counter()
    report = Report(machine=describe_machine())
    work = Path(tempfile.mkdtemp(prefix="clearml-runai-bench-"))
    cluster: Cluster | None = None

    def attempt(name: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BenchError as exc:
            log(f"error in {name}: {exc}")
            report.errors.append(f"{name}: {exc}")

    try:
        if not args.offline and sections & LIVE:
            cluster = _start_cluster(report)
        elif args.offline:
            report.skipped.append("live cases (--offline)")
        dumps = []
        try:
            dumps = real_dumps(cluster, work)
        except BenchError as exc:
            log(f"no real installs: {exc}")
            report.errors.append(f"real installs: {exc}")
        ctx = Context(report, make_fixture(work), dumps, cluster, 3 if args.quick else REPEATS, args.quick, work)
        order = [
            ("1", offline),
            ("1", profile),
            ("5", helm),
            ("4", startup),
            ("2", live),
            ("3", scale),
            ("6", history),
            ("7", operator),
        ]
        for number, module in order:
            if number in sections and (cluster is not None or number not in {"2", "6", "7"}):
                attempt(f"section {number} ({module.__name__.rsplit('.', 1)[-1]})", lambda m=module: m.run_section(ctx))
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        report.errors.append("interrupted")
    finally:
        if cluster is not None:
            cluster.cleanup()
        if args.keep:
            log(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    duration = time.perf_counter() - t_start
    text = markdown(report, started, duration, args.quick)
    print(text)
    if args.write_docs:
        args.doc.parent.mkdir(exist_ok=True)
        args.doc.write_text(text)
        log(f"wrote {args.doc}")
    log(f"done in {duration / 60:.1f} min")
    return 1 if report.errors else 0
