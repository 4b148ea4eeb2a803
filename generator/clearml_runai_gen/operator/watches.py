"""Which ClearML namespaces the operator watches: its own (`--clearml-namespace`) always, and every other one
that some ClearMLAgent reads (`spec.clearmlNamespace`), for as long as one reads it.

Pure bookkeeping, no client: `sync` is given the namespaces read now, starts a watch (through the function
it was made with) for each one not yet watched, and tells the watch of each one no longer read to stop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

# starts the watch of one namespace; it runs until the event is set (or the operator stops)
StartWatch = Callable[[str, threading.Event], None]


class Watches:
    def __init__(self, start: StartWatch, own_namespace: str) -> None:
        self._start = start
        self._own = own_namespace
        self._lock = threading.Lock()
        self._running: dict[str, threading.Event] = {}

    def sync(self, read: Iterable[str]) -> tuple[list[str], list[str]]:
        """Watch exactly the own namespace and `read`; returns the namespaces started and stopped."""
        wanted = {self._own, *read}
        with self._lock:
            started = sorted(wanted - self._running.keys())
            stopped = sorted(self._running.keys() - wanted)
            for ns in stopped:
                self._running.pop(ns).set()
            events = {ns: threading.Event() for ns in started}
            self._running.update(events)
        for ns in started:
            self._start(ns, events[ns])
        return started, stopped

    def namespaces(self) -> set[str]:
        with self._lock:
            return set(self._running)

    def stop(self) -> None:
        with self._lock:
            for event in self._running.values():
                event.set()
            self._running.clear()
