"""Run:ai projects on a live cluster: which namespace is a project's, and what the namespace enforces.

Run:ai ties a namespace to a project by the label `runai/queue=<project>`, whatever the namespace is called
(`runai project create --namespace NS`, or an existing namespace attached to the project); `runai-<project>`
is only the name Run:ai gives a namespace it creates itself.
"""

from __future__ import annotations

from typing import Any

from .errors import ClusterError
from .kube import list_objects
from .models import RUNAI_NAMESPACE_PREFIX, Obj

PROJECT_LABEL = "runai/queue"
ENFORCE_SCHEDULER_ANNOTATION = "runai/enforce-scheduler-name"
RUNAI_SCHEDULER = "runai-scheduler"


def list_namespaces(api: Any) -> list[Obj]:
    """Every namespace of the cluster (one paged list call)."""
    return list_objects(api, "Namespace")


def project_namespace(namespaces: list[Obj], project: str) -> str:
    """The namespace labelled `runai/queue=<project>`, else `runai-<project>`.

    Two namespaces labelled for one project is a cluster Run:ai would not make: refused, naming both.
    """
    found = sorted(
        str(ns["metadata"]["name"])
        for ns in namespaces
        if ((ns.get("metadata") or {}).get("labels") or {}).get(PROJECT_LABEL) == project
    )
    if len(found) > 1:
        raise ClusterError(
            f"namespaces {', '.join(found)} are all labelled {PROJECT_LABEL}={project}; "
            "name the project's own with --namespace"
        )
    return found[0] if found else RUNAI_NAMESPACE_PREFIX + project


def find_namespace(namespaces: list[Obj], name: str) -> Obj | None:
    return next((ns for ns in namespaces if ns["metadata"]["name"] == name), None)


def read_namespace(api: Any, name: str) -> Obj | None:
    """The Namespace object, or None when it does not exist (yet)."""
    found = list_objects(api, "Namespace", fields=f"metadata.name={name}")
    return found[0] if found else None


def enforces_scheduler_name(namespace: Obj) -> bool | None:
    """Whether Run:ai enforces `runai-scheduler` on the namespace's pods; None when it does not say."""
    value = ((namespace.get("metadata") or {}).get("annotations") or {}).get(ENFORCE_SCHEDULER_ANNOTATION)
    if value is None:
        return None
    return str(value).strip().lower() == "true"
