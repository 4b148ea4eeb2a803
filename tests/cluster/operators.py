"""The operator as the cluster tests run it: the operator chart installed with helm, and `clearml-runai-gen
operate` started with that chart's Deployment's args and env and a token of its ServiceAccount (so its
ClusterRole is what is proven).

What differs from the pod: the process runs from the venv, not the image; the chart is rendered by the renderer
as ci/build.sh built it (CLEARML_RUNAI_RENDERER; the image builds the same source) or, with rendering="helm", by
the pinned helm binary (CLEARML_RUNAI_HELM); the health and metrics addresses are free local ports instead of
the container's.
The chart is installed with replicaCount 0, so that no stand-in pod of the operator runs beside it.

``running_operator(kube, clearml_ns, workdir, resync)`` installs the chart and runs the operator (a context
manager: on exit it stops it with SIGTERM, checks it stopped cleanly within 10 s, and removes what the
tests made through ``project_namespace``, the ClearML namespace and the ClearMLAgents).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.cluster import Kube
from sandbox.endpoints import free_port, metrics_of
from sandbox.paths import RENDERER, cli, renderer
from tests.conftest import ROOT, tool

from .conftest import decode

OPERATOR_CHART = ROOT / "charts" / "clearml-runai-operator"
CRD = OPERATOR_CHART / "crds" / "clearmlagents.clearml-runai.io.yaml"
SYSTEM_NS = "clearml-runai-system"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (AssertionError, OSError) as exc:  # OSError: an endpoint not listening yet
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last})")


def spawn(
    container: dict[str, Any], kubeconfig: str, workdir: Path, name: str, rendering: str = "renderer"
) -> tuple[subprocess.Popen[str], Path, int, int]:
    """`operate` as the chart's container runs it: its args and env; POD_NAME (the downward API's) is `name`.
    `rendering`: "renderer" (clearml-runai-render, as the image has it) or "helm" (a `helm template` per agent,
    as a pip install without the renderer has it)."""
    health, metrics = free_port(), free_port()
    args = [a for a in container["args"] if not a.startswith(("--health-address", "--metrics-address"))]
    args += [f"--health-address=127.0.0.1:{health}", f"--metrics-address=127.0.0.1:{metrics}"]
    env = {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}
    env["HOME"] = str(workdir)  # the pod's /tmp
    env["POD_NAME"] = name
    log = workdir / f"{name}.log"
    proc = subprocess.Popen(
        [cli(), *args, "--kubeconfig", kubeconfig],
        env={"PATH": os.environ["PATH"], **RENDERING[rendering](), **env},
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, log, metrics, health


RENDERING = {
    "renderer": lambda: {"CLEARML_RUNAI_RENDERER": renderer()},
    "helm": lambda: {"CLEARML_RUNAI_HELM": tool("helm")},
}
RENDERED_BY = {"renderer": "the chart rendered by " + str(RENDERER), "helm": "the chart rendered by helm template"}


@dataclass
class Operator:
    kube: Kube
    proc: subprocess.Popen[str]
    log: Path
    metrics_port: int
    clearml_ns: str
    container: dict[str, Any]
    kubeconfig: str
    workdir: Path
    rendering: str

    def metrics(self) -> dict[str, float]:
        return metrics_of(self.metrics_port)

    def agent(self, namespace: str, name: str) -> dict[str, Any] | None:
        proc = self.kube.kubectl("get", "clearmlagent", name, "-n", namespace, "-o", "json", check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def ready(self, namespace: str, name: str) -> dict[str, Any]:
        agent = self.agent(namespace, name) or {}
        status = agent.get("status") or {}
        ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
        return {
            **ready,
            "observed": status.get("observedGeneration"),
            "generation": agent.get("metadata", {}).get("generation"),
        }


def chart_container(kube: Kube) -> dict[str, Any]:
    deploy = kube.get("deployment", SYSTEM_NS, "clearml-runai-operator")
    return dict(deploy["spec"]["template"]["spec"]["containers"][0])


@contextmanager
def running_operator(
    kube: Kube, clearml: str, workdir: Path, resync: float, rendering: str = "renderer"
) -> Iterator[Operator]:
    kube.kubectl("apply", "--server-side", "-f", str(CRD))
    kube.kubectl("wait", "--for=condition=Established", "crd/clearmlagents.clearml-runai.io", "--timeout=60s")
    kube.kubectl("create", "namespace", SYSTEM_NS, check=False)
    kube.helm(
        "v4",
        "upgrade",
        "--install",
        "clearml-runai-operator",
        str(OPERATOR_CHART),
        "-n",
        SYSTEM_NS,
        "--set",
        f"clearmlNamespace={clearml}",
        "--set",
        f"resyncSeconds={resync:g}",
        "--set",
        "replicaCount=0",
    )
    container = chart_container(kube)
    sa = kube.get("deployment", SYSTEM_NS, "clearml-runai-operator")["spec"]["template"]["spec"]["serviceAccountName"]
    kubeconfig = kube.service_account_kubeconfig(SYSTEM_NS, sa, workdir)
    proc, log, metrics, health = spawn(container, kubeconfig, workdir, "operator-a", rendering)
    op = Operator(kube, proc, log, metrics, clearml, container, kubeconfig, workdir, rendering)
    try:
        wait_for(
            "the operator's health endpoint",
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=2).status == 200,
        )
        assert RENDERED_BY[rendering] in log.read_text(), log.read_text()[-2000:]
        yield op
    finally:
        stopped = time.monotonic()
        proc, log = op.proc, op.log  # scenario 9 starts it again
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(
                f"the operator did not stop within 10 s of SIGTERM:\n{log.read_text()[-3000:]}"
            ) from None
        finally:
            kube.kubectl("delete", "clearmlagents", "--all", "-A", "--wait=false", check=False)
            kube.helm("v4", "uninstall", "clearml-runai-operator", "-n", SYSTEM_NS, check=False)
            gone = sorted({*CREATED_NAMESPACES, clearml})
            kube.kubectl("delete", "namespace", *gone, "--wait=false", "--ignore-not-found", check=False)
            # gone before the next module starts: dozens of namespaces being emptied load the control plane
            # under that module's own timing (a Job's replacement pod came after 90 s once)
            kube.kubectl("wait", "--for=delete", "namespace", *gone, "--timeout=180s", check=False)
            CREATED_NAMESPACES.clear()
        assert code == 0, f"operator exited {code} after SIGTERM ({time.monotonic() - stopped:.1f} s)"
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


CREATED_NAMESPACES: list[str] = []  # removed when the operator stops, with its ClearML install


def project_namespace(
    kube: Kube, project: str, name: str | None = None, annotations: dict[str, str] | None = None
) -> str:
    ns = name or f"team-{project}"  # not runai-<project>: Run:ai lets a project have any namespace
    CREATED_NAMESPACES.append(ns)
    kube.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"runai/queue": project}, "annotations": annotations or {}},
            }
        ]
    )
    return ns


def agent_objects(kube: Kube, ns: str, project: str) -> dict[str, dict[str, Any]]:
    out = {}
    for kind in ("serviceaccount", "role", "rolebinding", "configmap", "secret", "deployment"):
        for obj in kube.get(kind, ns, selector=f"app.kubernetes.io/instance=clearml-runai-{project}")["items"]:
            out[f"{kind}/{obj['metadata']['name']}"] = obj
    return out


def versions(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    """What changes with a write of ours: a Deployment's generation (its status moves on its own), else the version."""
    return {k: str(v["metadata"].get("generation") or v["metadata"]["resourceVersion"]) for k, v in objects.items()}


KEY_ENV = ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY")


def source_key_refs(kube: Kube, namespace: str) -> dict[str, dict[str, str]]:
    """Where the source agent reads its key pair: env name -> its secretKeyRef."""
    refs = {}
    for deploy in kube.get("deployment", namespace)["items"]:
        for container in deploy["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env") or []:
                if env["name"] in KEY_ENV and "secretKeyRef" in (env.get("valueFrom") or {}):
                    refs[env["name"]] = env["valueFrom"]["secretKeyRef"]
    assert set(refs) == set(KEY_ENV), f"the source agent reads {sorted(refs)} from a Secret, not both keys"
    return refs


def source_keys(kube: Kube, namespace: str) -> tuple[str, str]:
    """The key pair the source agent reads now."""
    refs = source_key_refs(kube, namespace)
    access, secret = (decode(kube.get("secret", namespace, refs[e]["name"]), refs[e]["key"]) for e in KEY_ENV)
    return access, secret


def rotate_source_keys(kube: Kube, namespace: str, new: tuple[str, str]) -> None:
    """Rotate the source agent's key pair to `new` as an admin does: one write per Secret (both keys at once
    when one Secret holds them, so that no agent rolls onto half a pair)."""
    refs = source_key_refs(kube, namespace)
    patches: dict[str, dict[str, str]] = {}
    for env, value in zip(KEY_ENV, new, strict=True):
        patches.setdefault(refs[env]["name"], {})[refs[env]["key"]] = value
    for name, data in patches.items():
        patch = json.dumps({"stringData": data})
        kube.kubectl("patch", "secret", name, "-n", namespace, "--type=merge", "-p", patch)


def checksum_of(kube: Kube, ns: str, project: str) -> str:
    """The agent pod's checksum/secret: it changes when the agent's credentials do (the Deployment rolls)."""
    deploy = kube.get("deployment", ns, f"clearml-runai-{project}")
    return str(deploy["spec"]["template"]["metadata"]["annotations"]["checksum/secret"])


def rolled_with(kube: Kube, ns: str, project: str, checksum_before: str, pair: tuple[str, str]) -> bool:
    """Whether the agent of `project` rolled (its checksum/secret changed) and its Secret holds `pair`."""
    if checksum_of(kube, ns, project) == checksum_before:
        return False
    secret = kube.get("secret", ns, f"clearml-runai-{project}")
    return set(pair) <= {decode(secret, k) for k in secret["data"]}
