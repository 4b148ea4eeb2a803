"""The agent harness runs the real clearml-agent k8s glue and returns the pod it would apply.

Two cases on a template shaped like the one our chart renders:
* without metadata.namespace the task pod goes to the agent's --namespace (the Run:ai project
  namespace) and keeps the scheduler, labels, annotations, tolerations and the task env;
* with metadata.namespace: clearml in the template the agent applies the task pod in "clearml",
  whatever --namespace it was started with.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from tests.agent_harness import build_task_pod, run_agent_for_task

# The agent runs in a child process, from its own venv (make agent-venv); it is never imported here.

NAMESPACE = "runai-p1"
QUEUE = "p1-gpu"
TASK_ID = "0c3e6f2a9b8d4c1e8f7a6b5c4d3e2f10"
IMAGE = "python:3.11-slim"
WORKER_ID = "runai-test"
API_HOST = "http://clearml-apiserver.clearml.svc.cluster.local:8008"

TOLERATIONS = [
    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "runai/project", "operator": "Equal", "value": "p1", "effect": "NoSchedule"},
]

TEMPLATE = f"""\
apiVersion: v1
kind: Pod
metadata:
  labels:
    project: p1
    runai/queue: p1
  annotations:
    gpu-fraction: "0.5"
spec:
  schedulerName: runai-scheduler
  restartPolicy: Never
  tolerations:
    - key: nvidia.com/gpu
      operator: Exists
      effect: NoSchedule
    - key: runai/project
      operator: Equal
      value: p1
      effect: NoSchedule
  containers:
    - name: task
      env:
        - name: CLEARML_API_HOST
          value: {API_HOST}
        - name: CLEARML_API_ACCESS_KEY
          valueFrom:
            secretKeyRef:
              name: clearml-runai-agent
              key: CLEARML_API_ACCESS_KEY
        - name: CLEARML_API_SECRET_KEY
          valueFrom:
            secretKeyRef:
              name: clearml-runai-agent
              key: CLEARML_API_SECRET_KEY
"""


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _start_script(bash_c: str) -> str:
    """The agent start script, which the agent embeds base64-encoded in the container args."""
    match = re.search(r"echo '([A-Za-z0-9+/=]+)' \| base64 --decode >> \S*__start_agent__\.sh", bash_c)
    assert match, bash_c
    return base64.b64decode(match.group(1)).decode()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return path


def test_task_pod_lands_in_agent_namespace_with_template_intact(tmp_path: Path) -> None:
    pod, namespace = build_task_pod(
        _write(tmp_path, TEMPLATE),
        namespace=NAMESPACE,
        queue_name=QUEUE,
        task_id=TASK_ID,
        image=IMAGE,
        worker_id=WORKER_ID,
    )

    assert namespace == NAMESPACE
    assert pod["apiVersion"] == "v1"
    assert pod["kind"] == "Pod"
    meta = pod["metadata"]
    assert meta["name"] == f"clearml-id-{TASK_ID}"
    assert "namespace" not in meta  # the agent passes it only as kubectl --namespace

    labels = meta["labels"]
    assert labels["project"] == "p1"
    assert labels["runai/queue"] == "p1"
    assert labels["clearml-agent-queue-name"] == QUEUE
    assert labels["clearml-agent-queue"]  # the queue id
    agent_hash = hashlib.md5(WORKER_ID.encode(), usedforsecurity=False).hexdigest()[:8]
    assert labels["CLEARML"] == f"agent-{agent_hash}"
    assert meta["annotations"] == {"gpu-fraction": "0.5"}

    spec = pod["spec"]
    assert spec["schedulerName"] == "runai-scheduler"
    assert spec["tolerations"] == TOLERATIONS
    assert spec["restartPolicy"] == "Never"

    assert len(spec["containers"]) == 1
    container = spec["containers"][0]
    assert container["image"] == IMAGE
    assert container["command"] == ["/bin/bash"]
    assert container["args"][0] == "-c"
    script = _start_script(container["args"][1])
    assert "-m clearml_agent execute" in script
    assert script.rstrip().endswith(f"--id {TASK_ID}")
    env = _env(container)
    assert env["CLEARML_API_HOST"] == {"name": "CLEARML_API_HOST", "value": API_HOST}
    for key in ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY"):
        assert env[key]["valueFrom"] == {"secretKeyRef": {"name": "clearml-runai-agent", "key": key}}
        assert "value" not in env[key]
    assert env["CLEARML_WORKER_ID"]["value"] == f"{WORKER_ID}:{TASK_ID}"


def test_template_namespace_overrides_agent_namespace(tmp_path: Path) -> None:
    template = TEMPLATE.replace("metadata:\n", "metadata:\n  namespace: clearml\n", 1)
    run = run_agent_for_task(
        _write(tmp_path, template),
        namespace=NAMESPACE,
        queue_name=QUEUE,
        task_id=TASK_ID,
        image=IMAGE,
        worker_id=WORKER_ID,
    )

    # The agent was started for the Run:ai namespace but applies the task pod in "clearml".
    assert run.agent_namespace == NAMESPACE
    assert run.namespace == "clearml"
    assert run.manifest["metadata"]["namespace"] == "clearml"
    assert run.kubectl_apply_argv[:3] == ["kubectl", "apply", "--namespace=clearml"]
    assert run.manifest["metadata"]["name"] == f"clearml-id-{TASK_ID}"

    # The run stayed on the ClearML calls the stub knows, pulled the task from our queue and left it
    # in the agent's pending queue (what a real server would show while the pod is scheduled).
    assert run.unhandled_api_calls == []
    for endpoint in ("auth.login", "queues.get_next_task", "tasks.enqueue", "queues.get_by_id"):
        assert endpoint in run.endpoints
    assert run.task["status"] == "queued"
    assert run.task["execution"]["queue"] == run.pending_queue_id
    assert run.pending_queue_id not in (None, run.queue_id)
