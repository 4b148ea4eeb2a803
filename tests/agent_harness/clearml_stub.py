"""A tiny in-memory stand-in for the ClearML API server, served on 127.0.0.1.

Only the REST calls the clearml-agent k8s glue makes while it pulls and schedules one task are
implemented (auth.login, queues.*, tasks.*, events.add_batch). Every call is recorded in
``ClearMLStubServer.calls``; calls to endpoints the stub does not know are answered with a ClearML
style 404 error and also recorded in ``ClearMLStubServer.unhandled``, so a test can assert the agent
stayed on the known path.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The open-source clearml-server 2.x answers with feature_set "basic"; the agent then takes the
# same code paths as against the server our chart talks to.
DEFAULT_API_VERSION = "2.31"
DEFAULT_SERVER_VERSION = "2.0.0"
DEFAULT_FEATURE_SET = "basic"

STUB_USER_ID = "harness-user"
STUB_COMPANY_ID = "harness-company"

_PATH_RE = re.compile(r"^/(?:v(?P<version>[0-9.]+)/)?(?P<service>[a-z_]+)\.(?P<action>[a-z_]+)$")


class StubError(Exception):
    """A ClearML API error answer (HTTP code, result_subcode, message)."""

    def __init__(self, code: int, subcode: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.subcode = subcode
        self.msg = msg


@dataclass(frozen=True)
class ApiCall:
    """One REST call the agent made to the stub."""

    service: str
    action: str
    version: str | None
    method: str
    body: Any
    status: int

    @property
    def endpoint(self) -> str:
        return f"{self.service}.{self.action}"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def make_token(*, api_version: str, server_version: str, feature_set: str, ttl_sec: int = 24 * 3600) -> str:
    """A JWT shaped like the one clearml-server returns from auth.login (HS256, local key)."""
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT"}
    payload = {
        "identity": {
            "user": STUB_USER_ID,
            "company": STUB_COMPANY_ID,
            "role": "user",
            "user_name": "harness",
            "company_name": "harness",
        },
        "env": "<unknown>",
        "api_version": api_version,
        "server_version": server_version,
        "feature_set": feature_set,
        "iat": now,
        "exp": now + ttl_sec,
    }
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode("utf-8")) for part in (header, payload)
    )
    signature = hmac.new(b"clearml-stub-key", signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def _project(doc: dict[str, Any], only_fields: list[str] | None) -> dict[str, Any]:
    """Apply a ClearML ``only_fields`` projection (dotted paths); ``id`` is always returned."""
    if not only_fields:
        return copy.deepcopy(doc)
    out: dict[str, Any] = {"id": doc.get("id")}
    for dotted in only_fields:
        parts = dotted.split(".")
        src: Any = doc
        for part in parts:
            if not isinstance(src, dict) or part not in src:
                src = None
                break
            src = src[part]
        if src is None:
            continue
        dst = out
        for part in parts[:-1]:
            dst = dst.setdefault(part, {})
        dst[parts[-1]] = copy.deepcopy(src)
    return out


@dataclass
class _State:
    queues: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    hyperparams: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    log_events: list[dict[str, Any]] = field(default_factory=list)


class ClearMLStubServer:
    """Threaded HTTP server on 127.0.0.1 answering the ClearML REST calls of the k8s glue.

    Use as a context manager; ``url`` is the value for ``CLEARML_API_HOST``.
    """

    def __init__(
        self,
        *,
        api_version: str = DEFAULT_API_VERSION,
        server_version: str = DEFAULT_SERVER_VERSION,
        feature_set: str = DEFAULT_FEATURE_SET,
    ) -> None:
        self.api_version = api_version
        self.server_version = server_version
        self.feature_set = feature_set
        self._lock = threading.RLock()
        self._state = _State()
        self.calls: list[ApiCall] = []
        self.unhandled: list[ApiCall] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ setup helpers

    def add_queue(self, name: str, queue_id: str | None = None) -> str:
        queue_id = queue_id or uuid.uuid4().hex
        with self._lock:
            self._state.queues[queue_id] = {
                "id": queue_id,
                "name": name,
                "user": STUB_USER_ID,
                "company": STUB_COMPANY_ID,
                "created": _now(),
                "tags": [],
                "system_tags": [],
                "entries": [],
            }
        return queue_id

    def add_task(self, task_id: str, *, image: str, name: str = "harness task", **fields: Any) -> None:
        task: dict[str, Any] = {
            "id": task_id,
            "name": name,
            "type": "training",
            "status": "created",
            "user": STUB_USER_ID,
            "company": STUB_COMPANY_ID,
            "project": None,
            "parent": None,
            "created": _now(),
            "tags": [],
            "system_tags": [],
            "script": {"repository": "", "branch": "", "entry_point": "train.py", "binary": "python3"},
            "execution": {"queue": None},
            "container": {"image": image, "arguments": "", "setup_shell_script": ""},
            "runtime": {},
        }
        task.update(fields)
        with self._lock:
            self._state.tasks[task_id] = task

    def enqueue(self, task_id: str, queue_id: str) -> None:
        """Put a task in a queue, as a user clicking "Enqueue" would."""
        self._do_enqueue({"task": task_id, "queue": queue_id, "update_execution_queue": True})

    def task(self, task_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._state.tasks[task_id])

    def queue(self, queue_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._state.queues[queue_id])

    def queue_by_name(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            for q in self._state.queues.values():
                if q["name"] == name:
                    return copy.deepcopy(q)
        return None

    def hyperparams(self, task_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._state.hyperparams.get(task_id, []))

    @property
    def log_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._state.log_events)

    def endpoints_called(self) -> list[str]:
        return [c.endpoint for c in self.calls]

    # ------------------------------------------------------------------ server lifecycle

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("stub server is not running")
        port = self._httpd.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> ClearMLStubServer:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes; without this each answer waits for the
                # client's delayed ACK (~40 ms)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                stub._handle(self)

            do_POST = do_GET  # noqa: N815
            do_PUT = do_GET  # noqa: N815

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="clearml-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ClearMLStubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ request handling

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        split = urlsplit(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        body = self._parse_body(raw, req.headers.get("Content-Type") or "")
        if split.query and isinstance(body, dict):
            for key, values in parse_qs(split.query).items():
                body.setdefault(key, values if len(values) > 1 else values[0])

        match = _PATH_RE.match(split.path)
        if not match:
            service, action, version = "?", split.path, None
            status, payload = 404, self._error(404, 0, f"Invalid path {split.path}", "?")
        else:
            service, action, version = match["service"], match["action"], match["version"]
            status, payload = self._dispatch(service, action, version, body)

        call = ApiCall(service, action, version, req.command, body, status)
        with self._lock:
            self.calls.append(call)
            if status == 404 and getattr(self, f"_api_{service}_{action}", None) is None:
                self.unhandled.append(call)

        data = json.dumps(payload).encode("utf-8")
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    @staticmethod
    def _parse_body(raw: bytes, content_type: str) -> Any:
        if not raw:
            return {}
        text = raw.decode("utf-8")
        if "json-lines" in content_type:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        try:
            return json.loads(text)
        except ValueError:
            return {"_raw": text}

    def _meta(self, code: int, subcode: int, msg: str, endpoint: str, version: str | None) -> dict[str, Any]:
        return {
            "id": uuid.uuid4().hex,
            "trx": uuid.uuid4().hex,
            "endpoint": {
                "name": endpoint,
                "requested_version": version or self.api_version,
                "actual_version": version or self.api_version,
            },
            "result_code": code,
            "result_subcode": subcode,
            "result_msg": msg,
            "error_stack": "",
        }

    def _error(
        self, code: int, subcode: int, msg: str, endpoint: str, version: str | None = None
    ) -> dict[str, Any]:
        return {"meta": self._meta(code, subcode, msg, endpoint, version), "data": {}}

    def _dispatch(
        self, service: str, action: str, version: str | None, body: Any
    ) -> tuple[int, dict[str, Any]]:
        endpoint = f"{service}.{action}"
        handler = getattr(self, f"_api_{service}_{action}", None)
        if handler is None:
            msg = f"Unknown endpoint {endpoint} (not implemented by the stub)"
            return 404, self._error(404, 0, msg, endpoint)
        try:
            with self._lock:
                data = handler(body)
        except StubError as err:
            return err.code, self._error(err.code, err.subcode, err.msg, endpoint, version)
        return 200, {"meta": self._meta(200, 0, "OK", endpoint, version), "data": data}

    # ------------------------------------------------------------------ helpers

    def _get_task(self, task_id: Any) -> dict[str, Any]:
        task = self._state.tasks.get(task_id)
        if task is None:
            raise StubError(400, 101, f"Invalid task id: id={task_id}")
        return task

    def _get_queue(self, queue_id: Any) -> dict[str, Any]:
        queue = self._state.queues.get(queue_id)
        if queue is None:
            raise StubError(400, 701, f"Invalid queue id: id={queue_id}")
        return queue

    def _remove_from_queues(self, task_id: str, queue_id: str | None = None) -> int:
        removed = 0
        for q in self._state.queues.values():
            if queue_id is not None and q["id"] != queue_id:
                continue
            before = len(q["entries"])
            q["entries"] = [e for e in q["entries"] if e["task"] != task_id]
            removed += before - len(q["entries"])
        return removed

    def _do_enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            task = self._get_task(body.get("task"))
            queue = self._get_queue(body.get("queue"))
            self._remove_from_queues(task["id"])
            queue["entries"].append({"task": task["id"], "added": _now()})
            task["status"] = "queued"
            task["status_reason"] = body.get("status_reason", "")
            if body.get("update_execution_queue", True):
                task.setdefault("execution", {})["queue"] = queue["id"]
            return {"queued": 1, "updated": 1, "fields": {"status": "queued"}}

    # ------------------------------------------------------------------ endpoints: auth

    def _api_auth_login(self, body: Any) -> dict[str, Any]:
        return {
            "token": make_token(
                api_version=self.api_version, server_version=self.server_version, feature_set=self.feature_set
            )
        }

    # ------------------------------------------------------------------ endpoints: queues

    def _api_queues_get_all(self, body: dict[str, Any]) -> dict[str, Any]:
        queues = list(self._state.queues.values())
        if body.get("id"):
            ids = body["id"] if isinstance(body["id"], list) else [body["id"]]
            queues = [q for q in queues if q["id"] in ids]
        if body.get("name"):
            pattern = re.compile(str(body["name"]), re.IGNORECASE)
            queues = [q for q in queues if pattern.search(q["name"])]
        return {"queues": [_project(q, body.get("only_fields")) for q in queues]}

    def _api_queues_get_by_id(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"queue": copy.deepcopy(self._get_queue(body.get("queue")))}

    def _api_queues_create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name")
        if not name:
            raise StubError(400, 12, "Validation error: name is required")
        if any(q["name"] == name for q in self._state.queues.values()):
            raise StubError(400, 702, f"Queue with this name already exists: name={name}")
        queue_id = self.add_queue(name)
        self._state.queues[queue_id]["system_tags"] = list(body.get("system_tags") or [])
        self._state.queues[queue_id]["tags"] = list(body.get("tags") or [])
        return {"id": queue_id}

    def _api_queues_get_next_task(self, body: dict[str, Any]) -> dict[str, Any]:
        queue = self._get_queue(body.get("queue"))
        if not queue["entries"]:
            return {}
        entry = queue["entries"].pop(0)
        result: dict[str, Any] = {"entry": entry}
        if body.get("get_task_info"):
            task = self._state.tasks.get(entry["task"], {})
            result["task_info"] = {"company": task.get("company"), "user": task.get("user")}
        return result

    def _api_queues_remove_task(self, body: dict[str, Any]) -> dict[str, Any]:
        self._get_queue(body.get("queue"))
        return {"removed": self._remove_from_queues(str(body.get("task")), body.get("queue"))}

    def _api_queues_add_task(self, body: dict[str, Any]) -> dict[str, Any]:
        queue = self._get_queue(body.get("queue"))
        self._get_task(body.get("task"))
        queue["entries"].append({"task": body["task"], "added": _now()})
        return {"added": 1}

    def _api_queues_move_task_to_front(self, body: dict[str, Any]) -> dict[str, Any]:
        queue = self._get_queue(body.get("queue"))
        entries = [e for e in queue["entries"] if e["task"] == body.get("task")]
        rest = [e for e in queue["entries"] if e["task"] != body.get("task")]
        queue["entries"] = entries + rest
        return {"position": 0}

    # ------------------------------------------------------------------ endpoints: tasks

    def _api_tasks_get_all(self, body: dict[str, Any]) -> dict[str, Any]:
        tasks = list(self._state.tasks.values())
        if body.get("id") is not None:
            ids = body["id"] if isinstance(body["id"], list) else [body["id"]]
            tasks = [t for t in tasks if t["id"] in ids]
        if body.get("status"):
            statuses = body["status"] if isinstance(body["status"], list) else [body["status"]]
            tasks = [t for t in tasks if t["status"] in statuses]
        return {"tasks": [_project(t, body.get("only_fields")) for t in tasks]}

    def _api_tasks_get_by_id(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"task": copy.deepcopy(self._get_task(body.get("task")))}

    def _api_tasks_enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._do_enqueue(body)

    def _api_tasks_stop(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._get_task(body.get("task"))
        task["status"] = "stopped"
        task["status_reason"] = body.get("status_reason", "")
        return {"updated": 1, "fields": {"status": "stopped"}}

    def _api_tasks_failed(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._get_task(body.get("task"))
        task["status"] = "failed"
        task["status_reason"] = body.get("status_reason", "")
        self._remove_from_queues(task["id"])
        return {"updated": 1, "fields": {"status": "failed"}}

    def _api_tasks_edit(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._get_task(body.get("task"))
        for key, value in body.items():
            if key not in ("task", "force"):
                task[key] = copy.deepcopy(value)
        return {"updated": 1, "fields": {}}

    def _api_tasks_edit_hyper_params(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._get_task(body.get("task"))
        params = self._state.hyperparams.setdefault(task["id"], [])
        for p in body.get("hyperparams") or []:
            params[:] = [x for x in params if (x["section"], x["name"]) != (p.get("section"), p.get("name"))]
            params.append(dict(p))
        return {"updated": 1}

    # ------------------------------------------------------------------ endpoints: events

    def _api_events_add_batch(self, body: Any) -> dict[str, Any]:
        events = body if isinstance(body, list) else [body]
        self._state.log_events.extend(events)
        return {"added": len(events), "errors": 0, "errors_info": {}}

    def _api_events_add(self, body: Any) -> dict[str, Any]:
        self._state.log_events.append(body)
        return {}
