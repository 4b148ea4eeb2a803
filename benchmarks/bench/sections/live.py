"""2: one project, live: `render` against the seed's `kubectl get | sed | jq` pipelines, on a real install."""

from __future__ import annotations

import json
from typing import Any

from .. import seed
from ..checks import check_values
from ..cluster import Cluster, calls_in_process, count_delta
from ..config import CLI, PROJECT, PY, SEED_INSTALL
from ..report import fmt_delta
from ..timing import BenchError, Case, bench, log, med, run, timed
from . import Context


def run_section(ctx: Context) -> None:
    log("2: one project, live: render against the seed's kubectl get | jq pipelines")
    cluster, report = ctx.cluster, ctx.report
    if cluster is None or ctx.dump(seed_only=True) is None:
        raise BenchError(f"no live install of {SEED_INSTALL.label} to read")
    ns, env = SEED_INSTALL.namespace, cluster.env
    seed_cmd = seed.checked(seed.live_cmd(ns, PROJECT), PROJECT, env)
    ours_cmd = [CLI, "render", "--project", PROJECT, "--clearml-namespace", ns]
    problem = check_values(run(ours_cmd, env=env).decode(), PROJECT, f"runai-{PROJECT}")
    if problem:
        raise BenchError(problem)
    seed_case = Case(f"{seed.NAME_LIVE}, {SEED_INSTALL.label}", lambda _: timed(seed_cmd, env, "seed.sh"))
    ours = Case(f"ours: render (live), {SEED_INSTALL.label}", lambda _: timed(ours_cmd, env, "render"))
    bench([seed_case, ours], ctx.repeats)
    _, n_ours, d_ours = min((count_delta(cluster, lambda: timed(ours_cmd, env)) for _ in range(2)), key=lambda x: x[1])
    _, n_seed, d_seed = min((count_delta(cluster, lambda: timed(seed_cmd, env)) for _ in range(2)), key=lambda x: x[1])
    argv = [str(a) for a in ours_cmd[1:]]
    calls = calls_in_process(argv, env)
    seed_row = report.add("2", seed_case, f"real kubectl; {n_seed} API reads ({fmt_delta(d_seed)})")
    ours_row = report.add("2", ours, f"{n_ours} API reads ({fmt_delta(d_ours)}); {len(calls)} counted in-process")
    report.ratio_target("live", ours_row, seed_row)
    report.live_profile = live_profile(cluster, argv, calls)


# A live render in a fresh interpreter: `import kubernetes` first (timed), then the tool's main() with every
# HTTP request timed where the kubernetes client makes it. Prints the phases as JSON.
LIVE_PROFILE = """
import contextlib, io, json, sys, time
argv = json.loads(sys.argv[1])
t0 = time.perf_counter()
import kubernetes
t1 = time.perf_counter()
from kubernetes.client.api_client import ApiClient
original = ApiClient.call_api
http = []
def timed(self, *args, **kwargs):
    start = time.perf_counter()
    try:
        return original(self, *args, **kwargs)
    finally:
        http.append(time.perf_counter() - start)
ApiClient.call_api = timed
from clearml_runai_gen.cli import main
t2 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    rc = main(argv)
t3 = time.perf_counter()
mods = sorted(m for m in sys.modules if m.startswith("kubernetes.client.api.") and m != "kubernetes.client.api")
k8s = len([m for m in sys.modules if m.startswith("kubernetes")])
print(json.dumps({"rc": rc, "import": t1 - t0, "main": t3 - t2, "http": http, "api_modules": mods, "k8s": k8s}))
"""

# what importing the generated API modules the tool loaded costs, after `import kubernetes`
API_IMPORT = """
import importlib, json, sys, time
import kubernetes
t0 = time.perf_counter()
for m in json.loads(sys.argv[1]):
    importlib.import_module(m)
print(json.dumps(time.perf_counter() - t0))
"""


def live_profile(cluster: Cluster, argv: list[str], calls: list[str]) -> dict[str, Any]:
    """Where a live render's time goes, in fresh interpreters (median of 7)."""
    samples = []
    for _ in range(7):
        s = json.loads(run([PY, "-c", LIVE_PROFILE, json.dumps(argv)], env=cluster.env))
        if s["rc"] != 0:
            raise BenchError(f"render in the live profile failed (exit {s['rc']})")
        samples.append(s)
    mods = samples[0]["api_modules"]
    api_ms = (
        med(json.loads(run([PY, "-c", API_IMPORT, json.dumps(mods)], env=cluster.env)) for _ in range(5)) * 1000
        if mods
        else 0.0
    )
    # what the interpreter's teardown of the client's modules costs at exit (the CLI leaves without it)
    teardown = [
        timed([PY, "-c", "import kubernetes"]) - timed([PY, "-c", "import kubernetes, os; os._exit(0)"])
        for _ in range(7)
    ]
    main_ms = med(s["main"] for s in samples) * 1000
    http_ms = med(sum(s["http"]) for s in samples) * 1000
    return {
        "import kubernetes (ms)": med(s["import"] for s in samples) * 1000,
        "api modules": [m.removeprefix("kubernetes.client.api.") for m in mods],
        "import the API modules (ms)": api_ms,
        "http (ms)": http_ms,
        "first request (ms)": med(s["http"][0] for s in samples if s["http"]) * 1000,
        "rest (ms)": main_ms - http_ms - api_ms,
        "main (ms)": main_ms,
        "teardown (ms)": med(teardown) * 1000,
        "calls": calls,
        "kubernetes modules": samples[0]["k8s"],
    }
