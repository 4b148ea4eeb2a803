"""5: `helm template` of the chart with values rendered by the tool, helm v4 and v3, for scale."""

from __future__ import annotations

from collections import Counter

from ..checks import load_yaml_all
from ..config import CHART, HELM
from ..timing import BenchError, Case, bench, log, run, timed
from . import Context


def run_section(ctx: Context) -> None:
    log("5: helm template of the chart with rendered values, helm v4 and v3")
    report, repeats, values = ctx.report, ctx.repeats, ctx.fixture.values
    cases = []
    counts: dict[str, int] = {}
    for label, helm in HELM.items():
        cmd = [helm, "template", "clearml-runai-p", CHART, "-n", "runai-p", "-f", values]
        docs = load_yaml_all(run(cmd, what=f"{label} template").decode())
        kinds = Counter(d["kind"] for d in docs)
        if not {"Deployment", "ConfigMap", "Secret", "Role", "RoleBinding"} <= set(kinds):
            raise BenchError(f"{label} template rendered only {dict(kinds)}")
        case = Case(f"{label}: helm template (chart with rendered values)", lambda _, c=cmd: timed(c))
        cases.append(case)
        counts[case.name] = len(docs)
    bench(cases, repeats)
    for c in cases:
        report.add("5", c, f"renders {counts[c.name]} objects")
