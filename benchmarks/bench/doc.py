"""docs/benchmarks.md: what runs, on which machine, the tables, the targets, and what stands in the way."""

from __future__ import annotations

import os

from .config import CHART_VERSION, GOALS, HISTORY, RELEASE, SRC_NS, UPSTREAMS
from .prose import dominance, live_text, operator_text, profile_text, startup_text
from .report import Report, history_table, results_table, scale_table, targets_table

INTRO = (
    "How `clearml-runai-gen` compares with the procedure it replaces (the five `kubectl get | jq | sed | "
    "kubectl create` pipelines of the Run:ai ClearML integration guide), on dumps of real upstream installs and "
    "live, how it scales with the number of Run:ai projects, what its start-up costs, what a long helm history "
    "costs, and how its operator compares with running `render` and `helm` per project. Every figure is the "
    "median of repeated runs after a warm-up; the cases of a section run interleaved."
)

REPRODUCE = """```bash
make bench                                  # prints the tables below
BENCH_ARGS=--write-docs make bench          # also rewrites this file
.cache/bench-venv/bin/python benchmarks/run.py --help   # options: --offline, --sections, --quick
```

`make bench` installs the tool as a user does (`pip install .`, without the test extras) into
`.cache/bench-venv`, and the pinned helm/kubectl, itself. It needs `jq` on the PATH (the seed pipelines use
it; Debian/Ubuntu: `apt-get install -y jq`). The live cases run on the local control plane of
`ci/cluster.sh`: one that already runs is used and left running, otherwise it is started and stopped again
(its first build takes long and is not part of the figures). `--offline` skips the live cases and measures
the dumps an earlier run left in `.cache/bench/dumps`. The code is in `benchmarks/bench/`, one module per
concern."""


def what_runs() -> list[str]:
    real = " and ".join(f"**{u.label}**" for u in UPSTREAMS)
    return [
        f"0. **Real installs.** The vendored upstream charts {real} (`sandbox/fixtures/upstream-charts/`) are "
        "installed with helm v4 on the local control plane (`--no-hooks`; the clearml chart without its "
        "elasticsearch, mongodb and redis subcharts; the clearml-agent chart's `kubeVersion` cap lifted in an "
        "unpacked copy) and dumped with the README's command, "
        "`kubectl get deploy,configmap,secret,service,serviceaccount -n NS -o yaml` (and `-o json`): every "
        "Deployment, ConfigMap, Secret, Service and ServiceAccount of the namespace, helm's release Secret included.",
        "1. **One project, offline.** `clearml-runai-gen render --project clearml --from-file <dump>` on each "
        "real dump (YAML and JSON), against the seed (`benchmarks/seed.sh files`: its five pipelines verbatim, "
        "`kubectl get` replaced by reading one `kubectl get KIND NAME -ojson` file per object, no final "
        "`kubectl create`) on the same install's objects (clearml 3.10.5, whose object names the seed hard-codes). "
        f"Also the small fixture of the seed's era, `flavour_a('{RELEASE}', '{SRC_NS}', '{CHART_VERSION}')` as an "
        "API server serves it, as JSON and YAML, and with three synthetic helm release Secrets.",
        "2. **One project, live.** On the real clearml 3.10.5 install: the seed (`benchmarks/seed.sh live`, its "
        "five real `kubectl get` piped through sed and jq) against `render`. API reads are counted from the "
        "kube-apiserver's `apiserver_request_total` (delta around one run, the lower of two) and in-process by "
        "wrapping the client's `ApiClient.call_api`.",
        "3. **Many projects.** `render --output-dir` for 1, 10, 100, 200 and 1000 projects in one invocation: "
        "offline (`--from-file` the real clearml 3.10.5 JSON dump, `--project` repeated) and live (`--project` "
        "repeated, and `--all-projects` over namespaces `runai-pN` labelled `runai/queue=pN`). After the last run "
        "of each case every file is checked: one per project, each parses, each holds its project and namespace.",
        "4. **Start-up.** Wall time of `clearml-runai-gen --help` (the console script), and `python -X importtime` "
        "of `main(['--help'])`, of the offline `render --from-file` and of the live `render`.",
        "5. **helm template** of `charts/clearml-runai-agent` with values rendered by the tool, helm v4 and v3, "
        "for scale.",
        f"6. **Long helm history.** The clearml 3.10.5 namespace with {HISTORY[0]} and then {HISTORY[1]} release "
        "revisions (copies of its real revision 1, as `helm upgrade` would add them): peak resident memory "
        "(`ru_maxrss`) and wall time of a live `render`, and of `render --from-file` on the README's dump of "
        "that namespace.",
        "7. **The operator.** `clearml-runai-gen operate --all-projects` (outside the cluster, the control plane's "
        "admin kubeconfig, the chart rendered by `clearml-runai-render` as the operator's image has it; one render "
        "each way, the renderer and a `helm template` process, is timed apart) reading a clearml 3.10.5 install "
        "of its own (`clearml-op`). **Cold "
        "start** with 1, 50 and 200 project namespaces (labelled `runai/queue`, half named `runai-<project>`, half "
        "not), from the process's start until every ClearMLAgent is Ready (objects applied, agent Deployment "
        "available: the control plane's deployment controller, scheduler and kwok run the pod), against the "
        "README's way on the same namespaces: `render --project P -o values.yaml` and `helm upgrade --install "
        "clearml-runai-P charts/clearml-runai-agent -n NS -f values.yaml`, one project after another as a "
        "person's script would, until every agent Deployment is available. The two ways alternate, each run on "
        "namespaces of its own, deleted and waited for before the next. With 200 projects Ready: **60 s idle** "
        "(the operator's own counters of writes and of reads besides its watches), **rotations** (a new access "
        "key in the source's Secret, until every agent Deployment's pod template changed) and **new project "
        "namespaces** one at a time (from the namespace's creation until its ClearMLAgent says its objects are "
        "applied). Last, **500 projects**: peak resident memory (`VmHWM` of the operator and of its renderer process, "
        "added: what its pod holds) after all are applied and 30 s idle. "
        "Finish lines are read from watches, not by polling.",
    ]


def obstacles(report: Report) -> list[str]:
    """For each target that misses: what stands in the way, in figures of this run."""
    out = []
    missed = {t.name for t in report.targets if t.ok is False}
    lp = report.live_profile
    if any(n.startswith(GOALS["live"].text) for n in missed) and lp:
        k8s, main = lp["import kubernetes (ms)"], lp["main (ms)"]
        out.append(
            f"**Live.** `import kubernetes` alone takes {k8s:.0f} ms: the package's `__init__` imports its config "
            "loader (with requests-oauthlib, oauthlib, PyYAML and, through its ApiResponse model, pydantic), its "
            "dynamic client, watch and stream modules, whatever one uses; the tool's own part of a live render "
            f"(main(), the {len(lp['calls'])} requests included) is {main:.0f} ms. The floor with the client is the "
            f"interpreter plus that import; only dropping the client (parsing kubeconfigs and running exec "
            "credential plugins ourselves) would go below it, and would give up the client's auth providers."
        )
    if GOALS["per-project"].text in missed and report.profile:
        m = report.profile["many"]
        cores = os.cpu_count() or 1
        out.append(
            f"**Each further project.** Planning and emitting one values file costs {m['render_ms_per_project']:.2f} "
            f"ms and writing it atomically {m['write_ms_per_file']:.2f} ms (in-process, one CPU); ruamel.yaml's "
            "round-trip emitter, the only one that writes the comments the values carry, is pure Python (libyaml's "
            f"C emitter writes no comments). Spread over {cores} CPUs by forked workers, the floor is about "
            f"{(m['render_ms_per_project'] + m['write_ms_per_file']) / cores:.2f} ms a project."
        )
    op = report.operator
    big = op.get("cold 200")
    if big and any(n.startswith("operator cold start") or n.startswith("a rotation") for n in missed):
        out.append(
            f"**Operator.** Of its {big['ours']:.1f} s to 200 agents Ready, {big['ours'] - big['ours applied']:.1f} s "
            "come after its last write: the control plane starting the agent pods at its controllers' client rate "
            "(kube-controller-manager's default of 20 requests/s), which the operator does not control. Its own "
            "part (objects applied, and a rotation) is CPU on the machine's cores shared with the API server: per "
            "project one render of the packaged chart by helm's library (the one source of truth, run rather than "
            "re-implemented) and its 11 writes."
        )
    if GOALS["help"].text in missed:
        out.append("**--help.** click and the package's modules: see the start-up imports above.")
    return out


def markdown(report: Report, started: str, duration: float, quick: bool) -> str:
    machine = "\n".join(f"- {k}: {v}" for k, v in report.machine.items())
    loads = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    run_line = (
        f"Run on {started} UTC, {duration / 60:.1f} minutes"
        + (", quick mode (3 repeats)" if quick else "")
        + (f"; skipped: {'; '.join(report.skipped)}" if report.skipped else "")
        + ". The min – max column shows the spread of the runs: other work on the machine (see the load averages) "
        "widens it; the medians are what the targets are judged on."
    )
    parts = ["# Benchmarks", "", INTRO, "", "## Reproduce", "", REPRODUCE, "", "What runs:", "", *what_runs(), ""]
    parts += ["## Machine", "", machine, f"- load average at the end: {loads}", "", run_line, ""]
    parts += ["## Results", "", results_table(report), ""]
    if report.scale:
        parts += ["### Many projects (medians)", "", scale_table(report), ""]
    if report.history:
        parts += ["### Long helm history (medians of 5)", "", history_table(report), ""]
    if report.operator:
        parts += ["### The operator", "", operator_text(report), ""]
    if report.startup:
        parts += ["### Start-up imports", "", startup_text(report), ""]
    parts += ["## Targets", "", targets_table(report), ""]
    blocked = obstacles(report)
    if blocked:
        parts += ["## What stands in the way", ""] + [f"- {b}" for b in blocked] + [""]
    parts += ["## Where the time goes", ""] + [f"- {line}" for line in dominance(report)] + [""]
    if report.profile:
        parts += [profile_text(report), ""]
    if report.live_profile:
        parts += [live_text(report), ""]
    if report.notes:
        parts += ["## Import checks", ""] + [f"- {n}" for n in report.notes] + [""]
    if report.errors:
        parts += ["## Errors", ""] + [f"- {e}" for e in report.errors] + [""]
    return "\n".join(parts)
