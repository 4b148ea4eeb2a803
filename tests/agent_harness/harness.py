"""Drive the real clearml-agent k8s glue for one queued task and capture the pod it would create.

How it works
------------
* ``ClearMLStubServer`` (``clearml_stub.py``) serves the ClearML REST API on 127.0.0.1 with one
  queue holding one task. The agent's real ``Session``/``APIClient`` code talks to it over HTTP,
  so authentication, request building and response parsing are the agent's own.
* A ``kubectl`` wrapper is written into a private ``bin`` directory placed first on the agent's
  PATH; it runs ``fake_kubectl.py``, which copies the file given to ``kubectl apply -f`` byte for
  byte and answers ``kubectl get`` with an empty list.
* The agent runs in a child process (``_agent_driver.py``) with HOME, TMPDIR and
  CLEARML_CONFIG_FILE in a temporary directory and inherited CLEARML_*/proxy/KUBECONFIG variables
  removed, so nothing leaks out of it and its process-wide state (the agent's class-level singleton,
  the SIGTERM handler, the pending-pods daemon thread) dies with it.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .clearml_stub import ApiCall, ClearMLStubServer
from .fake_kubectl import CAPTURE_ENV

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "_agent_driver.py"
FAKE_KUBECTL = HERE / "fake_kubectl.py"
# The pinned clearml-agent lives in a venv of its own (make agent-venv), apart from the tool and its tests.
AGENT_VENV = HERE.parents[1] / ".cache" / "agent-venv"

DEFAULT_TASK_ID = "4a1f0c2b9d8e4f7a8b6c5d4e3f2a1b0c"
DEFAULT_IMAGE = "python:3.11-slim"
DEFAULT_WORKER_ID = "runai-test"
DEFAULT_MAX_PODS = 10

# Credentials the agent sends to the stub (the stub accepts anything).
STUB_ACCESS_KEY = "HARNESSACCESSKEY"
STUB_SECRET_KEY = "harness-secret-key"

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy")
_DROP_EXACT = {"KUBECONFIG", *_PROXY_VARS, *(v.upper() for v in _PROXY_VARS)}
_DROP_PREFIXES = ("CLEARML_", "TRAINS_", "K8S_GLUE_", "ALG_", "SM_")


class AgentHarnessError(RuntimeError):
    """The agent did not produce exactly one ``kubectl apply``."""


@dataclass
class AgentRun:
    """Everything observed while the agent handled the task."""

    manifest: dict[str, Any]
    namespace: str
    manifest_text: str
    kubectl_apply_argv: list[str]
    kubectl_calls: list[dict[str, Any]]
    api_calls: list[ApiCall]
    unhandled_api_calls: list[ApiCall]
    task: dict[str, Any]
    queue_id: str
    pending_queue_id: str | None
    worker_id: str | None
    agent_namespace: str | None
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)

    @property
    def endpoints(self) -> list[str]:
        return [c.endpoint for c in self.api_calls]


def agent_python() -> str:
    """The interpreter that has the pinned clearml-agent: $CLEARML_AGENT_PYTHON, else .cache/agent-venv."""
    python = os.environ.get("CLEARML_AGENT_PYTHON") or str(AGENT_VENV / "bin" / "python")
    if not Path(python).exists():
        raise AgentHarnessError(f"{python} is missing: run `make agent-venv` (the pinned clearml-agent's own venv)")
    return python


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value or ""


def _load_yaml(text: str) -> Any:
    try:
        import yaml
    except ImportError:  # pragma: no cover
        from clearml_agent._vendor import pyyaml as yaml
    return yaml.safe_load(text)


def _child_env(
    *, workdir: Path, bin_dir: Path, capture_dir: Path, api_url: str, worker_id: str, extra: Mapping[str, str]
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_EXACT and not k.startswith(_DROP_PREFIXES)}
    home = workdir / "home"
    tmp = workdir / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    conf = workdir / "clearml.conf"
    # The agent embeds this file into every task pod (base64 in the container args), like the
    # clearml.conf of a real agent, so it holds no server address and no credentials: those come
    # from the CLEARML_API_* variables below, as the chart passes them.
    conf.write_text("# clearml.conf of the agent under test (settings come from the environment)\n")
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "PATH": os.pathsep.join([str(bin_dir), env.get("PATH", os.defpath)]),
            "KUBECONFIG": str(workdir / "kubeconfig-not-used"),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "CLEARML_CONFIG_FILE": str(conf),
            "CLEARML_API_HOST": api_url,
            "CLEARML_WEB_HOST": api_url,
            "CLEARML_FILES_HOST": api_url,
            "CLEARML_API_ACCESS_KEY": STUB_ACCESS_KEY,
            "CLEARML_API_SECRET_KEY": STUB_SECRET_KEY,
            "CLEARML_WORKER_ID": worker_id,
            CAPTURE_ENV: str(capture_dir),
        }
    )
    env.update(extra)
    return env


def _write_fake_kubectl(bin_dir: Path, python: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "kubectl"
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(python)} {shlex.quote(str(FAKE_KUBECTL))} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _run(
    template_yaml: Path,
    *,
    workdir: Path,
    namespace: str,
    queue_name: str,
    task_id: str,
    image: str,
    worker_id: str,
    max_pods: int | None,
    extra_env: Mapping[str, str],
    python: str,
    timeout: float,
) -> AgentRun:
    bin_dir = workdir / "bin"
    capture_dir = workdir / "capture"
    capture_dir.mkdir(parents=True, exist_ok=True)
    result_file = workdir / "driver-result.json"
    _write_fake_kubectl(bin_dir, python)

    with ClearMLStubServer() as stub:
        queue_id = stub.add_queue(queue_name)
        stub.add_task(task_id, image=image)
        stub.enqueue(task_id, queue_id)

        env = _child_env(
            workdir=workdir,
            bin_dir=bin_dir,
            capture_dir=capture_dir,
            api_url=stub.url,
            worker_id=worker_id,
            extra=extra_env,
        )
        cmd = [
            python,
            str(DRIVER),
            "--template-yaml",
            str(Path(template_yaml).resolve()),
            "--namespace",
            namespace,
            "--queue",
            queue_name,
            "--max-pods",
            str(max_pods or 0),
            "--result-file",
            str(result_file),
        ]
        try:
            proc = subprocess.run(
                cmd, env=env, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as ex:
            raise AgentHarnessError(
                f"agent did not finish within {timeout}s\n--- stdout ---\n{_text(ex.stdout)}"
                f"\n--- stderr ---\n{_text(ex.stderr)}"
            ) from ex

        api_calls = list(stub.calls)
        unhandled = list(stub.unhandled)
        task_state = stub.task(task_id)

    def fail(msg: str) -> AgentHarnessError:
        return AgentHarnessError(
            f"{msg}\n--- agent exit code {proc.returncode} ---\n--- stdout ---\n{proc.stdout[-6000:]}"
            f"\n--- stderr ---\n{proc.stderr[-6000:]}\n--- ClearML calls ---\n"
            + "\n".join(f"{c.method} {c.endpoint} -> {c.status}" for c in api_calls)
        )

    driver: dict[str, Any] = {}
    if result_file.exists():
        driver = json.loads(result_file.read_text())
    if proc.returncode != 0 or not driver.get("ok"):
        raise fail("agent run failed: " + str(driver.get("traceback") or driver.get("error") or "no result"))

    calls_file = capture_dir / "calls.jsonl"
    kubectl_calls = (
        [json.loads(line) for line in calls_file.read_text().splitlines() if line.strip()]
        if calls_file.exists()
        else []
    )
    applies = [c for c in kubectl_calls if c["argv"][:1] == ["apply"]]
    if len(applies) != 1:
        raise fail(f"expected exactly one 'kubectl apply', got {len(applies)}")
    apply = applies[0]
    manifest_text = (capture_dir / apply["capture_file"]).read_text(encoding="utf-8")
    manifest = _load_yaml(manifest_text)
    if not isinstance(manifest, dict):
        raise fail(f"captured manifest is not a mapping: {manifest_text!r}")

    return AgentRun(
        manifest=manifest,
        namespace=apply["namespace"],
        manifest_text=manifest_text,
        kubectl_apply_argv=["kubectl", *apply["argv"]],
        kubectl_calls=kubectl_calls,
        api_calls=api_calls,
        unhandled_api_calls=unhandled,
        task=task_state,
        queue_id=queue_id,
        pending_queue_id=driver.get("pending_queue_id"),
        worker_id=driver.get("worker_id"),
        agent_namespace=driver.get("agent_namespace"),
        stdout=proc.stdout,
        stderr=proc.stderr,
    )


def run_agent_for_task(
    template_yaml: str | os.PathLike[str],
    *,
    namespace: str,
    queue_name: str,
    task_id: str = DEFAULT_TASK_ID,
    image: str = DEFAULT_IMAGE,
    worker_id: str = DEFAULT_WORKER_ID,
    max_pods: int | None = DEFAULT_MAX_PODS,
    extra_env: Mapping[str, str] | None = None,
    python: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
) -> AgentRun:
    """Let the real clearml-agent k8s glue handle one task queued in ``queue_name``.

    ``namespace`` is what the agent gets as ``--namespace`` and ``template_yaml`` as
    ``--template-yaml``; ``max_pods`` as ``--max-pods`` (``K8S_GLUE_MAX_PODS``).
    ``extra_env`` adds variables to the agent's environment (e.g. ``CLEARML_K8S_GLUE_KIND``).
    ``python`` is the interpreter with clearml-agent installed (default: ``agent_python()``).
    ``workdir`` keeps the agent's HOME, temp files and captures there (default: a temporary
    directory removed afterwards).
    """
    kwargs = dict(
        namespace=namespace,
        queue_name=queue_name,
        task_id=task_id,
        image=image,
        worker_id=worker_id,
        max_pods=max_pods,
        extra_env=dict(extra_env or {}),
        python=python or agent_python(),
        timeout=timeout,
    )
    if workdir is not None:
        path = Path(workdir)
        path.mkdir(parents=True, exist_ok=True)
        return _run(Path(template_yaml), workdir=path, **kwargs)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="agent-harness-") as tmp:
        return _run(Path(template_yaml), workdir=Path(tmp), **kwargs)  # type: ignore[arg-type]


def build_task_pod(
    template_yaml: str | os.PathLike[str],
    *,
    namespace: str,
    queue_name: str,
    task_id: str = DEFAULT_TASK_ID,
    image: str = DEFAULT_IMAGE,
    worker_id: str = DEFAULT_WORKER_ID,
    max_pods: int | None = DEFAULT_MAX_PODS,
) -> tuple[dict[str, Any], str]:
    """Run the real clearml-agent K8sIntegration code path for one queued task, with only the
    ClearML server side stubbed, and return (the pod manifest the agent would apply, the namespace
    it would apply it in).

    The manifest is the file the agent handed to ``kubectl apply``, parsed; the namespace is the
    agent's ``--namespace=`` argument of that call.
    """
    run = run_agent_for_task(
        template_yaml,
        namespace=namespace,
        queue_name=queue_name,
        task_id=task_id,
        image=image,
        worker_id=worker_id,
        max_pods=max_pods,
    )
    return run.manifest, run.namespace
