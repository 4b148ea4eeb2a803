"""An API server that answers strangely (pages forever, answers no list) is one line, never a hang."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.unit.test_hostile_input import run_cli

Answer = Callable[[dict[str, list[str]]], object]


@pytest.fixture
def api_server(tmp_path: Path) -> Iterator[Callable[[Answer], Path]]:
    """A local HTTP server answering every GET with `answer(query)` as JSON; yields a kubeconfig maker."""
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> Path:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = json.dumps(answer(parse_qs(urlsplit(self.path).query))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": "x",
            "clusters": [{"name": "x", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
            "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
            "users": [{"name": "x", "user": {"token": "t"}}],
        }
        path = tmp_path / "kubeconfig"
        path.write_text(json.dumps(cfg))
        return path

    yield start
    for s in servers:
        s.shutdown()


def _page(n: int, token: str) -> dict[str, object]:
    items = [{"metadata": {"name": f"d{i}"}} for i in range(n)]
    return {"kind": "DeploymentList", "metadata": {"continue": token}, "items": items}


@pytest.mark.parametrize(
    "name,answer,needle",
    [
        ("the same continue token again", lambda q: _page(1, "again"), "keeps paging"),
        ("endless pages", lambda q: _page(500, f"t{len(q.get('continue', [''])[0])}x"), "keeps paging"),
        ("no list", lambda q: {"kind": "Status", "items": "nope"}, "answered no list of objects"),
        ("a list of strings", lambda q: {"items": ["a", "b"]}, "answered no list of objects"),
    ],
)
def test_a_strange_api_server_is_one_line(api_server, name: str, answer: Answer, needle: str) -> None:  # type: ignore[no-untyped-def]
    kubeconfig = api_server(answer)
    code, stdout, stderr = run_cli(["render", "--project", "p", "--kubeconfig", str(kubeconfig)])
    assert code == 1 and stdout == "", stderr
    assert len(stderr.splitlines()) == 1 and needle in stderr, stderr
