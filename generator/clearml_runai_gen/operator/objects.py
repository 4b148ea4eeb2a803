"""The objects of one agent: what the packaged chart renders for the planned values, owned by its ClearMLAgent.

The chart in the package is the one source of truth, rendered by helm: by clearml-runai-render (renderer/: helm's
library at the pinned version in one long-lived process, as `helm template` renders) when it is there, else by a
`helm template` process per render (the same binary a person would install it with; ~50 ms of CPU to start each).
The values go in on stdin either way (they hold credentials: never on disk or in argv).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import re
import selectors
import shutil
import subprocess
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..chart import chart_path
from ..errors import GenError
from ..models import Obj
from .spec import MANAGER

HELM_ENV = "CLEARML_RUNAI_HELM"
HELM_TIMEOUT = 60.0
RENDERER = "clearml-runai-render"
RENDERER_ENV = "CLEARML_RUNAI_RENDERER"


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

    helm = helm or helm_binary()
    cmd = [helm, "template", release, str(chart_path()), "--namespace", namespace, "--values", "-"]
    try:
        done = subprocess.run(
            cmd, input=json.dumps(_prune(values)), capture_output=True, text=True, timeout=HELM_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"helm template of {release} did not run ({exc}); check {HELM_ENV} or PATH") from None
    if done.returncode != 0:
        raise RenderError(f"helm template of {release} failed: {helm_message(done.stderr)}")
    return _objects(done.stdout, release)


def _objects(manifest: str, release: str) -> list[Obj]:
    from ..parse import load_stream

    docs = load_stream(manifest, f"helm template {release}", "report it: the packaged chart renders no YAML")
    return [d for d in docs if isinstance(d, dict) and d.get("kind")]


def helm_message(text: str) -> str:
    """helm's error in one line: without its `Error:` prefix and its `--debug` hint, and a template's `fail`
    message without the template's position in front of it (the chart's messages say what to fix)."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and "--debug flag" not in line]
    message = " ".join(lines).removeprefix("Error: ") or "no message"
    found = re.search(r"execution error at \([^)]*\): (.*)", message)
    return found.group(1) if found else message


def renderer_binary() -> str | None:
    """clearml-runai-render, when it is there: $CLEARML_RUNAI_RENDERER, else on PATH."""
    found = os.environ.get(RENDERER_ENV) or shutil.which(RENDERER)
    if found and not os.access(found, os.X_OK):
        raise RenderError(f"{RENDERER_ENV} is {found}, which is not an executable file: build it (make renderer)")
    return found or None


Render = Callable[[str, str, Obj], list[Obj]]  # (release, namespace, values) -> the chart's objects


def chart_renderer() -> Render:
    """How the operator renders: clearml-runai-render when it is there, else `helm template`; when neither is,
    one line now rather than in every ClearMLAgent's status."""
    binary = renderer_binary()
    if binary:
        return ChartRenderer(binary)
    helm_binary()
    return render_chart


class ChartRenderer:
    """The chart rendered by clearml-runai-render: one process started once (again after it died), one request
    at a time; what it prints for a release is what `helm template` prints (tests/chart/test_renderer.py)."""

    def __init__(self, binary: str, timeout: float = HELM_TIMEOUT) -> None:
        self.binary = binary
        self.timeout = timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def __call__(self, release: str, namespace: str, values: Obj) -> list[Obj]:
        from ..emit import _prune

        request = json.dumps({"release": release, "namespace": namespace, "values": json.dumps(_prune(values))})
        with self._lock:
            line = self._ask(request, release)
        try:
            answer = json.loads(line)
        except ValueError:  # out of step with its requests: the next render starts a new one
            self.close()
            answer = {"error": f"{RENDERER} printed what is not an answer"}
        if not isinstance(answer, dict) or "manifest" not in answer:
            error = answer.get("error") if isinstance(answer, dict) else None
            raise RenderError(f"helm template of {release} failed: {helm_message(str(error or 'no answer'))}")
        return _objects(str(answer["manifest"]), release)

    def _ask(self, request: str, release: str) -> str:
        proc = self._process()
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(request + "\n")
            proc.stdin.flush()
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                line = proc.stdout.readline() if sel.select(self.timeout) else None
        except OSError:  # it was gone before the request was written
            line = ""
        if line:
            return line
        # it hangs (None), or it stopped (an empty line, the end of its output): the next render starts a new one
        problem = f"did not answer for {release} within {self.timeout:.0f} s"
        if line is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            said = helm_message(proc.stderr.read()[-2000:]) if proc.stderr and proc.poll() is not None else ""
            problem = f"stopped while it rendered {release}" + (f": {said}" if said != "no message" else "")
        self.close()
        raise RenderError(f"{RENDERER} ({self.binary}) {problem}")

    def _process(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            try:
                self._proc = subprocess.Popen(
                    [self.binary, str(chart_path())],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,  # one line when it cannot start (the chart unreadable)
                    text=True,
                )
            except OSError as exc:
                raise RenderError(f"{RENDERER} ({self.binary}) did not start ({exc}); check {RENDERER_ENV}") from None
        return self._proc

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()


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
