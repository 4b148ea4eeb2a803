"""The operator as a process for section 7, and what the benchmark watches to see when it is done.

`operate` runs as a user runs it outside a cluster (`--kubeconfig`, auto mode, the pinned helm), with the
control plane's admin credentials; its peak resident memory is read from /proc (VmHWM) before it stops.
The finish lines are read through watches (the library's informer), never by polling with kubectl.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sandbox.endpoints import free_port, metrics_of
from sandbox.paths import RENDERER

from .cluster import Cluster
from .config import CLI
from .timing import BenchError

AGENT_NAME = "app.kubernetes.io/name=clearml-runai-agent"


class OperatorProcess:
    """`clearml-runai-gen operate --all-projects` against the local control plane."""

    def __init__(self, cluster: Cluster, clearml_ns: str, log: Path, resync: int = 300) -> None:
        self.metrics_port = free_port()
        args = [
            CLI, "operate", "--all-projects", "--clearml-namespace", clearml_ns, "--kubeconfig", cluster.kubeconfig,
            "--resync-seconds", str(resync), "--health-address", f"127.0.0.1:{free_port()}",
            "--metrics-address", f"127.0.0.1:{self.metrics_port}",
        ]  # fmt: skip
        # the chart rendered as the operator's image renders it: by clearml-runai-render (renderer/)
        env = {**cluster.env, "CLEARML_RUNAI_RENDERER": str(RENDERER)}
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([str(a) for a in args], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        self.log = log

    def metrics(self) -> dict[str, float]:
        deadline = time.monotonic() + 30
        while True:
            try:
                return metrics_of(self.metrics_port)
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise BenchError(f"the operator's metrics did not answer; see {self.log}") from None
                time.sleep(0.2)

    def peak_rss(self) -> int:
        """Bytes: the most resident memory the operator has had (VmHWM), with that of its renderer process
        (what its pod holds: the two run side by side for the process's life)."""
        return sum(self.peak_rss_apart())

    def peak_rss_apart(self) -> tuple[int, int]:
        """(the operator's VmHWM, its child processes' together), bytes."""
        return _hwm(self.proc.pid), sum(_hwm(pid) for pid in _children(self.proc.pid))

    def alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise BenchError(f"the operator exited ({self.proc.returncode}): {tail[0]}")

    def stop(self) -> float:
        """SIGTERM, as the kubelet stops it; the seconds it took to exit."""
        t0 = time.perf_counter()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return time.perf_counter() - t0


class Watch:
    """The first time each object of a kind met `done`, from a watch of the whole cluster."""

    def __init__(self, cluster: Cluster, kind: str, path: str, selector: str, done: Callable[[dict[str, Any]], bool]):
        from clearml_runai_gen.kube import load_api_client
        from clearml_runai_gen.operator.informer import Informer

        self.done = done
        self.first: dict[str, float] = {}  # namespace -> perf_counter when its object first met `done`
        self.last: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._stop = threading.Event()
        api = load_api_client(cluster.kubeconfig, None)
        self.informer = Informer(api, kind, path, selector, self._event)
        self.thread = threading.Thread(target=self.informer.run, args=(self._stop,), daemon=True)
        self.thread.start()
        if not self.informer.synced.wait(60):
            raise BenchError(f"the watch of {kind} did not start")

    def _event(self, type_: str, obj: dict[str, Any]) -> None:
        ns = obj["metadata"].get("namespace") or ""
        with self._cond:
            if type_ == "DELETED":
                self.last.pop(ns, None)
                return
            self.last[ns] = obj
            if ns not in self.first and self.done(obj):
                self.first[ns] = time.perf_counter()
                self._cond.notify_all()

    def reset(self, namespaces: list[str] | None = None) -> None:
        with self._cond:
            for ns in list(self.first) if namespaces is None else namespaces:
                self.first.pop(ns, None)

    def wait(self, namespaces: list[str], timeout: float, what: str, check: Callable[[], None] = lambda: None) -> float:
        """perf_counter when the last of `namespaces` met `done`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                missing = [ns for ns in namespaces if ns not in self.first]
                if not missing:
                    return max(self.first[ns] for ns in namespaces)
                if time.monotonic() > deadline:
                    raise BenchError(f"{what}: {len(missing)} of {len(namespaces)} not done in {timeout:.0f} s")
                self._cond.wait(0.5)
                check()

    def close(self) -> None:
        self._stop.set()


def agent_ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def objects_applied(obj: dict[str, Any]) -> bool:
    checks = (obj.get("status") or {}).get("checks") or []
    return any(c.get("name") == "objects applied" and c.get("status") == "True" for c in checks)


def deployment_available(obj: dict[str, Any]) -> bool:
    status, meta = obj.get("status") or {}, obj.get("metadata") or {}
    return int(status.get("availableReplicas") or 0) >= 1 and status.get("observedGeneration") == meta.get("generation")


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise BenchError("no VmHWM in /proc (not Linux?)")


def _children(pid: int) -> list[int]:
    """The processes `pid` started that still run (its renderer)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found
