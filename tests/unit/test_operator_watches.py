"""The operator watches every ClearML namespace a ClearMLAgent reads, not only its own: a watch starts when a
spec first names a namespace and stops when no ClearMLAgent reads it any more (the real API server's part:
tests/cluster/test_operator_sources.py)."""

from __future__ import annotations

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


def test_the_watch_of_a_namespace_re_plans_its_readers_and_ends_when_told() -> None:
    op, _, _ = operator_over({"project": "team-a", "clearmlNamespace": "ml-b"})
    op.reconcile((NS, "team-a"))
    stop = threading.Event()
    listed: list[str] = []
    queued: list[Any] = []

    def take() -> None:
        item = op.queue.get(timeout=0)
        queued.append(item)
        if item is not None:
            op.queue.done(item)

    def list_fn(ns: str, field_selector: str = "") -> Any:
        listed.append(ns)
        return SimpleNamespace(metadata=SimpleNamespace(resource_version="7"))

    class Watch:
        def stream(self, fn: Any, ns: str, **_: Any) -> Any:
            take()  # listed: what changed before the watch began is read again
            secret = SimpleNamespace(metadata=SimpleNamespace(name="agent-creds", resource_version="8"))
            yield {"type": "MODIFIED", "object": secret}  # a rotation
            take()
            stop.set()  # no ClearMLAgent reads ml-b any more
            yield {"type": "MODIFIED", "object": secret}
            queued.append("went on after it was told to stop")

        def stop(self) -> None:
            pass

    op._watch_kind(SimpleNamespace(Watch=Watch), list_fn, "ml-b", None, "Secret", stop)
    assert listed == ["ml-b"] and queued == [(NS, "team-a"), (NS, "team-a")]
