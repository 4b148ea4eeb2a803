"""`operate`: the operator's process. Informers (one LIST, then a WATCH, of ClearMLAgents, the objects
they own, helm's release Secrets and task pods) feed a work queue and serve the reconciler's reads;
worker threads reconcile; kopf runs the process (start-up, login, liveness, SIGTERM) and, in auto mode,
watches the project namespaces; the ClearML namespaces (the own one, and each one a ClearMLAgent reads)
are watched apart.

The only module that imports kopf, and only when `operate` runs.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..errors import GenError, UsageError
from ..taskpods import TASK_POD_SELECTOR
from .auto import agent_for, made_by_operator, namespace_action
from .informer import Informer
from .kube import CHART_KINDS, PATHS, CachedKube, Kube, cluster_path
from .lease import Elector
from .metrics import serve_metrics
from .objects import RENDERER, ChartRenderer, Render, chart_renderer, render_chart
from .reconcile import Reconciler
from .spec import GROUP, MANAGED_SELECTOR, PLURAL, PROJECT_LABEL, VERSION
from .watches import Watches
from .workqueue import WorkQueue

log = logging.getLogger("clearml-runai-operator")

RETRY_SECONDS = 5.0  # after a failed write or read of the API: level-triggered, so a retry is safe
SYNC_SECONDS = 60.0  # workers wait this long at most for the informers' first LIST before they start


@dataclass(frozen=True)
class OperatorConfig:
    clearml_namespace: str = "clearml"
    all_projects: bool = False
    kubeconfig: str | None = None
    context: str | None = None
    workers: int = 4
    resync_seconds: float = 300.0
    health_address: str = "0.0.0.0:8080"
    metrics_address: str = "0.0.0.0:9090"
    lease: str = "off"  # NAMESPACE/NAME of the Lease that lets one replica act at a time; off: act alone
    identity: str = ""  # this replica's name in the Lease

    def check(self) -> None:
        if not 1 <= self.workers <= 64:
            raise UsageError(f"--concurrency {self.workers} must be between 1 and 64")
        if not 1 <= self.resync_seconds <= 86400:
            raise UsageError(f"--resync-seconds {self.resync_seconds:g} must be between 1 and 86400")
        for opt, address in (("--health-address", self.health_address), ("--metrics-address", self.metrics_address)):
            if address != "off" and not _host_port(address):
                raise UsageError(f"{opt} {address!r} is not HOST:PORT (or off); e.g. 0.0.0.0:8080")
        if self.lease != "off" and not _lease_ref(self.lease):
            raise UsageError(f"--lease {self.lease!r} is not NAMESPACE/NAME (or off); e.g. clearml-runai-system/op")


def _lease_ref(lease: str) -> tuple[str, str] | None:
    namespace, sep, name = lease.partition("/")
    return (namespace, name) if sep and namespace and name and "/" not in name else None


def _host_port(address: str) -> tuple[str, int] | None:
    host, _, port = address.rpartition(":")
    return (host or "0.0.0.0", int(port)) if port.isdigit() and 0 < int(port) < 65536 else None


def connection_info(api: Any) -> Any:
    """kopf's credentials from the same client configuration the library uses (--kubeconfig, --context, in-cluster)."""
    import kopf

    c = api.configuration
    header = c.get_api_key_with_prefix("BearerToken") or c.get_api_key_with_prefix("authorization") or ""
    scheme, _, token = header.partition(" ") if " " in header else ("Bearer", "", header)
    return kopf.ConnectionInfo(
        server=c.host,
        ca_path=c.ssl_ca_cert or None,
        insecure=not c.verify_ssl,
        scheme=scheme if token else None,
        token=token or None,
        certificate_path=c.cert_file or None,
        private_key_path=c.key_file or None,
    )


class Operator:
    """The moving parts apart from kopf: queue, workers, resync, ClearML watch. Started and stopped by kopf's hooks."""

    def __init__(self, config: OperatorConfig, api: Any, render: Render = render_chart) -> None:
        self.config = config
        self.api = api
        self.informers = self._informers(api)
        self.agents = self.informers[0]  # the ClearMLAgents, as their watch has them
        self.kube = CachedKube(api, self.informers)
        self.render = render
        self.reconciler = Reconciler(self.kube, config.clearml_namespace, render=render)
        self.queue = WorkQueue()
        self.stopping = threading.Event()
        self.watches = Watches(self._watch_clearml, config.clearml_namespace)
        self.threads: list[threading.Thread] = []
        self.lost = threading.Event()  # the Lease went to another replica: the process stops
        self._pending: dict[str, dict[str, Any]] = {}  # project namespaces seen while standing by
        self._lock = threading.Lock()
        ref = _lease_ref(config.lease)
        self.elector = Elector(Kube(api), ref[0], ref[1], config.identity, self._lead, self._lose) if ref else None
        self.leading = self.elector.leading if self.elector else threading.Event()
        if self.elector is None:
            self.leading.set()

    def _informers(self, api: Any) -> list[Informer]:
        """ClearMLAgents; the agents' objects, by the operator's mark (drift); helm's release Secrets, their
        metadata only (a release installed by hand); task pods (the status). One LIST each, then watches."""
        return [
            Informer(api, "ClearMLAgent", f"/apis/{GROUP}/{VERSION}/{PLURAL}", on_event=self._agent_event),
            *(Informer(api, k, cluster_path(k), MANAGED_SELECTOR, self._owned_event) for k in CHART_KINDS),
            Informer(api, "Secret", cluster_path("Secret"), "owner=helm", self._helm_event, metadata_only=True),
            Informer(api, "Pod", cluster_path("Pod"), TASK_POD_SELECTOR),
        ]

    def _agent_event(self, type_: str, body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if type_ == "DELETED":
            self.reconciler.forget(*key)
            self.follow_sources()
        else:
            self.queue.add(key)

    def _owned_event(self, _type: str, body: dict[str, Any]) -> None:
        """Drift, or the agent Deployment became available: its ClearMLAgent again."""
        meta = body.get("metadata") or {}
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == "ClearMLAgent" and str(ref.get("apiVersion", "")).startswith(GROUP + "/"):
                self.queue.add((str(meta.get("namespace") or ""), str(ref["name"])))

    def _helm_event(self, _type: str, body: dict[str, Any]) -> None:
        """A helm release came or went in a namespace: its ClearMLAgents again (leave it alone, or take over)."""
        ns = str((body.get("metadata") or {}).get("namespace") or "")
        for namespace, name in self.agents.names():
            if namespace == ns:
                self.queue.add((namespace, name))

    def _lose(self) -> None:
        """Lost the Lease: stop as on SIGTERM (kopf's own shutdown; a stop flag would leave a thread blocked)."""
        self.lost.set()
        os.kill(os.getpid(), signal.SIGTERM)

    def _lead(self) -> None:
        """Taken the Lease: what was seen while standing by is acted on (the work queue kept the ClearMLAgents)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        for body in pending.values():
            self.namespace_seen(body)

    def start(self) -> None:
        if self.elector is not None:
            self.elector.start()
        for informer in self.informers:
            self._thread(lambda i=informer: i.run(self.stopping), f"informer-{informer.kind}-{informer.selector}")
        for i in range(self.config.workers):
            self._thread(self._work, f"reconcile-{i}")
        self._thread(self._resync, "resync")
        self.watches.sync(())  # the own ClearML namespace; the others as ClearMLAgents name them
        if self.config.metrics_address != "off":
            host_port = _host_port(self.config.metrics_address)
            assert host_port is not None
            serve_metrics(host_port, self)

    def stop(self) -> None:
        self.stopping.set()
        self.watches.stop()
        self.queue.close()
        if isinstance(self.render, ChartRenderer):
            self.render.close()
        if self.elector is not None:
            self.elector.release()

    def _thread(self, target: Any, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def synced(self) -> bool:
        return all(i.synced.is_set() for i in self.informers)

    def _work(self) -> None:
        deadline = time.monotonic() + SYNC_SECONDS  # reads before the first LIST would go to the API server
        while not self.synced() and time.monotonic() < deadline and not self.stopping.wait(0.05):
            pass
        while self._wait_leading() and (item := self.queue.get()) is not None:
            try:
                self.reconcile(item)
            finally:
                self.queue.done(item)

    def reconcile(self, item: Any) -> None:
        """One ClearMLAgent: reconciled (tried again later on a failure), then the watches follow what it reads."""
        namespace, name = str(item[0]), str(item[1])
        try:
            outcome = self.reconciler.reconcile(namespace, name)
            if outcome is not None and outcome.reason == "ApplyFailed":
                self._later(item)
        except GenError as exc:  # the API refused the status write: one line, and again later
            log.warning("ClearMLAgent %s/%s: %s", namespace, name, exc)
            self._later(item)
        except Exception:  # a bug of ours must not end the worker; the object is tried again
            log.exception("reconcile of ClearMLAgent %s/%s failed", namespace, name)
            self._later(item)
        self.follow_sources()

    def follow_sources(self) -> None:
        """Watch every ClearML namespace some ClearMLAgent reads now, and no other beside the own one."""
        started, stopped = self.watches.sync(self.reconciler.source_namespaces())
        for ns in started:
            log.info("watching ClearML namespace %s", ns)
        for ns in stopped:
            log.info("ClearML namespace %s: no ClearMLAgent reads it any more; its watch stops", ns)

    def _wait_leading(self) -> bool:
        """A standby reconciles nothing: its workers wait until it holds the Lease (or it stops)."""
        while not self.leading.wait(1.0):
            if self.stopping.is_set():
                return False
        return True

    def _later(self, item: Any) -> None:
        timer = threading.Timer(RETRY_SECONDS, self.queue.add, (item,))
        timer.daemon = True
        timer.start()

    def _resync(self) -> None:
        """Every ClearMLAgent again now and then, with a fresh read of the ClearML install: what a missed
        watch event would leave wrong is put right here, and writes still happen only on a difference."""
        while not self.stopping.wait(self.config.resync_seconds):
            if not self.leading.is_set():
                continue
            for ns in self.reconciler.source_namespaces():
                self.reconciler.invalidate(ns)
            for key in self.agents.names():  # the ClearMLAgents as the watch has them
                self.queue.add(key)

    def clearml_changed(self, namespace: str) -> None:
        for agent in self.reconciler.invalidate(namespace):
            self.queue.add(agent)

    def _watch_clearml(self, ns: str, stop: threading.Event) -> None:
        """Watch a ClearML namespace until `stop` (see `clearml_informers`)."""
        for informer in self.clearml_informers(ns):
            self._thread(lambda i=informer: i.run(stop), f"watch-{informer.kind}-{ns}")

    def clearml_informers(self, ns: str) -> list[Informer]:
        """A ClearML namespace's Deployments, ConfigMaps, Secrets (not helm's releases) and Services, their
        metadata only: any change re-plans every ClearMLAgent that reads it (a rotation rolls them, an
        upgrade re-renders them). The first LIST re-plans them too: a change may have come before it."""
        kinds = (("Deployment", ""), ("ConfigMap", ""), ("Secret", "type!=helm.sh/release.v1"), ("Service", ""))
        return [
            Informer(
                self.api,
                kind,
                PATHS[kind].format(ns=ns),
                on_event=functools.partial(self._clearml_event, ns, kind),
                metadata_only=True,
                fields=fields,
            )
            for kind, fields in kinds
        ]

    def _clearml_event(self, ns: str, kind: str, type_: str, body: dict[str, Any]) -> None:
        log.info("ClearML namespace %s: %s %s %s", ns, kind, body["metadata"].get("name"), type_.lower())
        self.clearml_changed(ns)

    # ------------------------------------------------------------------ auto mode

    def namespace_event(self, body: dict[str, Any]) -> None:
        """A project namespace seen by the watch: acted on if this replica leads, else kept for when it does."""
        with self._lock:
            if not self.leading.is_set():
                self._pending[body["metadata"]["name"]] = body
                return
        self.namespace_seen(body)

    def namespace_seen(self, body: dict[str, Any]) -> None:
        action = namespace_action(body)
        ns = body["metadata"]["name"]
        try:
            agents = self.kube.list("ClearMLAgent", ns)
            if action == "ensure" and not agents:
                self.kube.create("ClearMLAgent", ns, agent_for(body))
                log.info("namespace %s: created its ClearMLAgent", ns)
            elif action == "remove":
                for agent in agents:
                    if made_by_operator(agent):  # one a person made is theirs to delete
                        self.kube.delete("ClearMLAgent", ns, agent["metadata"]["name"])
                        log.info(
                            "namespace %s: agent turned off, ClearMLAgent %s deleted", ns, agent["metadata"]["name"]
                        )
        except GenError as exc:
            log.warning("namespace %s: %s", ns, exc)


def operate(config: OperatorConfig) -> None:
    """Run until SIGTERM or SIGINT (kopf's own handlers), then stop the workers and return."""
    try:
        import kopf
    except ImportError:
        raise GenError(
            "operate needs kopf, which comes with the operator extra: pip install 'clearml-runai[operator]'"
        ) from None
    from ..kube import load_api_client

    config.check()
    render = chart_renderer()
    api = load_api_client(config.kubeconfig, config.context)
    operator = Operator(config, api, render)
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(registry=registry)
    def _startup(settings: Any, **_: Any) -> None:
        settings.process.ultimate_exiting_timeout = 9.5  # the last resort: SIGTERM stops it within 10 s
        settings.posting.enabled = False  # Events are the reconciler's, one per change, never per log line
        settings.scanning.disabled = True  # no watch of CRDs and namespaces for kopf's own discovery: less RBAC
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.label_selectors["", "v1", "namespaces"] = PROJECT_LABEL
        operator.start()

    @kopf.on.cleanup(registry=registry)
    def _cleanup(**_: Any) -> None:
        operator.stop()

    @kopf.on.login(registry=registry)
    def _login(**_: Any) -> Any:
        return connection_info(api)

    if config.all_projects:

        @kopf.on.event("", "v1", "namespaces", registry=registry, labels={PROJECT_LABEL: kopf.PRESENT})
        def _namespace(type: str | None, body: Any, **_: Any) -> None:  # noqa: A002
            if type != "DELETED":
                operator.namespace_event(dict(body))

    liveness = None if config.health_address == "off" else f"http://{config.health_address}/healthz"
    started = time.monotonic()
    log.info(
        "operator starting (ClearML namespace %s, auto mode %s, the chart rendered by %s)",
        config.clearml_namespace,
        config.all_projects,
        render.binary if isinstance(render, ChartRenderer) else f"helm template per agent ({RENDERER} not found)",
    )
    try:
        kopf.run(registry=registry, clusterwide=True, standalone=True, liveness_endpoint=liveness)
    finally:
        operator.stop()
        log.info("operator stopped after %.0f s", time.monotonic() - started)
    if operator.lost.is_set():
        raise GenError("lost the Lease to another replica; it acts now, and this one starts again as a standby")
