"""The ClearML stand-in held to the real client: the clearml SDK (ci/sdk-requirements.txt, make sdk-venv)
creates, enqueues and looks up tasks against it, as a user's script does against clearml-server.

The SDK runs in its own venv, in a process of its own; what it saw comes back as JSON, and the test
asserts on that and on the stand-in's state.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sandbox.agent_harness import ClearMLStandIn, SdkError, create_and_enqueue, enqueue, task_statuses
from sandbox.agent_harness.sdk import run_sdk_script
from sandbox.paths import ROOT

SDK_PYTHON = ROOT / ".cache" / "clearml-sdk-venv" / "bin" / "python"
ACCESS_KEY, SECRET_KEY = "AKSDKTEST0001", "sk-sdk-test-secret"

# what a user's script does: two projects, tasks of the same name prefix in each, one enqueued
SCRIPT = """
import json, sys
from clearml import Task

out = {}
a1 = Task.create(project_name="team-a", task_name="train-1", task_type="training")
a2 = Task.create(project_name="team-a", task_name="train-12", task_type="training")
b1 = Task.create(project_name="team-b", task_name="train-1", task_type="training")
out["created"] = {"a1": a1.id, "a2": a2.id, "b1": b1.id}
Task.enqueue(a1, queue_name="runai-team-a")
out["by_name_a"] = Task.get_task(project_name="team-a", task_name="train-1").id
out["by_name_b"] = Task.get_task(project_name="team-b", task_name="train-1").id
out["by_id"] = Task.get_task(task_id=a2.id).name
out["status_a1"] = str(Task.get_task(task_id=a1.id).get_status())
out["in_team_a"] = sorted(t.id for t in Task.get_tasks(project_name="team-a"))
# task_name is a pattern, as the SDK documents it: a part of the name, or ^...$ for all of it
out["like_train_1_in_team_a"] = sorted(t.id for t in Task.get_tasks(project_name="team-a", task_name="train-1"))
out["train_1_in_team_a"] = sorted(t.id for t in Task.get_tasks(project_name="team-a", task_name="^train-1$"))
print(json.dumps(out))
"""


def run_sdk(stand_in: ClearMLStandIn, script: str, home: Path) -> dict[str, Any]:
    if not SDK_PYTHON.is_file():
        pytest.fail(f"{SDK_PYTHON.relative_to(ROOT)} is missing: run `make sdk-venv`", pytrace=False)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CLEARML_", "TRAINS_"))},
        "HOME": str(home),  # the SDK's cache and config live here, not in the developer's home
        "CLEARML_CONFIG_FILE": os.devnull,
        "CLEARML_API_HOST": stand_in.url,
        "CLEARML_WEB_HOST": stand_in.url,
        "CLEARML_FILES_HOST": stand_in.url,
        "CLEARML_API_ACCESS_KEY": ACCESS_KEY,
        "CLEARML_API_SECRET_KEY": SECRET_KEY,
    }
    proc = subprocess.run([str(SDK_PYTHON), "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_the_real_sdk_creates_enqueues_and_finds_tasks_by_name_and_project(tmp_path: Path) -> None:
    with ClearMLStandIn(ACCESS_KEY, SECRET_KEY) as stand_in:
        stand_in.add_queue("runai-team-a")
        seen = run_sdk(stand_in, SCRIPT, tmp_path)
        created = seen["created"]
        a1, a2, b1 = created["a1"], created["a2"], created["b1"]
        assert len({a1, a2, b1}) == 3
        # a lookup by name finds that task of that project, not another whose name contains it
        assert seen["by_name_a"] == a1 and seen["by_name_b"] == b1
        assert seen["train_1_in_team_a"] == [a1]
        assert seen["like_train_1_in_team_a"] == sorted([a1, a2])
        assert seen["in_team_a"] == sorted([a1, a2])
        assert seen["by_id"] == "train-12"
        assert seen["status_a1"] == "queued"
        # the stand-in holds what the SDK made: the task in the queue, its project, who set each status
        assert stand_in.queue_tasks("runai-team-a") == [a1]
        assert stand_in.task(a1)["name"] == "train-1" and stand_in.task(a1)["project"] != stand_in.task(b1)["project"]
        assert [(c.status, c.by) for c in stand_in.history(a1)] == [
            ("created", "tasks.create"),
            ("queued", "tasks.enqueue"),
        ]
        assert stand_in.statuses(a2) == ["created"]
        assert stand_in.unknown_calls == []
        assert {"projects.get_all", "projects.create", "tasks.create", "tasks.enqueue"} <= set(stand_in.endpoints())


def test_the_real_sdk_is_refused_with_another_key_pair(tmp_path: Path) -> None:
    with ClearMLStandIn("AKSOMEONEELSE", "sk-someone-else") as stand_in:
        script = "from clearml import Task\nTask.create(project_name='p', task_name='t')\n"
        with pytest.raises(AssertionError, match="401|[Uu]nauthorized|credentials"):
            run_sdk(stand_in, script, tmp_path)
        assert stand_in.endpoints() and set(stand_in.endpoints()) == {"auth.login"}


def test_the_scenarios_sdk_helper_creates_enqueues_and_reads_status_with_the_real_sdk() -> None:
    """sandbox/agent_harness/sdk.py, what the cluster scenarios and the demo enqueue their tasks with."""
    with ClearMLStandIn(ACCESS_KEY, SECRET_KEY) as stand_in:
        stand_in.add_queue("runai-a")
        stand_in.add_queue("runai-b")
        first, second = create_and_enqueue(stand_in, [("train-1", "runai-a"), ("train-1", "runai-b")])
        assert first != second
        assert stand_in.queue_tasks("runai-a") == [first] and stand_in.queue_tasks("runai-b") == [second]
        made = stand_in.task(first)
        assert made["name"] == "train-1" and made["container"]["image"] == "python:3.11-slim"
        assert made["project"] == stand_in.task(second)["project"] is not None
        assert [(c.status, c.by) for c in stand_in.history(first)] == [
            ("created", "tasks.create"),
            ("queued", "tasks.enqueue"),
        ]
        stand_in.report_as_task(first, "in_progress")
        stand_in.report_as_task(first, "completed")
        assert task_statuses(stand_in, first, second) == {first: "completed", second: "queued"}
        assert stand_in.unknown_calls == []


def test_the_sdk_helper_fails_with_the_sdks_words_and_no_secret() -> None:
    with ClearMLStandIn(ACCESS_KEY, SECRET_KEY) as stand_in:
        with pytest.raises(SdkError, match="exited with"):
            enqueue(stand_in, "lost", "no-such-queue")
        assert stand_in.queue_tasks("no-such-queue") == []
        # whatever the script says on stderr, the secret key it was given by env is masked
        leaky = "import os, sys\nsys.stderr.write('key: ' + os.environ['CLEARML_API_SECRET_KEY'])\nsys.exit(3)\n"
        with pytest.raises(SdkError, match="exited with 3") as failed:
            run_sdk_script(stand_in, leaky)
        assert SECRET_KEY not in str(failed.value) and "key: ***" in str(failed.value)
