"""The local control plane of ci/cluster.sh: started when none runs, the API reads it serves counted."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from .config import BENCH_LABEL, CLUSTER, HELM, KUBECTL, READ_RESOURCES, ROOT
from .timing import BenchError, log, run


class Cluster:
    def __init__(self) -> None:
        self.kubeconfig = ""
        self.started_here = False
        self.created: list[str] = []

    def start(self) -> None:
        status = subprocess.run([str(CLUSTER), "status"], capture_output=True, text=True)
        if status.returncode == 0:
            self.kubeconfig = subprocess.run(
                [str(CLUSTER), "kubeconfig"], capture_output=True, text=True, check=True
            ).stdout.strip()
            log("using the control plane that already runs (it is left running)")
            self.clear_leftovers()
            return
        log("starting the local control plane (ci/cluster.sh up; the first build takes long) ...")
        up = subprocess.run([str(CLUSTER), "up"], stdout=subprocess.PIPE, text=True)
        lines = up.stdout.strip().splitlines()
        if up.returncode != 0 or not lines or not lines[-1].startswith("export KUBECONFIG="):
            raise BenchError("ci/cluster.sh up failed; see its messages above (or pass --offline)")
        self.started_here = True
        self.kubeconfig = lines[-1].removeprefix("export KUBECONFIG=")

    def clear_leftovers(self) -> None:
        """Namespaces an earlier run left (they may still be terminating): remove them and wait."""
        left = self.kubectl("get", "namespaces", "-l", f"{BENCH_LABEL}=true", "-o", "name").decode().split()
        if left:
            log(f"removing {len(left)} namespaces an earlier run left, and waiting until they are gone ...")
            self.kubectl("delete", "namespaces", "-l", f"{BENCH_LABEL}=true", "--wait=false")
            self.kubectl("wait", "--for=delete", "namespaces", "-l", f"{BENCH_LABEL}=true", "--timeout=300s")

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": self.kubeconfig, "KUBECTL": str(KUBECTL)}

    def kubectl(self, *args: Any, stdin: bytes | None = None) -> bytes:
        return run([KUBECTL, *args], env=self.env, stdin=stdin, what=f"kubectl {args[0]}")

    def helm(self, *args: Any) -> bytes:
        return run([HELM["helm v4"], *args], env=self.helm_env, what=f"helm {args[0]}")

    @property
    def helm_env(self) -> dict[str, str]:
        cache = str(ROOT / ".cache" / "helm")
        return {**self.env, "HELM_CACHE_HOME": cache, "HELM_CONFIG_HOME": cache, "HELM_DATA_HOME": cache}

    def namespace(self, name: str) -> None:
        """A namespace of this run (labelled, so that the clean-up and the next run remove it)."""
        self.apply(
            [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {BENCH_LABEL: "true"}}}]
        )
        self.created.append(name)

    def apply(self, objects: list[dict[str, Any]]) -> None:
        doc = {"apiVersion": "v1", "kind": "List", "items": objects}
        self.kubectl(
            "apply", "--server-side", "--field-manager", BENCH_LABEL, "-f", "-", stdin=json.dumps(doc).encode()
        )

    def requests(self) -> Counter[tuple[str, str, str]]:
        """apiserver_request_total of the reads of the kinds the tool reads, by (verb, resource, scope)."""
        out: Counter[tuple[str, str, str]] = Counter()
        for line in self.kubectl("get", "--raw", "/metrics").decode().splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
            if labels.get("resource") in READ_RESOURCES and labels.get("verb") in ("LIST", "GET"):
                out[(labels["verb"], labels["resource"], labels.get("scope", ""))] += int(float(line.split()[-1]))
        return out

    def write_requests(self) -> int:
        """Writes the API server answered (apiserver_request_total, every verb that changes something)."""
        total = 0
        for line in self.kubectl("get", "--raw", "/metrics").decode().splitlines():
            if line.startswith("apiserver_request_total{"):
                verb = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")])).get("verb")
                if verb in ("POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"):
                    total += int(float(line.split()[-1]))
        return total

    def foreign_namespaces(self) -> list[str]:
        """Namespaces neither the control plane nor this run made: someone else uses it."""
        try:
            out = self.kubectl("get", "namespaces", "-l", f"{BENCH_LABEL}!=true", "-o", "name").decode().split()
        except BenchError:
            return []
        # the control plane's own, and the one KAI's GPU sharing uses (ci/kai/defaults.yaml)
        own = {"default", "kube-system", "kube-public", "kube-node-lease", "kai-resource-reservation"}
        return [n.removeprefix("namespace/") for n in out if n.removeprefix("namespace/") not in own]

    def cleanup(self) -> None:
        if self.started_here:
            # a test run that found the control plane running uses it too: do not pull it from under it
            deadline = time.monotonic() + 120
            foreign = self.foreign_namespaces()
            if foreign:
                log(f"the control plane is in use by others too ({', '.join(foreign[:3])}); waiting up to 2 min ...")
            while foreign and time.monotonic() < deadline:
                time.sleep(10)
                foreign = self.foreign_namespaces()
            if foreign:
                log("left the control plane running for them; stop it with `ci/cluster.sh down` when they are done")
                self.started_here = False
            else:
                log("stopping the control plane this run started")
                subprocess.run([str(CLUSTER), "down"], capture_output=True)
                return
        if self.created:
            log(f"deleting the {len(self.created)} namespaces this run created (in the background)")
            subprocess.run(
                [str(KUBECTL), "delete", "namespace", "-l", f"{BENCH_LABEL}=true", "--wait=false"],
                env=self.env,
                capture_output=True,
            )


def count_delta(cluster: Cluster, fn: Callable[[], float]) -> tuple[float, int, dict[str, int]]:
    before = cluster.requests()
    dt = fn()
    after = cluster.requests()
    delta = {f"{v} {r}": after[(v, r, s)] - before.get((v, r, s), 0) for (v, r, s) in after}
    delta = {k: n for k, n in delta.items() if n}
    return dt, sum(delta.values()), delta


def calls_in_process(argv: list[str], env: dict[str, str]) -> list[str]:
    """The HTTP requests ("GET /path") of one `render` run in this process, counted where every request of
    the kubernetes client passes: ApiClient.call_api (whatever the tool calls above it)."""
    from clearml_runai_gen.cli import main as cli_main
    from kubernetes.client.api_client import ApiClient

    calls: list[str] = []
    original = ApiClient.call_api

    def counting(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(f"{method} {re.sub(r'^https?://[^/]+', '', url)}")
        return original(self, method, url, *args, **kwargs)

    old_env = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = env["KUBECONFIG"]
    ApiClient.call_api = counting  # type: ignore[method-assign]
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            rc = cli_main(argv)
    finally:
        ApiClient.call_api = original  # type: ignore[method-assign]
        if old_env is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = old_env
    if rc != 0:
        raise BenchError(f"render {' '.join(argv[:4])} ... failed in-process (exit {rc})")
    return calls


def make_namespaces(cluster: Cluster, first: int, last: int) -> None:
    new = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": f"runai-p{i}", "labels": {"runai/queue": f"p{i}", BENCH_LABEL: "true"}},
        }
        for i in range(first, last + 1)
    ]
    t0 = time.perf_counter()
    cluster.apply(new)
    cluster.created += [o["metadata"]["name"] for o in new]
    log(f"   created {len(new)} namespaces runai-p{first}..runai-p{last} in {time.perf_counter() - t0:.1f} s")


def labelled_projects(cluster: Cluster) -> dict[str, str]:
    """project -> namespace of every namespace labelled runai/queue, as `render --all-projects` sees them."""
    out = {}
    for ns in json.loads(cluster.kubectl("get", "namespaces", "-l", "runai/queue", "-o", "json"))["items"]:
        name = ns["metadata"]["name"]
        out[ns["metadata"]["labels"]["runai/queue"] or name.removeprefix("runai-")] = name
    return out
