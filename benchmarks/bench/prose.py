"""The prose of the report, written from the figures of the run: imports, profiles, what dominates."""

from __future__ import annotations

from .report import Report, Row
from .sections.offline import BARE, FIXTURE_JSON, IMPORTS
from .sections.profile import EMIT_PHASE, TEMPLATE_PHASE
from .timing import fmt_s


def startup_text(report: Report) -> str:
    s = report.startup
    if not s:
        return ""
    lines = [
        "`python -X importtime` (median of 5 runs; importtime itself slows imports down, so these are larger than "
        f"the wall-clock figures above). A bare `python -c pass` imports {s['baseline_ms']:.1f} ms worth of modules.",
        "",
        "| path | all imports | clearml_runai_gen.* with what it imports "
        "| third-party packages beyond the interpreter's (cumulative ms) "
        "| kubernetes | urllib3 | jinja2 | yaml (PyYAML) |",
        "|---|---:|---:|---|---|---|---|---|",
    ]
    for label, p in s["paths"].items():
        items = list(p["packages"].items())
        pk = ", ".join(f"{k} {v[0]}" for k, v in items[:8]) or "none"
        if len(items) > 8:
            pk += f", and {len(items) - 8} more"
        yn = {m: "imported" if p["heavy"][m] else "no" for m in ("kubernetes", "urllib3", "jinja2", "yaml")}
        lines.append(
            f"| `{label}` | {p['total_ms']:.1f} ms | {p['ours_ms']:.1f} ms | {pk} | {yn['kubernetes']} "
            f"| {yn['urllib3']} | {yn['jinja2']} | {yn['yaml']} |"
        )
    lines.append("")
    chains = []
    for label, p in s["paths"].items():
        for k, (ms, where) in list(p["packages"].items())[:4]:
            chains.append(f"- `{label}`: {k} ({ms} ms), {where}")
    lines += chains
    own = s["paths"].get("render --from-file", {}).get("own")
    if own:
        lines += [
            "",
            "The package's own module bodies on the `render --from-file` path (self time under importtime): "
            + ", ".join(f"{n.removeprefix('clearml_runai_gen.')} {ms:.1f} ms" for n, ms in own)
            + f"; {sum(ms for _, ms in own):.1f} ms in all.",
        ]
    k8s = s["paths"].get("render (live)", {}).get("kubernetes")
    if k8s:
        lines += [
            "",
            "What `import kubernetes` imports on the live path (cumulative ms under importtime): "
            + ", ".join(f"{n} {ms:.1f}" for n, ms in k8s[:8])
            + ".",
        ]
    live = s["paths"].get("render (live)", {}).get("packages", {})
    if "kubernetes_validate" in live:
        extra = sum(live[k][0] for k in ("kubernetes_validate", "jsonschema", "referencing", "rpds") if k in live)
        lines += [
            "",
            f"On the live path kubernetes_validate, jsonschema and their dependencies (about {extra:.0f} ms under "
            "importtime) are imported only because this venv has the test extras: kubernetes.dynamic imports "
            "kubernetes_validate whenever it is installed. A production install without it does not pay this.",
        ]
    return "\n".join(lines)


def profile_text(report: Report) -> str:
    p = report.profile
    if not p:
        return ""
    lines = [f"One project from the {p['source']} dump, in-process and warm (median of 40 calls each):", ""]
    lines += ["| phase | ms |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in p["phases_ms"].items()]
    lines.append(
        f"| the whole `render` command in-process (click included, write with fsync) | {p['in_process_ms']:.2f} |"
    )
    lines += [
        "",
        "cProfile of 30 in-process `render` commands, share of the time by package: "
        + ", ".join(f"{k} {v:.0f}%" for k, v in p["by_package"] if v >= 1)
        + ".",
        "",
    ]
    lines += ["Heaviest functions (own time, share):", ""]
    lines += [f"- `{name}`: {share:.0f}%" for name, share in p["top"][:6]]
    m = p["many"]
    lines += [
        "",
        f"{m['projects']} projects in one process: {m['render_ms_per_project']:.2f} ms per project to plan and emit, "
        f"{m['write_ms_per_file']:.2f} ms per file to write it atomically with fsync "
        f"(without the fsync: {m['plain_write_ms_per_file']:.2f} ms). "
        "cProfile of `render --output-dir` with 200 projects, by package: "
        + ", ".join(f"{k} {v:.0f}%" for k, v in p["many_by_package"] if v >= 1)
        + "; heaviest functions: "
        + ", ".join(f"`{n}` {s:.0f}%" for n, s in p["many_top"][:4])
        + ".",
    ]
    return "\n".join(lines)


def live_text(report: Report) -> str:
    lp = report.live_profile
    if not lp:
        return ""
    mods = ", ".join(lp["api modules"])
    return "\n".join(
        [
            f"A live `render` makes {len(lp['calls'])} HTTP requests ({', '.join(f'`{c}`' for c in lp['calls'])}). "
            "Its phases, in fresh interpreters (median of 7; the requests timed where the kubernetes client makes "
            "them, `ApiClient.call_api`):",
            "",
            "| phase | ms |",
            "|---|---:|",
            "| `import kubernetes` (the package imports client, config, dynamic, watch, stream, ...) "
            f"| {lp['import kubernetes (ms)']:.0f} |",
            f"| `main(['render', ...])` in all | {lp['main (ms)']:.0f} |",
            "| … of which: importing the generated API modules the tool used ("
            + (mods or "none")
            + f"; timed on their own) | {lp['import the API modules (ms)']:.0f} |",
            f"| … of which: the {len(lp['calls'])} HTTP requests (the first opens the TLS connection: "
            f"{lp['first request (ms)']:.0f} ms) | {lp['http (ms)']:.0f} |",
            f"| … of which: the rest (our imports, the kubeconfig, the work) | {lp['rest (ms)']:.0f} |",
            "",
            f"After a live render {lp['kubernetes modules']} `kubernetes*` modules are loaded.",
        ]
    )


def _first(report: Report, section: str, prefix: str) -> Row | None:
    return next((r for r in report.rows if r.section == section and r.name.startswith(prefix)), None)


def dominance(report: Report) -> list[str]:
    """Plain-language account of what dominates, from the figures of this run."""
    out = []
    bare, imp, p = report.find("1", BARE), report.find("1", IMPORTS), report.profile
    mine = _first(report, "1", "ours: render --from-file, clearml 3.10.5") or report.find("1", FIXTURE_JSON)
    if bare and imp and mine and p:
        wall, interp = mine.median * 1000, bare.median * 1000
        imports, work = imp.median * 1000 - interp, p["in_process_ms"]
        rest = wall - interp - imports - work
        share = lambda x: f"{x / wall * 100:.0f}%"  # noqa: E731
        out.append(
            f"One project offline ({mine.name.removeprefix('ours: ')}) takes {wall:.0f} ms: the interpreter's own "
            f"start-up {interp:.0f} ms ({share(interp)}), importing click, ruamel.yaml and the package "
            f"{imports:.0f} ms ({share(imports)}), the work itself (in-process, warm, on {p['source']}) "
            f"{work:.1f} ms ({share(work)}), "
            + (
                f"and {rest:.0f} ms ({share(rest)}) that these do not explain (the first, cold run of the code, the "
                "console-script wrapper, exit). "
                if rest > 2
                else "and nothing measurable beyond these (the parts, timed separately, agree with the whole within "
                f"{abs(rest):.0f} ms of noise). "
            )
            + ("Start-up and imports dominate." if interp + imports > max(work, rest) else "The work dominates.")
        )
        phases = p["phases_ms"]
        big = max(
            (k for k in phases if not k.startswith(("for comparison", "…")) and "YAML dump" not in k),
            key=lambda k: phases[k],
        )
        text = f"Of the work, the largest part is {big}: {phases[big]:.2f} ms"
        if big.startswith("find and read") and TEMPLATE_PHASE in phases:
            text += f", {phases[TEMPLATE_PHASE]:.2f} ms of it parsing the task-pod template text of the ConfigMap"
        if big != EMIT_PHASE:
            text += f"; emitting the values with ruamel.yaml takes {phases[EMIT_PHASE]:.2f} ms"
        out.append(text + ".")
    pairs = []
    for row in report.rows:
        if row.section == "1" and row.name.endswith("namespace dump (YAML)"):
            twin = report.find("1", row.name.replace("(YAML)", "(JSON)"))
            if twin:
                pairs.append(
                    f"{row.name.split(', ')[1]}: {fmt_s(row.median)} from YAML, {fmt_s(twin.median)} from JSON"
                )
    if pairs:
        out.append(
            "Real dumps, YAML against JSON: " + "; ".join(pairs) + ". YAML is parsed by libyaml (ruamel.yaml.clib) "
            "into ruamel.yaml's safe constructor; JSON by the standard library's C parser. helm's release Secrets are "
            "dropped right after parsing, never decoded."
        )
    if report.scale and p:
        m = p["many"]
        fsync = max(0.0, m["write_ms_per_file"] - m["plain_write_ms_per_file"])
        out.append(
            f"Per further project the tool spends {m['render_ms_per_project']:.2f} ms to plan and emit the values "
            f"(mostly ruamel.yaml's pure-Python round-trip emitter, see the profile below) and "
            f"{m['write_ms_per_file']:.2f} ms to write the file atomically ({fsync:.2f} ms of it the fsync of each "
            "file; measured in-process, one CPU). From 64 projects on, forked workers share both over the CPUs."
        )
    if report.live_profile:
        lp = report.live_profile
        ours = _first(report, "2", "ours: render (live)")
        whole = f"; a live render, measured above, takes {fmt_s(ours.median)} in all" if ours else ""
        floor = lp["import kubernetes (ms)"] + (bare.median * 1000 if bare else 0)
        out.append(
            f"Live, `import kubernetes` takes {lp['import kubernetes (ms)']:.0f} ms in a fresh interpreter (measured "
            f"in runs of their own{whole}; the tool calls the API paths through the client's ApiClient, so no "
            f"generated API module is imported). The {len(lp['calls'])} HTTP requests take {lp['http (ms)']:.0f} ms "
            f"in all, the first {lp['first request (ms)']:.0f} ms of it (TLS handshake). The floor of a live render "
            f"with the kubernetes client is the interpreter's start-up and that import, {floor:.0f} ms; the rest is "
            f"the tool's main() ({lp['main (ms)']:.0f} ms: its other imports, the kubeconfig, the requests, the "
            f"work). The interpreter's teardown of the client's modules at exit would add {lp['teardown (ms)']:.0f} "
            "ms more: a command that imported the client runs the exit handlers, flushes its output and leaves "
            "without it (cli._leave). Below that floor only a kubeconfig reader of the tool's own, in place of the "
            "client and its auth plugins, would go."
        )
    return out + report.findings


def operator_text(report: Report) -> str:
    """Section 7 in sentences: cold start against the README's way, idle, memory."""
    op = report.operator
    lines = []
    for key, entry in op.items():
        if not key.startswith("cold "):
            continue
        n = key.removeprefix("cold ")
        m = entry.get("metrics") or {}
        reconciles = sum(v for k, v in m.items() if k.startswith("clearml_runai_reconciles_total"))
        lines.append(
            f"- {n} projects: every agent Ready after {fmt_s(entry['ours'])} with the operator, "
            f"{fmt_s(entry['readme'])} the README's way ({entry['readme'] / entry['ours']:.1f}× as long); "
            f"objects applied after {fmt_s(entry['ours applied'])}, against {fmt_s(entry['readme applied'])} for "
            f"the script ({entry['readme applied'] / entry['ours applied']:.1f}×). The operator's last run made "
            f"{m.get('clearml_runai_api_writes_total', 0):.0f} writes and "
            f"{m.get('clearml_runai_api_reads_total', 0):.0f} reads besides its informers' "
            f"{sum(v for k, v in m.items() if k.startswith('clearml_runai_informer_lists_total')):.0f} LISTs, "
            f"in {reconciles:.0f} reconciles."
        )
    idle = op.get("idle")
    if idle:
        lines.append(
            f"- Idle {idle['seconds']} s with the agents Ready: {idle['writes']:.0f} writes and {idle['reads']:.0f} "
            f"reads by the operator besides its watches; the API server answered {idle['server']} writes in that "
            "time from all its clients (the control plane's own controllers, KAI, kwok)."
        )
    big = op.get("cold 200")
    if big and big["ours"] - big["ours applied"] > big["ours applied"]:
        lines.append(
            f"- With 200 projects, {fmt_s(big['ours'] - big['ours applied'])} of the operator's "
            f"{fmt_s(big['ours'])} pass after every object is applied: the control plane starting 200 agent pods "
            "(deployment and replica set controllers, scheduler, kwok) at its clients' request rates "
            "(kube-controller-manager's default `--kube-api-qps` 20; the scheduler logs client-side throttling). "
            "The README's way spreads the same pod start-ups over its own run, so they hide inside it."
        )
    mem = op.get("memory")
    if mem:
        steady = op.get("steady rss")
        lines.append(
            f"- {mem['projects']} projects: every agent's objects applied {fmt_s(mem['applied'])} after start; "
            f"peak resident memory {mem['rss'] / 2**20:.1f} MiB"
            + (f" (with 200 projects and 5 rotations: {steady / 2**20:.1f} MiB)." if steady else ".")
        )
    return "\n".join(lines)
