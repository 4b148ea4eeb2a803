"""What a run found, as data, and the tables made from it."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from .config import GOALS
from .timing import Case, fmt_s, med

SECTIONS = {
    "1": "1 one project, offline",
    "2": "2 one project, live",
    "3": "3 many projects",
    "4": "4 start-up",
    "5": "5 helm template",
    "6": "6 long helm history",
    "7": "7 operator",
}


@dataclass
class Row:
    section: str
    name: str
    times: list[float]
    note: str = ""

    @property
    def median(self) -> float:
        return med(self.times)


@dataclass
class Target:
    name: str
    measured: str
    limit: str
    ok: bool | None  # None: not measured
    margin: str


@dataclass
class Report:
    machine: dict[str, str]
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    scale: list[dict[str, Any]] = field(default_factory=list)
    startup: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    live_profile: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    operator: dict[str, Any] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)  # what dominates, what stands in the way, from the figures
    notes: list[str] = field(default_factory=list)  # import checks
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, section: str, case: Case, note: str = "") -> Row:
        row = Row(section, case.name, case.times, note)
        self.rows.append(row)
        return row

    def find(self, section: str, name: str) -> Row | None:
        return next((r for r in self.rows if r.section == section and r.name == name), None)

    def ratio_target(self, goal: str, ours: Row, seed: Row, what: str = "") -> None:
        """ours/seed against the goal's ratio (at most that share of the seed's time)."""
        g = GOALS[goal]
        ratio = ours.median / seed.median
        limit = seed.median * g.limit
        margin = (
            f"holds with {fmt_s(limit - ours.median)} to spare"
            if ratio <= g.limit
            else f"misses by {fmt_s(ours.median - limit)} ({(ratio / g.limit - 1) * 100:.0f}% over)"
        )
        self.targets.append(
            Target(
                g.text + (f" ({what})" if what else ""),
                f"ours {fmt_s(ours.median)} vs seed {fmt_s(seed.median)}: {ratio:.2f} of the seed",
                f"≤ {g.limit:.2f} of the seed",
                ratio <= g.limit,
                margin,
            )
        )

    def ms_target(self, goal: str, ms: float, measured: str) -> None:
        g = GOALS[goal]
        ok = ms <= g.limit
        margin = f"holds with {g.limit - ms:.2f} ms to spare" if ok else f"misses by {ms - g.limit:.2f} ms"
        self.targets.append(Target(g.text, measured, f"≤ {g.limit:g} ms", ok, margin))


def md_table(headers: list[str], rows: list[list[str]], right: tuple[int, ...] = ()) -> str:
    """A markdown table; columns whose index is in `right` are right-aligned (figures)."""
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|")
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def results_table(report: Report) -> str:
    rows = [
        [
            SECTIONS[r.section],
            r.name,
            fmt_s(r.median),
            f"{fmt_s(min(r.times))} – {fmt_s(max(r.times))}",
            str(len(r.times)),
            r.note,
        ]
        for r in report.rows
    ]
    return md_table(["section", "case", "median", "min – max", "runs", "notes"], rows, right=(2, 3, 4))


def fmt_delta(delta: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" if n != 1 else k for k, n in sorted(delta.items())) or "none"


def slope_ms(points: list[tuple[int, float]]) -> float:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return statistics.linear_regression(xs, ys).slope * 1000


def scale_table(report: Report) -> str:
    if not report.scale:
        return ""
    names = list(report.scale[0]["times"])
    rows = []
    for e in report.scale:
        reqs = "; ".join(f"{k.removeprefix('live: ')}: {v[0]}" for k, v in e["requests"].items()) or "–"
        inproc = "; ".join(f"{k.removeprefix('live: ')}: {v}" for k, v in e.get("in_process", {}).items()) or "–"
        rows.append([str(e["n"]), *(fmt_s(e["times"][k]) for k in names), e["files"], reqs, inproc])
    if len(report.scale) > 2:
        rows.append(
            ["per project (least-squares slope)"]
            + [f"{slope_ms([(e['n'], e['times'][k]) for e in report.scale]):.2f} ms" for k in names]
            + ["", "", ""]
        )
    table = md_table(
        ["projects", *names, "files", "API reads (metrics)", "API calls (in-process)"],
        rows,
        right=tuple(range(len(names) + 1)),
    )
    kinds = next((e["requests"] for e in report.scale if e["requests"]), {})
    if kinds:
        table += (
            "\n\nReads per run, from `apiserver_request_total`: "
            + "; ".join(f"{k.removeprefix('live: ')}: {fmt_delta(v[1])}" for k, v in kinds.items())
            + "."
        )
    return table


def targets_table(report: Report) -> str:
    rows = [
        [t.name, t.measured, t.limit, "yes" if t.ok else ("not measured" if t.ok is None else "**no**"), t.margin]
        for t in report.targets
    ]
    return md_table(["target", "measured", "limit", "holds", "margin"], rows)


def history_table(report: Report) -> str:
    if not report.history:
        return ""
    rows = [
        [e["case"], str(e["revisions"]), e["size"], fmt_s(e["seconds"]), f"{e['rss'] / 1024 / 1024:.1f} MiB"]
        for e in report.history
    ]
    return md_table(
        ["case", "release revisions", "what the namespace holds", "median wall", "peak RSS (median)"],
        rows,
        right=(1, 3, 4),
    )
