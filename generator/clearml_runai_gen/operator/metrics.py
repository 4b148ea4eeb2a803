"""Prometheus metrics of the operator, in the text exposition format, from the standard library."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def exposition(
    results: dict[str, int],
    durations: list[float],
    ready: dict[Any, bool],
    writes: int,
    leading: bool = True,
    reads: int = 0,
    lists: dict[str, int] | None = None,
) -> str:
    """The metrics as Prometheus reads them (pure)."""
    lines = [
        "# HELP clearml_runai_reconciles_total Reconciles of ClearMLAgents, by result.",
        "# TYPE clearml_runai_reconciles_total counter",
    ]
    lines += [f'clearml_runai_reconciles_total{{result="{r}"}} {n}' for r, n in sorted(results.items())]
    lines += [
        "# HELP clearml_runai_reconcile_seconds Duration of the last reconciles (up to 1000).",
        "# TYPE clearml_runai_reconcile_seconds summary",
        f"clearml_runai_reconcile_seconds_sum {sum(durations):.6f}",
        f"clearml_runai_reconcile_seconds_count {len(durations)}",
        "# HELP clearml_runai_agents ClearMLAgents by readiness.",
        "# TYPE clearml_runai_agents gauge",
        f'clearml_runai_agents{{ready="true"}} {sum(1 for v in ready.values() if v)}',
        f'clearml_runai_agents{{ready="false"}} {sum(1 for v in ready.values() if not v)}',
        "# HELP clearml_runai_api_writes_total Writes the operator made to the API server.",
        "# TYPE clearml_runai_api_writes_total counter",
        f"clearml_runai_api_writes_total {writes}",
        "# HELP clearml_runai_api_reads_total Reads the operator sent to the API server apart from its informers.",
        "# TYPE clearml_runai_api_reads_total counter",
        f"clearml_runai_api_reads_total {reads}",
        "# HELP clearml_runai_informer_lists_total LIST requests of the informers (again after a broken watch).",
        "# TYPE clearml_runai_informer_lists_total counter",
        *(f'clearml_runai_informer_lists_total{{informer="{k}"}} {n}' for k, n in sorted((lists or {}).items())),
        "# HELP clearml_runai_leader 1 while this replica holds the Lease and acts, 0 while it stands by.",
        "# TYPE clearml_runai_leader gauge",
        f"clearml_runai_leader {int(leading)}",
    ]
    return "\n".join(lines) + "\n"


def serve_metrics(address: tuple[str, int], operator: Any) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path != "/metrics":
                self.send_error(404)
                return
            r = operator.reconciler
            body = exposition(
                dict(r.results),
                list(r.durations),
                dict(r.ready),
                operator.kube.writes,
                operator.leading.is_set(),
                getattr(operator.kube, "reads", 0),
                {f"{i.kind}:{i.selector or 'all'}": i.lists for i in getattr(operator, "informers", [])},
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(address, Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
