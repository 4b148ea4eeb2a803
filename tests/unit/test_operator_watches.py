"""The operator watches every ClearML namespace a ClearMLAgent reads, not only its own: a watch starts when a
spec first names a namespace and stops when no ClearMLAgent reads it any more (the real API server's part:
tests/cluster/test_operator_sources.py)."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace
from typing import Any

from clearml_runai_gen.operator.run import Operator, OperatorConfig
from clearml_runai_gen.operator.watches import Watches

from tests.unit.test_operator import NS, _world


class Started:
    """What a Watches started: namespace -> the event that stops its watch."""

    def __init__(self) -> None:
        self.events: dict[str, list[threading.Event]] = {}

    def __call__(self, ns: str, stop: threading.Event) -> None:
        self.events.setdefault(ns, []).append(stop)

    def running(self) -> set[str]:
        return {ns for ns, events in self.events.items() if not events[-1].is_set()}


def test_the_own_namespace_is_always_watched_and_another_while_it_is_read() -> None:
    started = Started()
    watches = Watches(started, "clearml")
    assert watches.sync(()) == (["clearml"], [])
    assert watches.sync({"clearml", "ml-b"}) == (["ml-b"], [])
    assert watches.sync({"ml-b"}) == ([], [])  # already watched: no second watch
    assert started.running() == {"clearml", "ml-b"} and len(started.events["ml-b"]) == 1
    assert watches.sync(()) == ([], ["ml-b"])
    assert started.running() == {"clearml"} and started.events["ml-b"][0].is_set()
    assert watches.sync({"ml-b"}) == (["ml-b"], [])  # read again: a new watch, with an event of its own
    assert started.running() == {"clearml", "ml-b"} and len(started.events["ml-b"]) == 2
    watches.stop()
    assert started.running() == set() and watches.namespaces() == set()


def operator_over(spec: dict[str, Any]) -> tuple[Operator, Any, Started]:
    kube, rec, _ = _world(spec)
    op = Operator(OperatorConfig(clearml_namespace="clearml"), api=None)
    op.reconciler = rec
    started = Started()
    op.watches = Watches(started, "clearml")
    return op, kube, started


def test_a_reconcile_starts_the_watch_of_the_namespace_its_spec_names_and_stops_it_when_none_reads_it() -> None:
    op, kube, started = operator_over({"project": "team-a", "clearmlNamespace": "ml-b"})
    op.reconcile((NS, "team-a"))
    assert started.running() == {"clearml", "ml-b"}
    kube.objects[("ClearMLAgent", NS, "team-a")]["spec"]["clearmlNamespace"] = "ml-c"  # a person's edit
    op.reconcile((NS, "team-a"))
    assert started.running() == {"clearml", "ml-c"}
    del kube.objects[("ClearMLAgent", NS, "team-a")]  # deleted: nothing reads ml-c now
    op.reconcile((NS, "team-a"))
    assert started.running() == {"clearml"}


class FakeApi:
    """The API server as an informer meets it: one LIST answer, then a watch stream of the given lines."""

    def __init__(self, listed: dict[str, Any], stream: Any) -> None:
        self.listed, self.stream, self.urls = listed, stream, []  # type: list[str]

    def param_serialize(self, method: str, path: str, query_params: Any = None, **_: Any) -> Any:
        query = "&".join(f"{k}={v}" for k, v in query_params or [])
        return method, f"{path}?{query}", {}, None, None

    def call_api(self, method: str, url: str, **_: Any) -> Any:
        self.urls.append(url)
        if "watch=true" not in url:
            return SimpleNamespace(status=200, read=lambda: json.dumps(self.listed).encode())
        return SimpleNamespace(
            response=SimpleNamespace(stream=lambda *a, **k: self.stream(), release_conn=lambda: None)
        )


def test_the_watch_of_a_namespace_re_plans_its_readers_and_ends_when_told() -> None:
    op, _, _ = operator_over({"project": "team-a", "clearmlNamespace": "ml-b"})
    op.reconcile((NS, "team-a"))
    stop = threading.Event()
    queued: list[Any] = []

    def take() -> None:
        item = op.queue.get(timeout=0)
        queued.append(item)
        if item is not None:
            op.queue.done(item)

    def secret(version: str) -> dict[str, Any]:
        return {"metadata": {"namespace": "ml-b", "name": "agent-creds", "resourceVersion": version}}

    def stream() -> Any:
        take()  # listed: what changed before the watch began is read again
        yield json.dumps({"type": "MODIFIED", "object": secret("8")}).encode() + b"\n"  # a rotation
        take()
        stop.set()  # no ClearMLAgent reads ml-b any more
        yield json.dumps({"type": "MODIFIED", "object": secret("9")}).encode() + b"\n"
        queued.append("went on after it was told to stop")

    (informer,) = [i for i in op.clearml_informers("ml-b") if i.kind == "Secret"]
    informer.api = api = FakeApi({"metadata": {"resourceVersion": "7"}, "items": [secret("5")]}, stream)
    guard = threading.Timer(10, stop.set)  # a broken informer would list again and again: end the test
    guard.start()
    informer.run(stop)
    guard.cancel()
    assert queued == [(NS, "team-a"), (NS, "team-a")]
    # its metadata only, helm's release Secrets left out, from the version the LIST gave
    assert api.urls[0].startswith("/api/v1/namespaces/ml-b/secrets?") and "fieldSelector=type!=helm.sh" in api.urls[0]
    assert "watch=true" in api.urls[1] and "resourceVersion=7" in api.urls[1] and len(api.urls) == 2
