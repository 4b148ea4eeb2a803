"""A ClearML user's script: the real clearml SDK (ci/sdk-requirements.txt, `make sdk-venv`) creating,
enqueuing and looking up tasks on the ClearML stand-in, as a user does against clearml-server.

The SDK lives in its own venv (.cache/clearml-sdk-venv) and runs in a process of its own: a short
script of the SDK's own calls (``Task.create``, ``Task.enqueue``, ``Task.get_task(task_id=)``), the
server and the key pair given by env (never on a command line), the request on stdin and what the SDK
saw back as one JSON line. A failed run raises ``SdkError`` with the SDK's last words, the secret key
masked.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sandbox.paths import ROOT

from .clearml_stub import ClearMLStandIn

SDK_PYTHON = ROOT / ".cache" / "clearml-sdk-venv" / "bin" / "python"
PROJECT = "runai-tests"  # the ClearML project the scenarios' tasks are created in
IMAGE = "python:3.11-slim"  # the task's container image, as a user sets it (Task.create(docker=...))

_SCRIPT = """
import json, sys
from clearml import Task

req = json.load(sys.stdin)
out = {}
if req["op"] == "enqueue":
    ids = []
    for t in req["tasks"]:
        task = Task.create(project_name=t["project"], task_name=t["name"], task_type="training", docker=t["image"])
        Task.enqueue(task, queue_name=t["queue"])
        ids.append(task.id)
    out["ids"] = ids
elif req["op"] == "status":
    out["status"] = {i: str(Task.get_task(task_id=i).get_status()) for i in req["ids"]}
print(json.dumps(out))
"""


class SdkError(RuntimeError):
    """The SDK's script failed: its exit code and the tail of its stderr (secret key masked)."""


def sdk_env(url: str, access_key: str, secret_key: str, home: Path) -> dict[str, str]:
    """The environment of a user's script against the server at `url`: no ClearML setting of the
    developer's own, no config file, the SDK's cache under `home`."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CLEARML_", "TRAINS_"))},
        "HOME": str(home),
        "CLEARML_CONFIG_FILE": os.devnull,
        "CLEARML_API_HOST": url,
        "CLEARML_WEB_HOST": url,
        "CLEARML_FILES_HOST": url,
        "CLEARML_API_ACCESS_KEY": access_key,
        "CLEARML_API_SECRET_KEY": secret_key,
    }


def run_sdk_script(stand_in: ClearMLStandIn, script: str, stdin: str = "", *, timeout: float = 180) -> dict[str, Any]:
    """Run `script` with the SDK's interpreter against `stand_in`, as the user whose key pair it knows;
    returns the JSON object the script printed last."""
    if not SDK_PYTHON.is_file():
        raise SdkError(f"{SDK_PYTHON.relative_to(ROOT)} is missing: run `make sdk-venv`")
    access_key, secret_key = stand_in.key_pair
    with tempfile.TemporaryDirectory(prefix="clearml-sdk-") as home:
        proc = subprocess.run(
            [str(SDK_PYTHON), "-c", script],
            input=stdin,
            env=sdk_env(stand_in.url, access_key, secret_key, Path(home)),
            cwd=home,  # no repository around: Task.create detects none
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if proc.returncode != 0:
        tail = proc.stderr[-3000:].replace(secret_key, "***")
        raise SdkError(f"the clearml SDK's script exited with {proc.returncode}:\n{tail}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise SdkError("the clearml SDK's script printed nothing")
    return dict(json.loads(lines[-1]))


def create_and_enqueue(
    stand_in: ClearMLStandIn,
    tasks: Sequence[tuple[str, str]],
    *,
    project: str = PROJECT,
    image: str = IMAGE,
) -> list[str]:
    """New tasks made with ``Task.create`` in `project` and enqueued with ``Task.enqueue``: one per
    (task name, queue name), in order, by one run of the SDK; returns their ids."""
    request = {
        "op": "enqueue",
        "tasks": [{"name": n, "queue": q, "project": project, "image": image} for n, q in tasks],
    }
    ids = run_sdk_script(stand_in, _SCRIPT, json.dumps(request))["ids"]
    return [str(i) for i in ids]


def enqueue(stand_in: ClearMLStandIn, name: str, queue: str, *, project: str = PROJECT, image: str = IMAGE) -> str:
    """One new task called `name`, made and enqueued to `queue` with the SDK; returns its id."""
    return create_and_enqueue(stand_in, [(name, queue)], project=project, image=image)[0]


def task_statuses(stand_in: ClearMLStandIn, *task_ids: str) -> dict[str, str]:
    """Each task's status as the SDK sees it: ``Task.get_task(task_id=...).get_status()``."""
    seen = run_sdk_script(stand_in, _SCRIPT, json.dumps({"op": "status", "ids": list(task_ids)}))["status"]
    return {str(k): str(v) for k, v in seen.items()}


def task_status(stand_in: ClearMLStandIn, task_id: str) -> str:
    return task_statuses(stand_in, task_id)[task_id]
