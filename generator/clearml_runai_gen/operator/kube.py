"""The operator's door to the API server: get, server-side apply, delete, list, status and Events.

Requests go through the kubernetes client's ApiClient (its auth and TLS), as `source` makes them; a
failure is a ClusterError that says what was tried. A missing object is None, never an error.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import ClusterError
from ..kube import api_request
from ..models import Obj
from .informer import Informer, parse_selector
from .spec import GROUP, MANAGED_SELECTOR, MANAGER, PLURAL, VERSION

# every kind the agent chart renders (all namespaced), and the operator's own
PATHS = {
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    "Pod": "/api/v1/namespaces/{ns}/pods",
    "Service": "/api/v1/namespaces/{ns}/services",
    "Event": "/api/v1/namespaces/{ns}/events",
    "ClearMLAgent": f"/apis/{GROUP}/{VERSION}/namespaces/{{ns}}/{PLURAL}",
}
log = logging.getLogger("clearml-runai-operator")
CHART_KINDS = ("ServiceAccount", "Secret", "ConfigMap", "Role", "RoleBinding", "Deployment", "NetworkPolicy")


class Kube:
    """The requests of the operator; `writes` counts every write it made (for metrics and the idle test)."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.writes = 0

    def request(self, method: str, path: str, **options: Any) -> Any:
        """`kube.api_request` (what=, query=, body=, content_type=); None for an object that is not there."""
        if method != "GET":
            self.writes += 1
            log.debug("write: %s %s", method, path)
        return api_request(self.api, method, path, missing_ok=True, **options)

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.request("GET", f"{PATHS[kind].format(ns=namespace)}/{name}", what=f"get {kind} {namespace}/{name}")  # type: ignore[no-any-return]

    def get_owned(self, kind: str, namespace: str, name: str) -> Obj | None:
        """An object the chart renders for an agent (a cache may answer it without a request)."""
        return self.get(kind, namespace, name)

    def list(self, kind: str, namespace: str, selector: str = "") -> list[Obj]:
        query = {"labelSelector": selector} if selector else None
        data = self.request("GET", PATHS[kind].format(ns=namespace), what=f"list {kind} in {namespace}", query=query)
        items = (data or {}).get("items") or []
        for item in items:
            item.setdefault("kind", kind)
        return list(items)

    def apply(self, obj: Obj) -> Obj:
        """Server-side apply as the operator's field manager; forced: the operator owns these fields."""
        kind, meta = obj["kind"], obj["metadata"]
        path = f"{PATHS[kind].format(ns=meta['namespace'])}/{meta['name']}"
        return self.request(  # type: ignore[no-any-return]
            "PATCH",
            path,
            what=f"apply {kind} {meta['namespace']}/{meta['name']}",
            body=obj,
            query={"fieldManager": MANAGER, "force": "true"},
            content_type="application/apply-patch+yaml",
        )

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.request(
            "DELETE",
            f"{PATHS[kind].format(ns=namespace)}/{name}",
            what=f"delete {kind} {namespace}/{name}",
            body={"propagationPolicy": "Background"},
        )

    def create(self, kind: str, namespace: str, obj: Obj) -> Obj | None:
        return self.request("POST", PATHS[kind].format(ns=namespace), what=f"create {kind} in {namespace}", body=obj)  # type: ignore[no-any-return]

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> Obj | None:
        path = f"{PATHS['ClearMLAgent'].format(ns=namespace)}/{name}/status"
        return self.request(  # type: ignore[no-any-return]
            "PATCH",
            path,
            what=f"update the status of ClearMLAgent {namespace}/{name}",
            body={"status": status},
            content_type="application/merge-patch+json",
        )

    def event(self, owner: Obj, type_: str, reason: str, message: str, now: str) -> None:
        """A Kubernetes Event on the ClearMLAgent (applied, source unreadable, rotation seen)."""
        meta = owner["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": MANAGER},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.create("Event", meta["namespace"], body)
        except ClusterError as exc:  # an Event is a courtesy: a namespace being deleted refuses it, and that is fine
            log.debug("no Event on ClearMLAgent %s/%s: %s", meta["namespace"], meta["name"], exc)


def cluster_path(kind: str) -> str:
    """The path that lists `kind` in every namespace."""
    return PATHS[kind].replace("/namespaces/{ns}", "")


class CachedKube(Kube):
    """Kube whose reads come from informers where one holds the kind and its selector covers the read.

    `get_owned` answers from the informer of the objects the operator marks as its own: absent there is
    absent (no request; an unmarked one of that name is taken over by the apply all the same). Any other
    read no synced informer covers goes to the API server. A write's answer goes into the informer that
    holds its kind, so the next read sees it.
    """

    def __init__(self, api: Any, informers: list[Informer]) -> None:
        super().__init__(api)
        self.informers = informers
        self.reads = 0  # reads that went to the API server (metrics)

    def request(self, method: str, path: str, **options: Any) -> Any:
        if method == "GET":
            self.reads += 1
        return super().request(method, path, **options)

    def _informer(self, kind: str, terms: list[tuple[str, str, str]] | None, full: bool = True) -> Informer | None:
        """A synced informer of `kind` whose selector is part of `terms` (and that keeps whole objects if `full`)."""
        if terms is None:
            return None
        for informer in self.informers:
            if informer.kind != kind or not informer.synced.is_set() or (full and informer.metadata_only):
                continue
            if set(informer.terms) <= set(terms):
                return informer
        return None

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        informer = self._informer(kind, [])
        if informer is not None:  # it holds every object of the kind: absent is absent
            return informer.get(namespace, name)
        return super().get(kind, namespace, name)

    def get_owned(self, kind: str, namespace: str, name: str) -> Obj | None:
        informer = self._informer(kind, parse_selector(MANAGED_SELECTOR))
        if informer is None:
            return super().get(kind, namespace, name)
        return informer.get(namespace, name)

    def list(self, kind: str, namespace: str, selector: str = "") -> list[Obj]:
        terms = parse_selector(selector)
        informer = self._informer(kind, terms, full=False)
        if informer is None:
            return super().list(kind, namespace, selector)
        return informer.in_namespace(namespace, terms or [])

    def _put(self, obj: Obj | None) -> None:
        for informer in self.informers:
            if obj and informer.kind == obj.get("kind") and not informer.metadata_only:
                informer.put(obj)

    def apply(self, obj: Obj) -> Obj:
        live = super().apply(obj)
        if isinstance(live, dict):
            live.setdefault("kind", obj["kind"])
            self._put(live)
        return live

    def create(self, kind: str, namespace: str, obj: Obj) -> Obj | None:
        live = super().create(kind, namespace, obj)
        if isinstance(live, dict) and kind != "Event":
            live.setdefault("kind", kind)
            self._put(live)  # auto mode sees its own ClearMLAgent at once, before the watch brings it
        return live

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> Obj | None:
        live = super().patch_status(namespace, name, status)
        if isinstance(live, dict):
            live.setdefault("kind", "ClearMLAgent")
            self._put(live)
        return live

    def delete(self, kind: str, namespace: str, name: str) -> None:
        super().delete(kind, namespace, name)
        for informer in self.informers:
            if informer.kind == kind:
                informer.drop(namespace, name)
