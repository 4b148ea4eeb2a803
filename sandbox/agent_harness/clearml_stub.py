"""A stand-in for clearml-server's REST API on 127.0.0.1: the only part of the agent's world that is not real.

It answers as clearml-server does where the agent can tell:

* **Authentication.** ``auth.login`` takes HTTP Basic credentials and returns a signed token only for
  the one key pair the stand-in was made with (the agent's own, from the release's Secret); any other
  pair gets 401 with clearml-server's error shape (``result_subcode`` 22, "unauthorized (invalid
  credentials)"), no credentials 401/20, a bad token 401/30. Every other call needs the token (or the
  key pair), as on the real server. ``rotate(access_key, secret_key)`` is an admin revoking that pair
  and making a new one: from then on only the new pair logs in (tokens issued before stay valid until
  they expire; the stand-in revokes none).
* **Queues and tasks.** Queues by name; ``queues.get_next_task`` pops the oldest entry; the task
  endpoints the agent calls change a task's status as the server would (``tasks.stop`` -> stopped,
  ``tasks.enqueue`` -> queued, ``tasks.failed``, ``tasks.started``, ``tasks.completed``,
  ``tasks.dequeue``), and stamp ``last_change`` (an ISO-8601 string, as the server's JSON has it).
* **Workers.** ``workers.register``/``unregister``/``status_report`` are recorded.
* **Projects and new tasks.** ``projects.get_all``/``create`` and ``tasks.create``, and ``tasks.get_all``
  filtered by ``name`` (a pattern, as on the server) and ``project``: what the clearml SDK's
  ``Task.create``, ``Task.enqueue``, ``Task.get_task`` and ``Task.get_tasks`` send
  (tests/unit/test_clearml_sdk.py drives the stand-in with the real SDK).

What a test asks:

``add_queue(name)``, ``enqueue(name, queue)`` (a new task, by name, as a user enqueues one; returns
its id), ``abort(task_id)`` (a user clicks Abort), ``report_as_task(task_id, status)`` (what the task's
own process reports from its pod: in_progress, completed, failed); ``workers()`` (worker id -> queue names, for
those registered now), ``status_reports(worker)``, ``statuses(task_id)`` / ``history(task_id)`` (every
status the task went through and who set it), ``task(task_id)``, ``queue_tasks(name)`` (what waits in
a queue, e.g. the agent's pending queue ``k8s_scheduler``), ``log_lines(task_id)`` (what the agent
logged to the task), ``calls`` (every call: endpoint, HTTP status, and the access key of a call made with
HTTP Basic credentials, such as ``auth.login``: an id, like a user name; no secret key or token is
kept), ``logins()`` (the access key and status of each ``auth.login``) and ``unknown_calls``
(endpoints the stand-in does not serve: a test asserts there are none).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The open-source clearml-server 2.x answers with feature_set "basic": the agent then takes the code
# paths it takes against the server a Run:ai project's agent talks to.
API_VERSION = "2.31"
SERVER_VERSION = "2.0.0"
FEATURE_SET = "basic"

USER_ID = "stand-in-user"
COMPANY_ID = "stand-in-company"

_PATH_RE = re.compile(r"^/(?:v(?P<version>[0-9.]+)/)?(?P<service>[a-z_]+)\.(?P<action>[a-z_]+)$")

# clearml-server's 401 subcodes and messages (apiserver/apierrors/errors.conf)
NO_CREDENTIALS = (20, "unauthorized (missing credentials)")
INVALID_CREDENTIALS = (22, "unauthorized (invalid credentials) (failed to locate provided credentials)")
BAD_AUTH_TYPE = (10, "unauthorized (bad authentication header type)")
INVALID_TOKEN = (30, "invalid token (invalid jwt token)")


class ApiError(Exception):
    """An error answer of the API: HTTP code, result_subcode, message."""

    def __init__(self, code: int, subcode: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.subcode, self.msg = code, subcode, msg


@dataclass(frozen=True)
class ApiCall:
    """One call the agent (or anyone) made: no body, no secret key and no token are kept."""

    endpoint: str
    status: int
    access_key: str = ""  # of a call with HTTP Basic credentials (an id, as a user name is)


@dataclass(frozen=True)
class StatusChange:
    status: str
    reason: str
    by: str  # the endpoint that set it, or "user" for what a test did as a ClearML user


@dataclass
class Worker:
    queues: list[str]
    registered: bool = True
    reports: list[dict[str, Any]] = field(default_factory=list)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _basic_access_key(header: str) -> str:
    """The access key of an HTTP Basic Authorization header ("" for any other, or a malformed one)."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(value).decode("latin-1").partition(":")[0]
    except ValueError:
        return ""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class ClearMLStandIn:
    """Threaded HTTP server on 127.0.0.1 that knows one key pair. Use as a context manager;
    ``url`` is what the agent gets as ``CLEARML_API_HOST``."""

    def __init__(self, access_key: str, secret_key: str, *, enterprise: bool = False) -> None:
        self._credentials = (access_key, secret_key)
        # the enterprise server: what the enterprise chart's --use-owner-token needs (an admin agent that
        # may log in as a task's owner, X-Clearml-Impersonate-As)
        self._enterprise = enterprise
        self._signing_key = secrets.token_bytes(32)
        self._lock = threading.RLock()
        self._queues: dict[str, dict[str, Any]] = {}
        self._projects: dict[str, dict[str, Any]] = {}
        self._tasks: dict[str, dict[str, Any]] = {}
        self._history: dict[str, list[StatusChange]] = {}
        self._log_lines: dict[str, list[str]] = {}
        self._workers: dict[str, Worker] = {}
        self.calls: list[ApiCall] = []
        self.unknown_calls: list[ApiCall] = []
        self._httpd: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ what a test does

    def add_queue(self, name: str) -> str:
        with self._lock:
            return self._create_queue(name, [])

    def enqueue(self, name: str, queue: str, *, image: str = "python:3.11-slim") -> str:
        """A new task called ``name``, enqueued to the queue called ``queue``; returns its id."""
        with self._lock:
            task_id = self._new_task(name, None, "training", image, by="user")
            self._enqueue(task_id, self._queue_id(queue), "", by="user")
        return task_id

    def abort(self, task_id: str) -> None:
        """What Abort in the ClearML UI does to a task that is not running: it is stopped."""
        with self._lock:
            self._remove_from_queues(task_id)
            self._set_status(self._task(task_id), "stopped", "aborted by user", by="user")

    def rotate(self, access_key: str, secret_key: str) -> None:
        """An admin revokes the key pair the stand-in knows and makes this one: only it logs in from now on."""
        with self._lock:
            self._credentials = (access_key, secret_key)

    def report_as_task(self, task_id: str, status: str) -> None:
        """What the task's own process (``clearml_agent execute`` in the task pod) reports: ``in_progress``
        when it starts, then ``completed`` or ``failed``. No container runs the task here: a test that
        moves the pod through Running to Succeeded says this for it."""
        endpoint = {"in_progress": "tasks.started", "completed": "tasks.completed", "failed": "tasks.failed"}[status]
        with self._lock:
            self._remove_from_queues(task_id)
            self._set_status(self._task(task_id), status, "", by=f"task ({endpoint})")

    # ------------------------------------------------------------------ what a test asks

    def workers(self) -> dict[str, list[str]]:
        """Registered workers now: worker id -> names of the queues it serves."""
        with self._lock:
            return {w: list(info.queues) for w, info in self._workers.items() if info.registered}

    def ever_registered(self) -> set[str]:
        with self._lock:
            return set(self._workers)

    def status_reports(self, worker: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._workers[worker].reports) if worker in self._workers else []

    def statuses(self, task_id: str) -> list[str]:
        return [c.status for c in self.history(task_id)]

    def history(self, task_id: str) -> list[StatusChange]:
        with self._lock:
            return list(self._history[task_id])

    def task(self, task_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._task(task_id))

    def queue_tasks(self, name: str) -> list[str]:
        """Ids of the tasks waiting in the queue called ``name`` (empty when there is no such queue)."""
        with self._lock:
            queue = next((q for q in self._queues.values() if q["name"] == name), None)
            return [e["task"] for e in queue["entries"]] if queue else []

    def log_lines(self, task_id: str) -> list[str]:
        with self._lock:
            return list(self._log_lines.get(task_id, []))

    def endpoints(self) -> list[str]:
        with self._lock:
            return [c.endpoint for c in self.calls]

    def logins(self) -> list[tuple[str, int]]:
        """Each ``auth.login`` so far: the access key it was made with, and the HTTP status it got."""
        with self._lock:
            return [(c.access_key, c.status) for c in self.calls if c.endpoint == "auth.login"]

    @property
    def key_pair(self) -> tuple[str, str]:
        """The one key pair the stand-in knows: what a user's SDK script logs in with (sdk.py)."""
        return self._credentials

    # ------------------------------------------------------------------ server lifecycle

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the ClearML stand-in is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> ClearMLStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes; without this each answer waits for the
                # client's delayed ACK (~40 ms)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                stand_in._handle(self)

            do_GET = do_POST  # noqa: N815
            do_PUT = do_POST  # noqa: N815

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="clearml-stand-in", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ClearMLStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ HTTP

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        split = urlsplit(req.path)
        length = int(req.headers.get("Content-Length") or 0)
        body = self._parse_body(req.rfile.read(length) if length else b"", req.headers.get("Content-Type") or "")
        if split.query and isinstance(body, dict):
            for key, values in parse_qs(split.query).items():
                body.setdefault(key, values if len(values) > 1 else values[0])

        match = _PATH_RE.match(split.path)
        endpoint = f"{match['service']}.{match['action']}" if match else split.path
        handler = getattr(self, f"_api_{match['service']}_{match['action']}", None) if match else None
        try:
            if handler is None:  # the server resolves the endpoint before it authenticates
                raise ApiError(404, 0, f"Unable to find endpoint for name {endpoint}")
            self._authenticate(req.headers.get("Authorization") or "")
            with self._lock:
                if handler == self._api_auth_login:
                    data = self._api_auth_login(body, req.headers.get("X-Clearml-Impersonate-As") or "")
                else:
                    data = handler(body)
            status, payload = 200, self._answer(endpoint, 200, 0, "OK", data)
        except ApiError as err:
            status, payload = err.code, self._answer(endpoint, err.code, err.subcode, err.msg, {})

        call = ApiCall(endpoint, status, _basic_access_key(req.headers.get("Authorization") or ""))
        with self._lock:
            self.calls.append(call)
            if handler is None:
                self.unknown_calls.append(call)
        data_out = json.dumps(payload).encode("utf-8")
        req.send_response(status)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(len(data_out)))
        req.end_headers()
        req.wfile.write(data_out)

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

    @staticmethod
    def _answer(endpoint: str, code: int, subcode: int, msg: str, data: Any) -> dict[str, Any]:
        meta = {
            "id": uuid.uuid4().hex,
            "trx": uuid.uuid4().hex,
            "endpoint": {"name": endpoint, "requested_version": API_VERSION, "actual_version": API_VERSION},
            "result_code": code,
            "result_subcode": subcode,
            "result_msg": msg,
            "error_stack": None,
            "error_data": {},
        }
        return {"meta": meta, "data": data}

    # ------------------------------------------------------------------ authentication

    def _authenticate(self, header: str) -> None:
        scheme, _, value = header.strip().partition(" ")
        if not value:
            raise ApiError(401, *NO_CREDENTIALS)
        if scheme.lower() == "basic":
            try:
                key, _, secret = base64.b64decode(value).decode("latin-1").partition(":")
            except ValueError:
                raise ApiError(401, 21, "unauthorized (malformed credentials)") from None
            with self._lock:
                known = self._credentials
            if not (
                hmac.compare_digest(key.encode(), known[0].encode())
                and hmac.compare_digest(secret.encode(), known[1].encode())
            ):
                raise ApiError(401, *INVALID_CREDENTIALS)
        elif scheme.lower() == "bearer":
            if not self._valid_token(value):
                raise ApiError(401, *INVALID_TOKEN)
        else:
            raise ApiError(401, *BAD_AUTH_TYPE)

    def _token(self, user: str = USER_ID) -> str:
        """A JWT shaped like clearml-server's (HS256), signed with a key of this stand-in."""
        now = int(time.time())
        header = {"alg": "HS256", "typ": "JWT"}
        role = "admin" if self._enterprise and user == USER_ID else "user"
        claims = {
            "identity": {"user": user, "company": COMPANY_ID, "role": role, "user_name": "agent"},
            "tenant": COMPANY_ID,
            "env": "<unknown>",
            "api_version": API_VERSION,
            "server_version": SERVER_VERSION,
            "feature_set": "enterprise" if self._enterprise else FEATURE_SET,
            "iat": now,
            "exp": now + 24 * 3600,
        }
        signing_input = ".".join(_b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, claims))
        signature = hmac.new(self._signing_key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}"

    def _valid_token(self, token: str) -> bool:
        signing_input, _, signature = token.rpartition(".")
        expected = _b64url(hmac.new(self._signing_key, signing_input.encode("ascii"), hashlib.sha256).digest())
        if not signing_input or not hmac.compare_digest(signature, expected):
            return False
        claims_part = signing_input.partition(".")[2]
        claims = json.loads(base64.urlsafe_b64decode(claims_part + "=" * (-len(claims_part) % 4)))
        return int(claims.get("exp", 0)) > time.time()

    # ------------------------------------------------------------------ state helpers

    def _task(self, task_id: Any) -> dict[str, Any]:
        task = self._tasks.get(task_id)
        if task is None:
            raise ApiError(400, 101, f"Invalid task id: id={task_id}")
        return task

    def _queue(self, queue_id: Any) -> dict[str, Any]:
        queue = self._queues.get(queue_id)
        if queue is None:
            raise ApiError(400, 701, f"Invalid queue id: id={queue_id}")
        return queue

    def _queue_id(self, name: str) -> str:
        for q in self._queues.values():
            if q["name"] == name:
                return str(q["id"])
        raise KeyError(f"the stand-in has no queue {name!r}: add_queue() it first")

    def _create_queue(self, name: str, system_tags: list[str]) -> str:
        queue_id = uuid.uuid4().hex
        self._queues[queue_id] = {
            "id": queue_id,
            "name": name,
            "user": USER_ID,
            "company": COMPANY_ID,
            "created": _now(),
            "tags": [],
            "system_tags": list(system_tags),
            "entries": [],
        }
        return queue_id

    def _new_task(self, name: str, project: str | None, task_type: str, image: str, by: str) -> str:
        task_id = uuid.uuid4().hex
        self._tasks[task_id] = {
            "id": task_id,
            "name": name,
            "type": task_type,
            "status": "created",
            "status_reason": "",
            "status_message": "",
            "user": USER_ID,
            "company": COMPANY_ID,
            "project": project,
            "parent": None,
            "created": _now(),
            "last_change": _now(),
            "script": {"repository": "", "branch": "", "entry_point": "train.py", "binary": "python3"},
            "execution": {"queue": None},
            "container": {"image": image, "arguments": "", "setup_shell_script": ""},
            "hyperparams": {},
            "runtime": {},
        }
        self._history[task_id] = [StatusChange("created", "", by)]
        return task_id

    def _set_status(self, task: dict[str, Any], status: str, reason: str, by: str) -> None:
        task.update(status=status, status_reason=reason, last_change=_now())
        self._history[task["id"]].append(StatusChange(status, reason, by))

    def _remove_from_queues(self, task_id: str, queue_id: str | None = None) -> int:
        removed = 0
        for q in self._queues.values():
            if queue_id in (None, q["id"]):
                before = len(q["entries"])
                q["entries"] = [e for e in q["entries"] if e["task"] != task_id]
                removed += before - len(q["entries"])
        return removed

    def _enqueue(self, task_id: str, queue_id: str, reason: str, by: str, update_execution: bool = True) -> None:
        task, queue = self._task(task_id), self._queue(queue_id)
        self._remove_from_queues(task_id)
        queue["entries"].append({"task": task_id, "added": _now()})
        if update_execution:
            task["execution"]["queue"] = queue_id
        self._set_status(task, "queued", reason, by)

    # ------------------------------------------------------------------ auth, workers, events

    def _api_auth_login(self, body: Any, impersonate: str = "") -> dict[str, Any]:
        if impersonate and not self._enterprise:
            raise ApiError(403, 0, "impersonation is an enterprise feature")
        return {"token": self._token(impersonate or USER_ID)}

    def _api_workers_register(self, body: dict[str, Any]) -> dict[str, Any]:
        names = [self._queues[q]["name"] if q in self._queues else q for q in body.get("queues") or []]
        self._workers[str(body.get("worker"))] = Worker(queues=names)
        return {}

    def _api_workers_unregister(self, body: dict[str, Any]) -> dict[str, Any]:
        worker = self._workers.get(str(body.get("worker")))
        if worker is None:
            raise ApiError(400, 1001, f"Invalid worker id: {body.get('worker')}")
        worker.registered = False
        return {}

    def _api_workers_status_report(self, body: dict[str, Any]) -> dict[str, Any]:
        worker = self._workers.setdefault(str(body.get("worker")), Worker(queues=[]))
        worker.reports.append({k: body.get(k) for k in ("task", "queue", "queues", "timestamp")})
        return {}

    def _api_workers_get_all(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"workers": [{"id": w, "queues": []} for w, info in self._workers.items() if info.registered]}

    def _api_events_add_batch(self, body: Any) -> dict[str, Any]:
        events = body if isinstance(body, list) else [body]
        for event in events:
            if isinstance(event, dict) and event.get("task"):
                self._log_lines.setdefault(str(event["task"]), []).append(str(event.get("msg", "")))
        return {"added": len(events), "errors": 0, "errors_info": {}}

    # ------------------------------------------------------------------ queues

    def _api_queues_get_all(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"queues": _get_all(list(self._queues.values()), body)}

    def _api_queues_get_by_id(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"queue": copy.deepcopy(self._queue(body.get("queue")))}

    def _api_queues_get_default(self, body: dict[str, Any]) -> dict[str, Any]:
        raise ApiError(400, 702, "No queue is tagged as the default queue for this company")

    def _api_queues_create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("name") or "")
        if not name:
            raise ApiError(400, 12, "Validation error (name is required)")
        if any(q["name"] == name for q in self._queues.values()):
            raise ApiError(400, 702, f"Queue with this name already exists: name={name}")
        return {"id": self._create_queue(name, list(body.get("system_tags") or []))}

    def _api_queues_get_next_task(self, body: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(body.get("queue"))
        if not queue["entries"]:
            return {}
        entry = queue["entries"].pop(0)
        answer: dict[str, Any] = {"entry": entry}
        if body.get("get_task_info"):
            answer["task_info"] = {"company": COMPANY_ID, "user": USER_ID}
        return answer

    def _api_queues_remove_task(self, body: dict[str, Any]) -> dict[str, Any]:
        self._queue(body.get("queue"))
        return {"removed": self._remove_from_queues(str(body.get("task")), body.get("queue"))}

    def _api_queues_add_task(self, body: dict[str, Any]) -> dict[str, Any]:
        queue, task = self._queue(body.get("queue")), self._task(body.get("task"))
        queue["entries"].append({"task": task["id"], "added": _now()})
        return {"added": 1}

    def _api_queues_move_task_to_front(self, body: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(body.get("queue"))
        queue["entries"].sort(key=lambda e: e["task"] != body.get("task"))
        return {"position": 0}

    # ------------------------------------------------------------------ projects (what Task.create needs)

    def _api_projects_get_all(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"projects": _get_all(list(self._projects.values()), body)}

    def _api_projects_create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("name") or "")
        if not name:
            raise ApiError(400, 12, "Validation error (name is required)")
        if any(p["name"] == name for p in self._projects.values()):
            raise ApiError(400, 0, f"Project with the same name already exists: name={name}")
        project_id = uuid.uuid4().hex
        self._projects[project_id] = {
            "id": project_id,
            "name": name,
            "basename": name.rpartition("/")[2],
            "description": str(body.get("description") or ""),
            "user": USER_ID,
            "company": COMPANY_ID,
            "created": _now(),
            "tags": list(body.get("tags") or []),
            "system_tags": list(body.get("system_tags") or []),
        }
        return {"id": project_id}

    # ------------------------------------------------------------------ tasks

    def _api_tasks_get_all(self, body: dict[str, Any]) -> dict[str, Any]:
        tasks = list(self._tasks.values())
        if body.get("id") is not None:
            ids = body["id"] if isinstance(body["id"], list) else [body["id"]]
            tasks = [t for t in tasks if t["id"] in ids]
        if body.get("status"):
            wanted = body["status"] if isinstance(body["status"], list) else [body["status"]]
            tasks = [t for t in tasks if t["status"] in wanted]
        if body.get("name"):  # a pattern, as on the server: the SDK asks for ^name$ to find one by name
            pattern = re.compile(str(body["name"]), re.IGNORECASE)
            tasks = [t for t in tasks if pattern.search(str(t["name"]))]
        if body.get("project"):
            projects = body["project"] if isinstance(body["project"], list) else [body["project"]]
            tasks = [t for t in tasks if t["project"] in projects]
        fields = body.get("only_fields")
        return {
            "tasks": [
                {k: copy.deepcopy(v) for k, v in t.items() if not fields or k in fields or k == "id"} for t in tasks
            ]
        }

    def _api_tasks_create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("name") or "")
        if not name:
            raise ApiError(400, 12, "Validation error (name is required)")
        project = body.get("project")
        if project is not None and project not in self._projects:
            raise ApiError(400, 401, f"Invalid project id: id={project}")
        image = str((body.get("container") or {}).get("image") or "")
        task_id = self._new_task(name, project, str(body.get("type") or "training"), image, by="tasks.create")
        task = self._tasks[task_id]
        for key in ("comment", "tags", "system_tags", "script", "hyperparams", "configuration", "runtime"):
            if key in body:
                task[key] = copy.deepcopy(body[key])
        if isinstance(body.get("container"), dict):
            task["container"].update(copy.deepcopy(body["container"]))
        return {"id": task_id}

    def _api_tasks_get_by_id(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"task": copy.deepcopy(self._task(body.get("task")))}

    def _api_tasks_enqueue(self, body: dict[str, Any]) -> dict[str, Any]:
        self._enqueue(
            str(body.get("task")),
            str(body.get("queue")),
            str(body.get("status_reason") or ""),
            by="tasks.enqueue",
            update_execution=bool(body.get("update_execution_queue", True)),
        )
        return {"queued": 1, "updated": 1, "fields": {"status": "queued"}}

    def _change(self, body: dict[str, Any], status: str, by: str, dequeue: bool = True) -> dict[str, Any]:
        task = self._task(body.get("task"))
        if dequeue:
            self._remove_from_queues(task["id"])
        if body.get("status_message"):
            task["status_message"] = str(body["status_message"])
        self._set_status(task, status, str(body.get("status_reason") or ""), by=by)
        return {"updated": 1, "fields": {"status": status}}

    def _api_tasks_stop(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._change(body, "stopped", "tasks.stop")

    def _api_tasks_failed(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._change(body, "failed", "tasks.failed")

    def _api_tasks_dequeue(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._change(body, "created", "tasks.dequeue")

    def _api_tasks_started(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._change(body, "in_progress", "tasks.started")

    def _api_tasks_completed(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._change(body, "completed", "tasks.completed")

    def _api_tasks_update(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body.get("task"))
        for key in ("status_message", "tags", "name", "comment"):
            if key in body:
                task[key] = copy.deepcopy(body[key])
        task["last_change"] = _now()
        return {"updated": 1, "fields": {}}

    def _api_tasks_edit(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body.get("task"))
        task.update({k: copy.deepcopy(v) for k, v in body.items() if k not in ("task", "force")})
        task["last_change"] = _now()
        return {"updated": 1, "fields": {}}

    def _api_tasks_edit_hyper_params(self, body: dict[str, Any]) -> dict[str, Any]:
        task = self._task(body.get("task"))
        for p in body.get("hyperparams") or []:
            task["hyperparams"].setdefault(p.get("section"), {})[p.get("name")] = dict(p)
        return {"updated": 1}


def _get_all(objects: list[dict[str, Any]], body: dict[str, Any]) -> list[dict[str, Any]]:
    """`*.get_all` as the server answers it: by id(s), by a name pattern (a regular expression, any case),
    with only the fields asked for (and the id)."""
    if body.get("id"):
        ids = body["id"] if isinstance(body["id"], list) else [body["id"]]
        objects = [o for o in objects if o["id"] in ids]
    if body.get("name"):
        pattern = re.compile(str(body["name"]), re.IGNORECASE)
        objects = [o for o in objects if pattern.search(o["name"])]
    fields = body.get("only_fields")
    return [{k: copy.deepcopy(v) for k, v in o.items() if not fields or k in fields or k == "id"} for o in objects]
