"""Secrets and ConfigMaps of the ClearML namespace, made ready for a Run:ai namespace. Pure but for the source.

What `render` warns about (a pull secret, a CA bundle, git credentials) lives in the ClearML namespace;
pods of the Run:ai namespace can only use objects of their own namespace. The copy keeps the data and
the user's labels and annotations, and drops what the API server and the old helm release own, so that
`kubectl apply` creates it afresh (and a later `helm uninstall` of the source leaves it alone). What
Kubernetes gives every namespace itself (ServiceAccount tokens, `kube-root-ca.crt`) is never copied.
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


# what every namespace gets from Kubernetes itself: a copy would be stale, or a credential of another namespace
SKIPPED = {
    ("ConfigMap", "kube-root-ca.crt"): "every namespace has its own, which Kubernetes keeps current",
}
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"


def _skip_reason(kind: str, obj: Obj) -> str:
    name = str((obj.get("metadata") or {}).get("name"))
    if kind == "Secret" and obj.get("type") == SERVICE_ACCOUNT_TOKEN:
        return (
            "it is a ServiceAccount token: a credential of the ClearML namespace, which Kubernetes issues to "
            "each namespace's own ServiceAccounts"
        )
    return SKIPPED.get((kind, name), "")


def copy_objects(source: Source, refs: list[str], namespace: str) -> tuple[list[Obj], list[str]]:
    """The copies, each object once in the order first named, and a note for each one left out (and why)."""
    if not DNS_LABEL.match(namespace) or len(namespace) > 63:
        raise UsageError(f"--namespace {namespace!r} is not a valid namespace name")
    out: list[Obj] = []
    notes: list[str] = []
    for kind, name in dict.fromkeys(_parse(ref) for ref in refs):
        found = [o for o in source.objects(kind) if (o.get("metadata") or {}).get("name") == name]
        if not found:
            raise InstallError(
                f"{kind} {source.namespace}/{name} does not exist in {source.describe()}: nothing to copy"
            )
        obj = found[0]
        why = _skip_reason(kind, obj)
        if why:
            notes.append(f"{kind.lower()}/{name} is not copied: {why}")
            continue
        meta = neat_metadata(obj.get("metadata"))
        meta["namespace"] = namespace
        copied: Obj = {"apiVersion": "v1", "kind": kind, "metadata": meta}
        for key in DATA_FIELDS[kind]:
            if obj.get(key) not in (None, {}):
                copied[key] = obj[key]
        out.append(copied)
    if not out:
        raise UsageError("nothing left to copy: " + "; ".join(notes))
    return out, notes


def copy_manifest(source: Source, refs: list[str], namespace: str) -> tuple[str, bool, list[str]]:
    """The manifest (a v1 List), whether it holds Secrets, and what was left out and why."""
    objects, notes = copy_objects(source, refs, namespace)
    manifest = dump_yaml({"apiVersion": "v1", "kind": "List", "items": objects})
    return manifest, any(o["kind"] == "Secret" for o in objects), notes
