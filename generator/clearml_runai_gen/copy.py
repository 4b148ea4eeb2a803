"""Secrets and ConfigMaps of the ClearML namespace, made ready for a Run:ai namespace. Pure but for the source.

What `render` warns about (a pull secret, a CA bundle, git credentials) lives in the ClearML namespace;
pods of the Run:ai namespace can only use objects of their own namespace. The copy keeps the data and
the user's labels and annotations, and drops what the API server and the old helm release own, so that
`kubectl apply` creates it afresh (and a later `helm uninstall` of the source leaves it alone).
"""

from __future__ import annotations

from .emit import dump_yaml
from .errors import InstallError, UsageError
from .models import DNS_LABEL, Obj
from .neat import neat_metadata
from .source import Source

KINDS = {
    "secret": "Secret",
    "secrets": "Secret",
    "configmap": "ConfigMap",
    "configmaps": "ConfigMap",
    "cm": "ConfigMap",
}
# the data of each kind; everything else but metadata is dropped
DATA_FIELDS = {"Secret": ("type", "data", "stringData", "immutable"), "ConfigMap": ("data", "binaryData", "immutable")}


def _parse(ref: str) -> tuple[str, str]:
    kind, slash, name = ref.partition("/")
    if not slash or kind.lower() not in KINDS or not name:
        raise UsageError(f"{ref!r}: name what to copy as secret/NAME or configmap/NAME")
    return KINDS[kind.lower()], name


def copy_objects(source: Source, refs: list[str], namespace: str) -> list[Obj]:
    if not DNS_LABEL.match(namespace) or len(namespace) > 63:
        raise UsageError(f"--namespace {namespace!r} is not a valid namespace name")
    out = []
    for ref in refs:
        kind, name = _parse(ref)
        found = [o for o in source.objects(kind) if (o.get("metadata") or {}).get("name") == name]
        if not found:
            raise InstallError(
                f"{kind} {source.namespace}/{name} does not exist in {source.describe()}: nothing to copy"
            )
        obj = found[0]
        meta = neat_metadata(obj.get("metadata"))
        meta["namespace"] = namespace
        copied: Obj = {"apiVersion": "v1", "kind": kind, "metadata": meta}
        for key in DATA_FIELDS[kind]:
            if obj.get(key) not in (None, {}):
                copied[key] = obj[key]
        out.append(copied)
    return out


def copy_manifest(source: Source, refs: list[str], namespace: str) -> tuple[str, bool]:
    """The manifest (a v1 List), and whether it holds Secrets."""
    objects = copy_objects(source, refs, namespace)
    return dump_yaml({"apiVersion": "v1", "kind": "List", "items": objects}), any(
        o["kind"] == "Secret" for o in objects
    )
