"""The objects of one agent: what the packaged chart renders for the planned values, owned by its ClearMLAgent.

The chart in the package is the one source of truth: `helm template` renders it (the same binary a person
would install it with), the values go in on stdin (they hold credentials: never on disk or in argv).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
from decimal import Decimal
from typing import Any

from ..chart import chart_path
from ..errors import GenError
from ..models import Obj
from .spec import MANAGER

HELM_ENV = "CLEARML_RUNAI_HELM"
HELM_TIMEOUT = 60.0


class RenderError(GenError):
    """The chart could not be rendered for the planned values."""


def helm_binary() -> str:
    found = os.environ.get(HELM_ENV) or shutil.which("helm")
    if not found:
        raise RenderError(
            f"the operator renders the agent chart with helm, and no helm is on PATH; install helm or set {HELM_ENV}"
        )
    return found


def render_chart(release: str, namespace: str, values: Obj, helm: str | None = None) -> list[Obj]:
    """The chart's objects for `values`, as `helm template` prints them (parsed)."""
    from ..emit import _prune  # what `render` writes: empty values left to the chart's defaults
    from ..parse import load_stream

    helm = helm or helm_binary()
    cmd = [helm, "template", release, str(chart_path()), "--namespace", namespace, "--values", "-"]
    try:
        done = subprocess.run(
            cmd, input=json.dumps(_prune(values)), capture_output=True, text=True, timeout=HELM_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"helm template of {release} did not run ({exc}); check {HELM_ENV} or PATH") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RenderError(f"helm template of {release} failed: {last}")
    docs = load_stream(done.stdout, f"helm template {release}", "report it: the packaged chart renders no YAML")
    return [d for d in docs if isinstance(d, dict) and d.get("kind")]


def owned(objects: list[Obj], owner: Obj) -> list[Obj]:
    """The objects as the operator applies them: in the owner's namespace, marked as its, owned by it.

    The owner reference lets the garbage collector remove them with the ClearMLAgent, even while the
    operator is down; without blockOwnerDeletion, which would need the right to set the owner's finalizers.
    """
    meta = owner["metadata"]
    ref = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
    }
    out = []
    for obj in objects:
        obj = copy.deepcopy(obj)
        m = obj.setdefault("metadata", {})
        m["namespace"] = meta["namespace"]
        labels = m.setdefault("labels", {})
        labels["app.kubernetes.io/managed-by"] = MANAGER  # helm template says Helm: no release holds these
        m["ownerReferences"] = [ref]
        if obj.get("kind") == "Secret" and "stringData" in obj:
            # the API server keeps only `data`: compare and apply in its form
            data = dict(obj.get("data") or {})
            for k, v in (obj.pop("stringData") or {}).items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
        out.append(obj)
    return out


def key(obj: Obj) -> tuple[str, str]:
    return str(obj["kind"]), str(obj["metadata"]["name"])


def covers(live: Any, desired: Any) -> bool:
    """Whether the live object already holds every field of `desired` (what the server adds is not drift).

    Empty values match an absent field: the server drops `{}`, `[]`, null and an empty string of an
    optional field (an env var's `value: ""`) from what it stores.
    """
    if desired in (None, {}, [], ""):
        return live in (None, {}, [], "")
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(covers(live.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return False
        return all(covers(a, b) for a, b in zip(live, desired, strict=True))
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if isinstance(desired, (int, float)) and isinstance(live, (int, float)):
        return float(desired) == float(live)
    if desired == live:
        return True
    # the server keeps quantities in canonical form: resources `cpu: 1000m` come back as "1", `0.5` as "500m"
    a, b = quantity(desired), quantity(live)
    return a is not None and a == b


_QUANTITY = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$")
_SUFFIX = {
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity's value ("500m", "1Gi", 2, "1e3"), or None when it is none."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    m = _QUANTITY.match(str(value).strip())
    if not m:
        return None
    number = Decimal(m.group(1))
    if m.group(2):
        return number * Decimal(10) ** int(m.group(2)[1:])
    return number * _SUFFIX[m.group(3)] if m.group(3) else number


def needs_apply(live: Obj | None, desired: Obj) -> bool:
    """Whether `desired` must be written: missing, or a field differs. Status is the server's own."""
    if live is None:
        return True
    mine = {k: v for k, v in desired.items() if k not in ("status",)}
    return not covers(live, mine)


def to_prune(live: list[Obj], desired: list[Obj], owner_uid: str) -> list[Obj]:
    """What this ClearMLAgent applied earlier and the chart no longer renders (by owner uid, never by name alone)."""
    wanted = {key(o) for o in desired}
    out = []
    for obj in live:
        refs = (obj.get("metadata") or {}).get("ownerReferences") or []
        if any(r.get("uid") == owner_uid for r in refs) and key(obj) not in wanted:
            out.append(obj)
    return out
