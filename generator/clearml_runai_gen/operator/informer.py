"""Informers: one LIST, then a WATCH, of one kind cluster-wide (by label selector), kept in memory.

The reconciler reads what they hold instead of asking the API server again and again: after one LIST per
kind, every read of a steady operator is a watch event. A dropped or expired watch (410 Gone) lists again;
objects gone meanwhile are told as deleted. `managedFields` is not kept (the operator never reads it).

A store can lag behind a write the operator just made; the write's answer is put into it at once
(`put`), newer resourceVersions win, so a reconcile right after a write sees what it wrote.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from ..errors import GenError
from ..kube import api_request
from ..models import Obj

log = logging.getLogger("clearml-runai-operator")

WATCH_SECONDS = 290  # the API server ends a watch after this; it is started again from the last version
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
METADATA_WATCH = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

Key = tuple[str, str]  # namespace, name
OnEvent = Callable[[str, Obj], None]  # ("ADDED" | "MODIFIED" | "DELETED", object)


def parse_selector(selector: str) -> list[tuple[str, str, str]] | None:
    """Equality-based label selector terms as (key, op, value), op one of = != exists; None if not that simple."""
    terms = []
    for raw in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in raw:
            k, v = raw.split("!=", 1)
            terms.append((k.strip(), "!=", v.strip()))
        elif "=" in raw:
            k, v = raw.split("==", 1) if "==" in raw else raw.split("=", 1)
            terms.append((k.strip(), "=", v.strip()))
        elif any(c in raw for c in " ()!"):
            return None  # set-based (in, notin) or negated existence: left to the API server
        else:
            terms.append((raw, "exists", ""))
    return terms


def matches(labels: dict[str, str], terms: list[tuple[str, str, str]]) -> bool:
    for k, op, v in terms:
        if op == "exists" and k not in labels:
            return False
        if op == "=" and labels.get(k) != v:
            return False
        if op == "!=" and labels.get(k) == v:
            return False
    return True


def _parsed(text: str) -> Obj:
    obj: Obj = json.loads(text)
    return obj


def _version(obj: Obj) -> int:
    raw = str((obj.get("metadata") or {}).get("resourceVersion") or "0")
    return int(raw) if raw.isdigit() else 0


class Informer:
    """The objects of one kind that carry `selector`, cluster-wide, as the API server last said them."""

    def __init__(
        self,
        api: Any,
        kind: str,
        path: str,
        selector: str = "",
        on_event: OnEvent | None = None,
        metadata_only: bool = False,
        fields: str = "",
    ) -> None:
        self.api, self.kind, self.path, self.selector, self.fields = api, kind, path, selector, fields
        self.terms = parse_selector(selector) or []
        self.on_event = on_event or (lambda _type, _obj: None)
        self.metadata_only = metadata_only
        self.synced = threading.Event()
        self.lists = 0  # LIST requests made (one, and one more after each expired or broken watch)
        # each object as compact JSON, with its resourceVersion: a fifth of the memory of the parsed object
        # (thousands of them with hundreds of agents), and every read a copy its caller may change
        self._objects: dict[Key, tuple[int, str]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reading

    def get(self, namespace: str, name: str) -> Obj | None:
        with self._lock:
            kept = self._objects.get((namespace, name))
        return _parsed(kept[1]) if kept else None

    def in_namespace(self, namespace: str, terms: list[tuple[str, str, str]] | None = None) -> list[Obj]:
        with self._lock:
            found = [text for (ns, _), (_, text) in self._objects.items() if ns == namespace]
        objects = [_parsed(text) for text in found]
        return [o for o in objects if matches((o.get("metadata") or {}).get("labels") or {}, terms or [])]

    def names(self) -> list[Key]:
        with self._lock:
            return list(self._objects)

    def namespaces(self) -> set[str]:
        with self._lock:
            return {ns for ns, _ in self._objects}

    def __len__(self) -> int:
        with self._lock:
            return len(self._objects)

    def put(self, obj: Obj | None) -> None:
        """What a write of the operator answered: kept unless the store already holds a newer version."""
        if not obj or not matches((obj.get("metadata") or {}).get("labels") or {}, self.terms):
            return
        self._store(obj)

    def drop(self, namespace: str, name: str) -> None:
        with self._lock:
            self._objects.pop((namespace, name), None)

    def _store(self, obj: Obj) -> bool:
        obj.setdefault("kind", self.kind)
        meta = obj.setdefault("metadata", {})
        meta.pop("managedFields", None)
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        version, text = _version(obj), json.dumps(obj, separators=(",", ":"))
        with self._lock:
            old = self._objects.get(key)
            if old is not None and old[0] > version:
                return False
            self._objects[key] = (version, text)
        return True

    # ------------------------------------------------------------------ list and watch

    def run(self, stopping: threading.Event) -> None:
        """List, then watch, until `stopping`; after an error list again (a change may have been missed)."""
        version = ""
        while not stopping.is_set():
            try:
                if not version:
                    version = self._list()
                version = self._watch(version, stopping)
            except GenError as exc:
                log.warning("informer of %s: %s; listing again in 2 s", self.kind, exc)
                version = ""
                stopping.wait(2)
            except Exception as exc:  # a dropped connection, a bad line: list again
                log.debug("informer of %s: %s", self.kind, exc)
                version = ""
                stopping.wait(2)

    def _list(self) -> str:
        seen: dict[Key, Obj] = {}
        query = {"limit": "500", **({"labelSelector": self.selector} if self.selector else {})}
        if self.fields:
            query["fieldSelector"] = self.fields
        version = ""
        while True:
            data = self._request(query, METADATA_ONLY if self.metadata_only else "application/json")
            self.lists += 1
            for obj in data.get("items") or []:
                obj["kind"] = self.kind
                meta = obj.get("metadata") or {}
                seen[(str(meta.get("namespace") or ""), str(meta.get("name") or ""))] = obj
            version = str((data.get("metadata") or {}).get("resourceVersion") or "")
            cont = (data.get("metadata") or {}).get("continue")
            if not cont:
                break
            query = {**query, "continue": cont}
        with self._lock:
            gone = [text for k, (_, text) in self._objects.items() if k not in seen]
        for obj in map(_parsed, gone):
            self.drop(obj["metadata"].get("namespace") or "", obj["metadata"]["name"])
            self.on_event("DELETED", obj)
        for obj in seen.values():
            if self._store(obj):
                self.on_event("ADDED", obj)
        self.synced.set()
        return version

    def _request(self, query: dict[str, str], accept: str) -> Obj:
        data = api_request(self.api, "GET", self.path, what=f"list {self.kind}", query=query, accept=accept)
        return data if isinstance(data, dict) else {}

    def _watch(self, version: str, stopping: threading.Event) -> str:
        """One watch from `version`; the version to go on from ("" after 410 Gone: list again)."""
        from ..kube import request_timeouts

        query = [
            ("watch", "true"),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(WATCH_SECONDS)),
        ]
        if self.selector:
            query.append(("labelSelector", self.selector))
        if self.fields:
            query.append(("fieldSelector", self.fields))
        accept = METADATA_WATCH if self.metadata_only else "application/json"
        method, url, headers, body, _ = self.api.param_serialize(
            "GET", self.path, query_params=query, header_params={"Accept": accept}, auth_settings=["BearerToken"]
        )
        resp = self.api.call_api(method, url, header_params=headers, _request_timeout=(request_timeouts()[0], 330))
        stream = resp.response
        try:
            buffer = b""
            for chunk in stream.stream(65536, decode_content=True):
                if stopping.is_set():
                    return version
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        version = self._event(json.loads(line), version)
                        if not version:
                            return ""
        finally:
            stream.release_conn()
        return version

    def _event(self, event: Obj, version: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            log.debug("watch of %s ended: %s", self.kind, obj.get("message"))
            return ""  # 410 Gone (too old a version) and the like
        new = str((obj.get("metadata") or {}).get("resourceVersion") or version)
        if kind == "BOOKMARK":
            return new
        if kind == "DELETED":
            meta = obj.get("metadata") or {}
            self.drop(meta.get("namespace") or "", meta.get("name") or "")
            obj["kind"] = self.kind
            self.on_event("DELETED", obj)
        elif kind in ("ADDED", "MODIFIED") and self._store(obj):
            self.on_event(str(kind), obj)
        return new
