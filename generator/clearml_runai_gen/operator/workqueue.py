"""A work queue of keys, as controllers have it: a key waits once however often it is added, is worked
on by one worker at a time, and runs again after its work when it was added meanwhile (pure, no client)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable


class WorkQueue:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[Hashable] = deque()
        self._waiting: set[Hashable] = set()
        self._busy: set[Hashable] = set()
        self._again: set[Hashable] = set()
        self._closed = False

    def add(self, key: Hashable) -> None:
        with self._cond:
            if self._closed or key in self._waiting:
                return
            if key in self._busy:
                self._again.add(key)  # after the work at hand: what it read may be old already
                return
            self._waiting.add(key)
            self._queue.append(key)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> Hashable | None:
        """The next key, now marked busy; None when closed, or nothing came within `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._queue or self._closed, timeout):
                return None
            if self._closed:
                return None
            item = self._queue.popleft()
            self._waiting.discard(item)
            self._busy.add(item)
            return item

    def done(self, key: Hashable) -> None:
        with self._cond:
            self._busy.discard(key)
            if key in self._again:
                self._again.discard(key)
                self._waiting.add(key)
                self._queue.append(key)
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)
