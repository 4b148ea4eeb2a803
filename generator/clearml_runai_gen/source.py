"""Where objects come from: a dump (file or stdin) or the live cluster.

Both are one small interface, `Source.objects(kind)`, so the rest of the tool never knows which
it reads. The live source imports the `kubernetes` client only when it is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from .errors import InputError, LimitError
from .kube import list_objects
from .models import Obj

# what the README's dump command lists: what render reads, and what tells hosts from other values
DUMP_KINDS = "deploy,configmap,secret,service,serviceaccount"


class Source(Protocol):
    namespace: str

    def objects(self, kind: str) -> list[Obj]:
        """All objects of `kind` in the namespace."""
        ...

    def describe(self) -> str:
        """Where the objects come from, for messages and provenance comments."""
        ...

    def lists(self, kind: str) -> bool:
        """Whether `objects(kind)` is all there is of that kind (a dump may simply leave a kind out)."""
        ...


# --------------------------------------------------------------------------- file / stdin


DUMP_HINT = "pass what `kubectl get ... -o yaml` prints"
# helm keeps every revision of a release as a Secret of this type; the tool never reads one
HELM_RELEASE_TYPE = "helm.sh/release.v1"


def _load_documents(text: str, origin: str) -> list[Any]:
    from .parse import load_stream

    return load_stream(text, origin, DUMP_HINT)


def _flatten(docs: Iterable[Any], origin: str) -> Iterator[Obj]:
    for index, doc in enumerate(docs, start=1):
        if not isinstance(doc, dict):
            raise InputError(
                f"{origin}: document {index} is a {type(doc).__name__}, not a Kubernetes object; "
                "pass what `kubectl get ... -o yaml` prints"
            )
        kind = doc.get("kind")
        if kind == "Secret" and doc.get("type") == HELM_RELEASE_TYPE:
            continue  # helm's history of a release: never needed, and the bulk of a namespace dump
        if isinstance(kind, str) and kind.endswith("List") and "items" in doc:
            items = doc.get("items") or []
            if not isinstance(items, list):
                raise InputError(f"{origin}: document {index} ({kind}) has `items` that is not a list")
            yield from _flatten(items, origin)
            continue
        meta = doc.get("metadata")
        if not isinstance(kind, str) or not kind or not isinstance(meta, dict) or not meta.get("name"):
            raise InputError(
                f"{origin}: document {index} has no kind or metadata.name, so it is not a Kubernetes object; "
                "pass what `kubectl get ... -o yaml` prints"
            )
        yield doc


class FileSource:
    """Objects from what `kubectl get ... -o yaml|json` printed: a List, several documents, or one object."""

    def __init__(self, text: str, origin: str, namespace: str | None = None) -> None:
        self.origin = origin
        objs = list(_flatten(_load_documents(text, origin), origin))
        if not objs:
            raise InputError(f"{origin} holds no Kubernetes objects; pass what `kubectl get ... -o yaml` prints")
        found = sorted({str(o["metadata"].get("namespace")) for o in objs if o["metadata"].get("namespace")})
        if namespace is None:
            # the dump says where it came from; more than one namespace needs --clearml-namespace
            if len(found) > 1:
                raise InputError(
                    f"{origin} holds objects of several namespaces ({', '.join(found)}); "
                    "name the ClearML one with --clearml-namespace"
                )
            namespace = found[0] if found else "clearml"
        self.namespace = namespace
        self._objects = [o for o in objs if o["metadata"].get("namespace") in (None, "", namespace)]
        if not self._objects:
            raise InputError(
                f"{origin} holds no objects in namespace {namespace!r} (it has {', '.join(found)}); "
                "fix --clearml-namespace"
            )

    @classmethod
    def from_path(cls, path: str, namespace: str | None = None, stdin: Any = None) -> FileSource:
        from .parse import MAX_DUMP_BYTES

        origin = "standard input" if path == "-" else path
        hint = f"pass a dump of the ClearML namespace (kubectl get {DUMP_KINDS} -n NS -o yaml)"
        text = read_text(path, "--from-file " + path if path != "-" else origin, MAX_DUMP_BYTES, hint, stdin)
        return cls(text, origin, namespace)

    def objects(self, kind: str) -> list[Obj]:
        return [o for o in self._objects if o.get("kind") == kind]

    def describe(self) -> str:
        return self.origin

    def lists(self, kind: str) -> bool:
        return bool(self.objects(kind))


def read_text(path: str, what: str, limit: int, hint: str, stdin: Any = None) -> str:
    """The UTF-8 text of file `path` (`-`: standard input), refused unread when larger than `limit` bytes."""
    from .parse import size_text

    too_big = f"{what} is larger than {size_text(limit)}, more than this tool reads; {hint}"
    if path == "-":
        import sys

        stream = stdin if stdin is not None else sys.stdin
        closed = "standard input is closed: pipe the file in, or name it instead of `-`"
        if stream is None:  # started with file descriptor 0 closed
            raise InputError(closed)
        raw = getattr(stream, "buffer", stream)
        try:
            data = raw.read(limit + 1)
        except (OSError, ValueError):  # a closed or unreadable descriptor
            raise InputError(closed) from None
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        if len(data) > limit:
            raise LimitError(too_big)
        if not data.strip():
            raise InputError(f"standard input is empty; {hint}")
    else:
        try:
            with open(path, "rb") as fh:
                if os.fstat(fh.fileno()).st_size > limit:
                    raise LimitError(too_big)
                data = fh.read(limit + 1)
        except FileNotFoundError:
            raise InputError(f"{what}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{what} is a directory; {hint}") from None
        except OSError as exc:
            raise InputError(f"{what} cannot be read: {exc.strerror}") from None
        if len(data) > limit:  # a file that grew, or a pipe
            raise LimitError(too_big)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} is not UTF-8 text; {hint}") from None


# --------------------------------------------------------------------------- live cluster

# what a ClearML install is read from: helm's release history is left on the server
FIELD_SELECTORS = {"Secret": f"type!={HELM_RELEASE_TYPE}"}


class LiveSource:
    """Objects from a live API server: one list call per kind, each made at most once."""

    def __init__(self, api: Any, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.requests = 0
        self._cache: dict[str, list[Obj]] = {}

    def objects(self, kind: str) -> list[Obj]:
        if kind not in self._cache:
            self.requests += 1
            self._cache[kind] = list_objects(self.api, kind, self.namespace, fields=FIELD_SELECTORS.get(kind))
        return self._cache[kind]

    def describe(self) -> str:
        return f"namespace {self.namespace} on {self.api.configuration.host}"

    def lists(self, kind: str) -> bool:
        return True
