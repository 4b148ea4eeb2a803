"""One operator acts at a time: a coordination.k8s.io Lease, taken and renewed as client-go's leader election does.

The holder renews the Lease every RETRY seconds; another replica takes it only when the record has not
changed for its leaseDurationSeconds as this replica observed it (its own clock, never the holder's: no
clock skew matters). Every write carries the resourceVersion read, so two replicas racing for a free
Lease cannot both win (the API server refuses the second with a conflict). A holder that cannot renew
for RENEW_DEADLINE seconds stops acting; one that stops cleanly gives the Lease up, so a standby takes
over at once instead of after the duration.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..errors import GenError

log = logging.getLogger("clearml-runai-operator")

DURATION = 15  # seconds a Lease not renewed stays its holder's
RENEW_DEADLINE = 10.0  # a holder that could not renew for this long stops acting (before DURATION runs out)
RETRY = 2.0  # seconds between tries to take or renew


@dataclass(frozen=True)
class Record:
    """What the Lease says, as far as taking it goes."""

    holder: str
    duration: int
    renew_time: str

    @classmethod
    def of(cls, lease: dict[str, Any] | None) -> Record | None:
        if lease is None:
            return None
        spec = lease.get("spec") or {}
        return cls(
            str(spec.get("holderIdentity") or ""),
            int(spec.get("leaseDurationSeconds") or DURATION),
            str(spec.get("renewTime") or ""),
        )


def may_take(record: Record | None, me: str, unchanged_for: float) -> bool:
    """Whether `me` may write itself into the Lease: it is free, already mine, or its holder stopped renewing
    (the record unchanged for its whole duration, as this replica observed it)."""
    if record is None or not record.holder or record.holder == me:
        return True
    return unchanged_for >= record.duration


def micro_time(now: datetime | None = None) -> str:
    """A MicroTime as the API server takes it."""
    return (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_body(namespace: str, name: str, me: str, lease: dict[str, Any] | None, now: str) -> dict[str, Any]:
    """The Lease with `me` as holder, renewed now; acquireTime and transitions move only when the holder changes."""
    spec = dict((lease or {}).get("spec") or {})
    taken = spec.get("holderIdentity") != me
    spec.update({"holderIdentity": me, "leaseDurationSeconds": DURATION, "renewTime": now})
    if taken:
        spec["acquireTime"] = now
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if lease else 0)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if lease:
        metadata["resourceVersion"] = lease["metadata"]["resourceVersion"]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


class Elector:
    """Takes and keeps the Lease in a thread; `leading` is set while this replica holds it.

    `on_lead` runs once when it is taken, `on_lost` once when it is lost (the operator then stops: a
    restarted process starts again as a standby, from the cluster's state alone)."""

    def __init__(
        self,
        kube: Any,
        namespace: str,
        name: str,
        identity: str,
        on_lead: Callable[[], None],
        on_lost: Callable[[], None],
    ) -> None:
        self.kube = kube  # its own Kube: renewals are not the writes the operator counts
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.namespace, self.name, self.identity = namespace, name, identity
        self.on_lead, self.on_lost = on_lead, on_lost
        self.leading = threading.Event()
        self.stopping = threading.Event()
        self._seen: tuple[Record | None, float] = (None, time.monotonic())
        self._renewed = 0.0

    def start(self) -> None:
        threading.Thread(target=self._run, name="lease", daemon=True).start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            held = self._try()
            now = time.monotonic()
            if held:
                self._renewed = now
                if not self.leading.is_set():
                    log.info("took the Lease %s/%s as %s: this replica acts", self.namespace, self.name, self.identity)
                    self.leading.set()
                    self.on_lead()
            elif self.leading.is_set() and now - self._renewed >= RENEW_DEADLINE:
                log.error("lost the Lease %s/%s: another replica acts now; stopping", self.namespace, self.name)
                self.leading.clear()
                self.on_lost()
                return
            self.stopping.wait(RETRY)

    def _try(self) -> bool:
        """One round: read the Lease, write it if this replica may; True if it holds the Lease now."""
        what = f"take the Lease {self.namespace}/{self.name}"
        try:
            lease = self.kube.request("GET", f"{self.path}/{self.name}", what=what)
            record = Record.of(lease)
            seen, since = self._seen
            if record != seen:
                self._seen = (record, time.monotonic())
                since = self._seen[1]
            if not may_take(record, self.identity, time.monotonic() - since):
                return False
            body = lease_body(self.namespace, self.name, self.identity, lease, micro_time())
            if lease is None:
                self.kube.request("POST", self.path, what=what, body=body)
            else:
                self.kube.request("PUT", f"{self.path}/{self.name}", what=what, body=body)
            return True
        except GenError as exc:  # a conflict (another replica was faster), or the API unreachable: next round
            log.debug("%s", exc)
            return False

    def release(self) -> None:
        """Stop, and give the Lease up if held, so that a standby takes over without waiting out the duration."""
        self.stopping.set()
        if not self.leading.is_set():
            return
        self.leading.clear()
        try:
            lease = self.kube.request("GET", f"{self.path}/{self.name}", what="read the Lease")
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"].update({"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": micro_time()})
                self.kube.request("PUT", f"{self.path}/{self.name}", what="give the Lease up", body=lease)
                log.info("gave the Lease %s/%s up", self.namespace, self.name)
        except GenError as exc:
            log.warning("could not give the Lease up (a standby takes it after %d s): %s", DURATION, exc)
