"""6: a long helm history: a live render's memory with 10 and 500 release revisions in the namespace.

helm keeps each revision of a release as a Secret of type helm.sh/release.v1 (the gzipped release, base64
twice). The revisions here are copies of the real install's own revision 1 under the next revision numbers,
as `helm upgrade` would add them, created with kubectl in batches.
"""

from __future__ import annotations

import copy
import json
import statistics
from typing import Any

from ..checks import check_values
from ..config import CLI, DUMP_KINDS, HISTORY, PROJECT, SEED_INSTALL
from ..timing import BenchError, fmt_bytes, log, peak_rss, run
from . import Context

RUNS = 5


def _grow(ctx: Context, revision: dict[str, Any], have: int, want: int) -> None:
    cluster = ctx.cluster
    assert cluster is not None
    release = SEED_INSTALL.release
    batch: list[dict[str, Any]] = []
    for rev in range(have + 1, want + 1):
        s = copy.deepcopy(revision)
        s["metadata"] = {
            "name": f"sh.helm.release.v1.{release}.v{rev}",
            "labels": {**revision["metadata"].get("labels", {}), "version": str(rev), "status": "superseded"},
        }
        batch.append(s)
        if len(batch) == 10 or rev == want:
            doc = {"apiVersion": "v1", "kind": "List", "items": batch}
            cluster.kubectl("create", "-n", SEED_INSTALL.namespace, "-f", "-", stdin=json.dumps(doc).encode())
            batch = []


def run_section(ctx: Context) -> None:
    log(f"6: long helm history: live render with {', '.join(map(str, HISTORY))} release revisions")
    cluster, report = ctx.cluster, ctx.report
    if cluster is None or ctx.dump(seed_only=True) is None:
        raise BenchError(f"no live install of {SEED_INSTALL.label}")
    ns, env = SEED_INSTALL.namespace, cluster.env
    first = json.loads(
        cluster.kubectl("get", "secret", "-n", ns, f"sh.helm.release.v1.{SEED_INSTALL.release}.v1", "-o", "json")
    )
    revision = {k: first[k] for k in ("apiVersion", "kind", "type", "data")} | {"metadata": first["metadata"]}
    payload = len(first["data"]["release"])
    ours = [CLI, "render", "--project", PROJECT, "--clearml-namespace", ns]
    have = 1
    for n in HISTORY:
        _grow(ctx, revision, have, n)
        have = n
        problem = check_values(run(ours, env=env).decode(), PROJECT, f"runai-{PROJECT}")
        if problem:
            raise BenchError(problem)
        holds = f"{n} × {fmt_bytes(payload)} of release data ({fmt_bytes(n * payload)})"
        samples = [peak_rss(ours, env, "render") for _ in range(RUNS)]
        report.history.append(
            {
                "case": "ours: render (live)",
                "revisions": n,
                "size": holds,
                "seconds": statistics.median(s for s, _ in samples),
                "rss": statistics.median(r for _, r in samples),
            }
        )
        dump = ctx.work / f"history-{n}.yaml"
        dump.write_bytes(cluster.kubectl("get", DUMP_KINDS, "-n", ns, "-o", "yaml"))
        offline = [CLI, "render", "--project", PROJECT, "--from-file", dump]
        samples = [peak_rss(offline, None, "render") for _ in range(RUNS)]
        report.history.append(
            {
                "case": "ours: render --from-file, the README's dump of that namespace (YAML)",
                "revisions": n,
                "size": f"a dump of {fmt_bytes(dump.stat().st_size)}",
                "seconds": statistics.median(s for s, _ in samples),
                "rss": statistics.median(r for _, r in samples),
            }
        )
    live = [e for e in report.history if e["case"] == "ours: render (live)"]
    if len(live) == 2:
        a, b = live
        report.findings.append(
            f"A long helm history does not reach a live render's memory: peak RSS {a['rss'] / 2**20:.1f} MiB with "
            f"{a['revisions']} revisions, {b['rss'] / 2**20:.1f} MiB with {b['revisions']} "
            f"({fmt_bytes(b['revisions'] * payload)} of release data on the server). Secrets are listed with "
            "`fieldSelector=type!=helm.sh/release.v1`, so the API server sends no revision, and every list is read "
            f"in pages of 500. Wall time: {a['seconds'] * 1000:.0f} ms and {b['seconds'] * 1000:.0f} ms"
            + (
                " (the API server still reads every revision to apply the selector)."
                if b["seconds"] > 1.2 * a["seconds"]
                else ", the same within the noise."
            )
            + " A dump of such a namespace holds every revision: the tool drops them right after parsing, never "
            "decoding one, but must parse the text."
        )
