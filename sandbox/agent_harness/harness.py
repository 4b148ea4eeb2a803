"""Run an installed release's clearml-agent (the real k8s glue daemon loop) on this host, as its container.

``AgentDaemon(admin_kubeconfig, namespace, release, clearml, workdir, poll_interval=1.0, extra_env=None)``
    Reads, with the admin's kubeconfig, the release's agent Deployment (label
    ``app.kubernetes.io/instance=<release>``) and the ConfigMaps and Secrets it references, and creates a
    token of its ServiceAccount (``kubectl create token``); ``entrypoint.plan_launch`` turns them into
    the process the container runs (see ``entrypoint.py`` for what is substituted and why). Used as a
    context manager it starts that process (its output captured in ``<workdir>/agent.log``) and
    stops it on exit with SIGTERM, as the kubelet does (the agent then unregisters its worker);
    whatever is left of its process group is killed. Should the test process die, the agent gets the
    SIGTERM too: a killed test run leaves no agent behind.

    ``launch``       what runs: argv, env, files, ``substitutions`` (what differs from the pod)
    ``kubeconfig``   the ServiceAccount's kubeconfig the agent's kubectl uses
    ``log()``        the agent's output so far; it never holds the ClearML secret key
    ``wait_for(check, what, timeout=60)``
                     calls ``check()`` until it returns something truthy and returns that; fails with
                     the tail of the log when the agent exits first or time runs out
    ``wait_exit(timeout=60)``  the agent's exit code, once it has exited
    ``stop()``       as on leaving the context

``task_pod_name(task_id)``  the pod the agent creates for a task: ``clearml-id-<task id>``.
``sa_kubeconfig(kubectl, namespace, sa, path)``  a kubeconfig with a fresh token of ServiceAccount ns/sa.
``agent_python()``  the interpreter with the pinned clearml-agent (``make agent-venv``).

``poll_interval`` becomes ``CLEARML_AGENT_QUEUE_POLL_FREQ_SEC`` (the agent's default is 5 s; it also
paces the pending-pods monitor) and ``CLEARML_AGENT_STATUS_REPORT_FREQ_SEC``: 1 s keeps a test's wait
for the agent to a second or two. Both are the agent's own settings, set through its environment.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .clearml_stub import ClearMLStandIn
from .entrypoint import AgentHarnessError, HostSide, Launch, plan_launch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
GLUE = HERE / "k8s_glue.py"
KUBECTL = ROOT / ".cache" / "tools" / "kubectl"
# The pinned clearml-agent lives in a venv of its own (make agent-venv), apart from the tool and its tests.
AGENT_VENV = ROOT / ".cache" / "agent-venv"
POD_PREFIX = "clearml-id-"

T = TypeVar("T")
Kubectl = Callable[..., str]


def agent_python() -> str:
    """The interpreter that has the pinned clearml-agent: $CLEARML_AGENT_PYTHON, else .cache/agent-venv."""
    python = os.environ.get("CLEARML_AGENT_PYTHON") or str(AGENT_VENV / "bin" / "python")
    if not Path(python).exists():
        raise AgentHarnessError(f"{python} is missing: run `make agent-venv` (the pinned clearml-agent's own venv)")
    return python


def task_pod_name(task_id: str) -> str:
    return POD_PREFIX + task_id


def kubectl_as(kubeconfig: str) -> Kubectl:
    """Run the pinned kubectl with `kubeconfig`; returns stdout, raises with stderr on failure."""

    def run(*args: str) -> str:
        if not KUBECTL.exists():
            raise AgentHarnessError(f"{KUBECTL} is missing: run `make tools`")
        proc = subprocess.run(
            [str(KUBECTL), "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, timeout=120
        )
        if proc.returncode != 0:
            raise AgentHarnessError(f"kubectl {' '.join(args[:4])} failed: {proc.stderr.strip()}")
        return proc.stdout

    return run


def sa_kubeconfig(kubectl: Kubectl, namespace: str, sa: str, path: Path, duration: str = "2h") -> Path:
    """A kubeconfig that authenticates with a fresh token of ServiceAccount namespace/sa."""
    token = kubectl("create", "token", sa, "-n", namespace, "--duration", duration).strip()
    admin = json.loads(kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json"))
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "sa",
        "clusters": [{"name": "cluster", "cluster": admin["clusters"][0]["cluster"]}],
        "contexts": [{"name": "sa", "context": {"cluster": "cluster", "user": "sa", "namespace": namespace}}],
        "users": [{"name": "sa", "user": {"token": token}}],
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


Objects = dict[str, Any]


def _release_objects(
    kubectl: Kubectl, namespace: str, release: str, deployment: str | None = None
) -> tuple[Objects, Objects, Objects]:
    """The release's agent Deployment (`deployment`, one of a release with queue profiles), and the
    namespace's ConfigMaps and Secrets by name."""
    deploys = json.loads(
        kubectl("get", "deployment", "-n", namespace, "-l", f"app.kubernetes.io/instance={release}", "-o", "json")
    )["items"]
    if deployment is not None:
        deploys = [d for d in deploys if d["metadata"]["name"] == deployment]
    if len(deploys) != 1:
        raise AgentHarnessError(f"release {release} in {namespace} has {len(deploys)} Deployments, expected 1")
    by_name = {}
    for kind in ("configmap", "secret"):
        items = json.loads(kubectl("get", kind, "-n", namespace, "-o", "json"))["items"]
        by_name[kind] = {o["metadata"]["name"]: o for o in items}
    return deploys[0], by_name["configmap"], by_name["secret"]


def _terminate_with_parent() -> None:
    """In the agent's process, before it runs: SIGTERM it when the test process dies, as the kubelet
    would stop the pod, so that a killed test run leaves no agent behind (Linux prctl PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)


class AgentDaemon:
    def __init__(
        self,
        admin_kubeconfig: str,
        namespace: str,
        release: str,
        clearml: ClearMLStandIn,
        workdir: Path,
        *,
        poll_interval: float = 1.0,
        extra_env: Mapping[str, str] | None = None,
        deployment_name: str | None = None,
    ) -> None:
        kubectl = kubectl_as(admin_kubeconfig)
        deployment, configmaps, secrets = _release_objects(kubectl, namespace, release, deployment_name)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        sa = deployment["spec"]["template"]["spec"].get("serviceAccountName") or "default"
        self.kubeconfig = sa_kubeconfig(kubectl, namespace, sa, self.workdir / "agent.kubeconfig")
        host = HostSide(
            home=self.workdir / "root",
            tmp=self.workdir / "tmp",
            bin=self.workdir / "bin",
            kubeconfig=self.kubeconfig,
            python=agent_python(),
            glue=GLUE,
            root=self.workdir / "fs",
        )
        env = {
            "CLEARML_AGENT_QUEUE_POLL_FREQ_SEC": str(poll_interval),
            "CLEARML_AGENT_STATUS_REPORT_FREQ_SEC": str(poll_interval),
            **(extra_env or {}),
        }
        self.launch: Launch = plan_launch(deployment, configmaps, secrets, host, clearml.url, env)
        self._secret = self.launch.env.get("CLEARML_API_SECRET_KEY", "")
        self._bin = host.bin
        self._log_path = self.workdir / "agent.log"
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> AgentDaemon:
        for d in self.launch.dirs:
            d.mkdir(parents=True, exist_ok=True)
        (self._bin / "kubectl").unlink(missing_ok=True)
        (self._bin / "kubectl").symlink_to(KUBECTL)
        for path, content in self.launch.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(0o600)
        with open(self._log_path, "wb") as log:
            self._proc = subprocess.Popen(
                self.launch.argv,
                env=self.launch.env,
                cwd=self.launch.env["HOME"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kubectl children go with it
                preexec_fn=_terminate_with_parent,
            )
        return self

    def stop(self, timeout: float = 20.0) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the agent's handler unregisters the worker, then exits
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a kubectl it had started, if any is left
        return proc.returncode

    def __enter__(self) -> AgentDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ watching

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def log(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def _tail(self, lines: int = 60) -> str:
        text = "\n".join(self.log().splitlines()[-lines:])
        if self._secret:
            text = text.replace(self._secret, "****")  # an error message must not spread it, whatever happened
        return f"--- last lines of {self._log_path} ---\n{text}"

    def wait_for(self, check: Callable[[], T], what: str, timeout: float = 60.0) -> T:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if self.returncode is not None:
                raise AgentHarnessError(f"the agent exited ({self.returncode}) before {what}\n{self._tail()}")
            if time.monotonic() > deadline:
                raise AgentHarnessError(f"no {what} within {timeout:.0f}s\n{self._tail()}")
            time.sleep(0.25)

    def wait_exit(self, timeout: float = 60.0) -> int:
        assert self._proc is not None, "the agent was not started"
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AgentHarnessError(f"the agent still runs after {timeout:.0f}s\n{self._tail()}") from None
