"""7: the operator. Cold start with 1, 50 and 200 project namespaces against the README's way (`render` and
`helm upgrade --install`, one project after another, as a person's script would), a new project's latency,
a credentials rotation with 200 projects, its API requests and idle writes, and its memory with 500 projects.

Finish line of a cold start, both ways: every agent Ready, i.e. its objects applied and its Deployment
available (the control plane's deployment controller, scheduler and kwok run the pod). Each run uses
namespaces of its own and deletes them (and waits) before the next.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import statistics
import time
from typing import Any

from ..cluster import Cluster
from ..config import BENCH_LABEL, CHART, CLI, HELM, ROOT, SEED_INSTALL
from ..inputs import install_upstream
from ..operate import AGENT_NAME, RENDERER, OperatorProcess, Watch, agent_ready, deployment_available, objects_applied
from ..report import Row, Target
from ..timing import BenchError, fmt_s, log, run
from . import Context

SIZES = (1, 50, 200)
RUNS = {1: 5, 50: 3, 200: 3}
CRD = ROOT / "charts" / "clearml-runai-operator" / "crds" / "clearmlagents.clearml-runai.io.yaml"
AGENTS = "/apis/clearml-runai.io/v1alpha1/clearmlagents"
DEPLOYMENTS = "/apis/apps/v1/deployments"
RUN_LABEL = "clearml-runai-bench-run"
# a second copy of the real install, its services off the node ports the first one holds
SOURCE = dataclasses.replace(
    SEED_INSTALL,
    namespace="clearml-op",
    sets=(*SEED_INSTALL.sets, *(f"{c}.service.type=ClusterIP" for c in ("apiserver", "fileserver", "webserver"))),
)


@dataclasses.dataclass
class Setting:
    cluster: Cluster
    ctx: Context
    agents: Watch  # ClearMLAgents: Ready
    applied: Watch  # ClearMLAgents: objects applied
    deploys: Watch  # agent Deployments: available
    secret: tuple[str, str]  # the source's credentials Secret and the key of its access key

    def projects(self, tag: str, n: int) -> list[str]:
        """n project namespaces labelled runai/queue (half named runai-<project>, half not), waiting for agents."""
        objs, names = [], []
        for i in range(n):
            project = f"{tag}p{i}"
            name = f"runai-{project}" if i % 2 == 0 else f"team-{project}"
            labels = {"runai/queue": project, BENCH_LABEL: "true", RUN_LABEL: tag}
            objs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
            names.append(name)
        for i in range(0, n, 100):
            self.cluster.apply(objs[i : i + 100])
        self.cluster.created += names
        return names

    def remove(self, tag: str) -> None:
        """The run's namespaces, deleted and waited for (their deletion would load the next run)."""
        sel = f"{RUN_LABEL}={tag}"
        self.cluster.kubectl("delete", "namespaces", "-l", sel, "--wait=false")
        self.cluster.kubectl("wait", "--for=delete", "namespaces", "-l", sel, "--timeout=900s")

    def operator(self, tag: str, resync: int = 300) -> OperatorProcess:
        return OperatorProcess(self.cluster, SOURCE.namespace, self.ctx.work / f"operator-{tag}.log", resync)


def _setup(ctx: Context) -> Setting:
    cluster = ctx.cluster
    if cluster is None:
        raise BenchError("no control plane")
    # the operator acts on every namespace labelled runai/queue: earlier sections' are removed first, and
    # someone else's stop the section (the operator would write into their namespaces)
    theirs = cluster.kubectl("get", "namespaces", "-l", f"runai/queue,{BENCH_LABEL}!=true", "-o", "name").split()
    if theirs:
        raise BenchError(
            f"{len(theirs)} Run:ai project namespaces not made by the benchmark ({theirs[0].decode()}, ...) are on "
            "the control plane, and the operator would act on them: run section 7 on a control plane of its own"
        )
    if cluster.kubectl("get", "namespaces", "-l", "runai/queue", "-o", "name").strip():
        log("7: removing the Run:ai project namespaces of the earlier sections, and waiting until they are gone")
        cluster.kubectl("delete", "namespaces", "-l", "runai/queue", "--wait=false")
        cluster.kubectl("wait", "--for=delete", "namespaces", "-l", "runai/queue", "--timeout=900s")
    cluster.kubectl("apply", "--server-side", "-f", str(CRD))
    cluster.kubectl("wait", "--for=condition=Established", "crd/clearmlagents.clearml-runai.io", "--timeout=60s")
    if cluster.kubectl("get", "namespace", SOURCE.namespace, "--ignore-not-found", "-o", "name").strip():
        cluster.helm("uninstall", SOURCE.release, "-n", SOURCE.namespace, "--ignore-not-found")
    else:
        cluster.namespace(SOURCE.namespace)
    install_upstream(cluster, SOURCE, ctx.work)
    return Setting(
        cluster,
        ctx,
        Watch(cluster, "ClearMLAgent", AGENTS, "", agent_ready),
        Watch(cluster, "ClearMLAgent", AGENTS, "", objects_applied),
        Watch(cluster, "Deployment", DEPLOYMENTS, AGENT_NAME, deployment_available),
        _credentials(cluster),
    )


def _credentials(cluster: Cluster) -> tuple[str, str]:
    """The Secret and key the source's agent reads its access key from (what a rotation changes)."""
    deploys = json.loads(cluster.kubectl("get", "deployments", "-n", SOURCE.namespace, "-o", "json"))["items"]
    for d in deploys:
        for c in d["spec"]["template"]["spec"]["containers"]:
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if e["name"] == "CLEARML_API_ACCESS_KEY" and ref:
                    return ref["name"], ref["key"]
    raise BenchError(f"no agent in {SOURCE.namespace} reads CLEARML_API_ACCESS_KEY from a Secret")


def _cold_operator(s: Setting, n: int, tag: str, keep: dict[str, Any]) -> tuple[float, float]:
    """(every agent's objects applied, every agent Ready), seconds from the operator's start."""
    names = s.projects(tag, n)
    s.agents.reset(names)
    s.applied.reset(names)
    op = s.operator(tag)
    try:
        t0 = op.started
        done = s.agents.wait(names, 300 + 3 * n, f"operator cold start, {n} projects", op.alive)
        applied = s.applied.wait(names, 60, "objects applied")
        keep.update(op.metrics())
    finally:
        op.stop()
    s.remove(tag)
    return applied - t0, done - t0


def _cold_readme(s: Setting, n: int, tag: str) -> tuple[float, float]:
    """(the script's end: every release installed, every agent Deployment available), seconds from its start."""
    names = s.projects(tag, n)
    s.deploys.reset(names)
    env = s.cluster.helm_env
    t0 = time.perf_counter()
    for i, ns in enumerate(names):
        project = f"{tag}p{i}"
        values = s.ctx.work / f"{project}.values.yaml"
        run(
            [CLI, "render", "--project", project, "--clearml-namespace", SOURCE.namespace, "-o", values],
            env,
            what="render",
        )
        run(
            [HELM["helm v4"], "upgrade", "--install", f"clearml-runai-{project}", CHART, "-n", ns, "-f", values],
            env,
            what="helm upgrade --install",
        )
        values.unlink()
    applied = time.perf_counter()
    done = s.deploys.wait(names, 300 + 3 * n, f"render + helm, {n} projects")
    s.remove(tag)
    return applied - t0, done - t0


def _cold_starts(s: Setting) -> None:
    report, quick = s.ctx.report, s.ctx.quick
    for n in SIZES:
        runs = 1 if quick else RUNS[n]
        log(f"7: cold start with {n} project namespaces, operator and the README's way, {runs} runs each")
        ours, readme, metrics = [], [], {}
        for rep in range(runs):
            for way in ("o", "h") if rep % 2 == 0 else ("h", "o"):
                tag = f"c{n}{way}{rep}r{int(time.time()) % 10000}"
                if way == "o":
                    ours.append(_cold_operator(s, n, tag, metrics))
                else:
                    readme.append(_cold_readme(s, n, tag))
        ours_ready, readme_ready = [r for _, r in ours], [r for _, r in readme]
        report.rows += [
            Row("7", f"operator cold start: {n} projects until every agent Ready", ours_ready, _requests_note(metrics)),
            Row(
                "7", f"README's way × {n} (render + helm upgrade --install), until every agent available", readme_ready
            ),
            Row("7", f"operator cold start: {n} projects until every agent's objects applied", [a for a, _ in ours]),
            Row("7", f"README's way × {n}: the script alone (every release installed)", [a for a, _ in readme]),
        ]
        report.operator[f"cold {n}"] = {
            "ours": statistics.median(ours_ready),
            "readme": statistics.median(readme_ready),
            "ours applied": statistics.median(a for a, _ in ours),
            "readme applied": statistics.median(a for a, _ in readme),
            "metrics": metrics,
        }
    big = report.operator.get(f"cold {SIZES[-1]}")
    if big:
        for what, ours_key, readme_key in (
            ("every agent Ready", "ours", "readme"),
            ("objects applied / releases installed", "ours applied", "readme applied"),
        ):
            a, b = big[ours_key], big[readme_key]
            report.targets.append(Target(
                f"operator cold start with {SIZES[-1]} projects ≤ 1/10 of the README's way ({what})",
                f"{fmt_s(a)} vs {fmt_s(b)}: {a / b:.3f}",
                "≤ 0.100",
                a / b <= 0.1,
                f"holds with {fmt_s(b / 10 - a)} to spare" if a / b <= 0.1 else f"misses by {fmt_s(a - b / 10)}",
            ))  # fmt: skip


def _requests_note(metrics: dict[str, Any]) -> str:
    if not metrics:
        return ""
    lists = sum(v for k, v in metrics.items() if k.startswith("clearml_runai_informer_lists_total"))
    writes = metrics.get("clearml_runai_api_writes_total", 0)
    reads = metrics.get("clearml_runai_api_reads_total", 0)
    return f"operator's requests: {lists:.0f} informer LISTs, {reads:.0f} other reads, {writes:.0f} writes"


def _rotate(s: Setting, names: list[str], value: str) -> float:
    """A new access key in the source's Secret; seconds until every agent Deployment's pod template changed."""
    before = {ns: s.deploys.last[ns]["spec"]["template"] for ns in names}
    watch = Watch(s.cluster, "Deployment", DEPLOYMENTS, AGENT_NAME, lambda d: d["spec"]["template"] != before.get(
        d["metadata"]["namespace"], d["spec"]["template"]))  # fmt: skip
    try:
        name, key = s.secret
        patch = json.dumps({"data": {key: base64.b64encode(value.encode()).decode()}})
        t0 = time.perf_counter()
        s.cluster.kubectl("patch", "secret", name, "-n", SOURCE.namespace, "--type=merge", "-p", patch)
        return watch.wait(names, 300, f"rotation with {len(names)} projects") - t0
    finally:
        watch.close()


def _new_project(s: Setting, tag: str, i: int) -> float:
    from clearml_runai_gen.kube import api_request, load_api_client

    api = load_api_client(s.cluster.kubeconfig, None)
    project = f"{tag}n{i}"
    ns = f"team-{project}"
    body = {"metadata": {"name": ns, "labels": {"runai/queue": project, BENCH_LABEL: "true", RUN_LABEL: tag}}}
    t0 = time.perf_counter()
    api_request(api, "POST", "/api/v1/namespaces", what="create a namespace", body=body)
    s.cluster.created.append(ns)
    return s.applied.wait([ns], 60, f"new project {ns}") - t0


def _steady(s: Setting, n: int) -> None:
    """n projects applied and Ready: 60 s idle, rotations, new project namespaces one at a time."""
    report, quick = s.ctx.report, s.ctx.quick
    tag = f"s{n}r{int(time.time()) % 10000}"
    names = s.projects(tag, n)
    op = s.operator(tag)
    try:
        s.agents.wait(names, 300 + 3 * n, f"operator with {n} projects", op.alive)
        s.deploys.wait(names, 120, "agent Deployments available")
        idle = 20 if quick else 60
        log(f"7: {n} projects Ready; {idle} s idle")
        time.sleep(5)  # the last status writes and Deployment events settle
        m0, api0 = op.metrics(), s.cluster.write_requests()
        time.sleep(idle)
        m1, api1 = op.metrics(), s.cluster.write_requests()
        writes = m1["clearml_runai_api_writes_total"] - m0["clearml_runai_api_writes_total"]
        reads = m1["clearml_runai_api_reads_total"] - m0["clearml_runai_api_reads_total"]
        report.operator["idle"] = {"seconds": idle, "writes": writes, "reads": reads, "server": api1 - api0}
        report.targets.append(
            Target(
                f"idle with {n} projects: no write ({idle} s)",
                f"{writes:.0f} writes, {reads:.0f} reads besides the watches",
                "0 writes",
                writes == 0,
                "",
            )
        )
        rotations = [_rotate(s, names, f"AKBENCH{tag}{r}") for r in range(2 if quick else 5)]
        report.rows.append(Row("7", f"rotation with {n} projects: until every agent's pod template changed", rotations))
        best = statistics.median(rotations)
        report.targets.append(
            Target(
                f"a rotation with {n} projects rolls every agent ≤ 10 s",
                fmt_s(best),
                "≤ 10 s",
                best <= 10,
                f"{'holds' if best <= 10 else 'misses'} by {fmt_s(abs(10 - best))}",
            )
        )
        lat = [_new_project(s, tag, i) for i in range(10 if quick else 30)]
        q = statistics.quantiles(lat, n=20, method="inclusive")
        p50, p95 = statistics.median(lat), q[18]
        report.rows.append(
            Row(
                "7",
                f"new project namespace (operator running with {n}) until its objects applied",
                lat,
                f"p50 {fmt_s(p50)}, p95 {fmt_s(p95)}",
            )
        )
        report.targets.append(
            Target(
                "a new project namespace -> its objects applied: p95 ≤ 2 s",
                f"p50 {fmt_s(p50)}, p95 {fmt_s(p95)} ({len(lat)} namespaces)",
                "p95 ≤ 2 s",
                p95 <= 2,
                f"{'holds' if p95 <= 2 else 'misses'} by {fmt_s(abs(2 - p95))}",
            )
        )
        report.operator["steady rss"] = op.peak_rss()
    finally:
        op.stop()
    s.remove(tag)


def _memory(s: Setting, n: int) -> None:
    """Peak resident memory of the operator with n projects: cold start, 30 s idle, one rotation."""
    tag = f"m{n}r{int(time.time()) % 10000}"
    names = s.projects(tag, n)
    op = s.operator(tag)
    try:
        t0 = op.started
        done = s.applied.wait(names, 300 + 3 * n, f"operator with {n} projects", op.alive)
        time.sleep(30)
        own, renderer = op.peak_rss_apart()
        rss = own + renderer
        s.ctx.report.operator["memory"] = {"projects": n, "applied": done - t0, "rss": rss}
        mib = rss / 2**20
        s.ctx.report.targets.append(
            Target(
                f"peak RSS of the operator with {n} projects ≤ 150 MiB (with its renderer process)",
                f"{mib:.1f} MiB: the operator {own / 2**20:.1f}, its renderer {renderer / 2**20:.1f} "
                f"(objects of all {n} applied in {fmt_s(done - t0)})",
                "≤ 150 MiB",
                mib <= 150,
                f"{abs(150 - mib):.1f} MiB {'to spare' if mib <= 150 else 'over'}",
            )
        )
    finally:
        op.stop()
    s.remove(tag)


def _render_cost(s: Setting) -> None:
    """One agent's chart rendered, the two ways the operator has: its renderer process (the image's) and a
    `helm template` process per render (a pip install without the renderer). Alternating, one run."""
    from clearml_runai_gen.operator.objects import ChartRenderer, render_chart
    from clearml_runai_gen.parse import load_document

    out = s.ctx.work / "render-cost.values.yaml"
    run([CLI, "render", "--project", "cost", "--clearml-namespace", SOURCE.namespace, "-o", out], s.cluster.helm_env)
    values = load_document(out.read_text(), str(out), "")
    out.unlink()
    renderer, ns = ChartRenderer(str(RENDERER)), values["runai"]["namespace"]
    times: dict[str, list[float]] = {"renderer": [], "helm": []}

    def helm(*args: Any) -> Any:
        return render_chart(*args, helm=str(HELM["helm v4"]))

    try:
        renderer("clearml-runai-cost", ns, values)  # its start, once per operator process
        for _ in range(3 if s.ctx.quick else 31):
            for way, render in (("renderer", renderer), ("helm", helm)):
                t0 = time.perf_counter()
                render("clearml-runai-cost", ns, values)
                times[way].append(time.perf_counter() - t0)
    finally:
        renderer.close()
    s.ctx.report.rows += [
        Row("7", "render one agent's chart: clearml-runai-render (the image's; one process)", times["renderer"]),
        Row("7", "render one agent's chart: a helm template process (no renderer)", times["helm"]),
    ]


def run_section(ctx: Context) -> None:
    log("7: the operator (set-up: its CRD, a clearml 3.10.5 install of its own)")
    s = _setup(ctx)
    try:
        _render_cost(s)
        _cold_starts(s)
        _steady(s, SIZES[-1])
        _memory(s, 500)
    finally:
        for w in (s.agents, s.applied, s.deploys):
            w.close()
