"""Auto mode: which namespaces get a ClearMLAgent, and which lose the one the operator made (pure)."""

from __future__ import annotations

from typing import Any, Literal

from .spec import (
    AGENT_ANNOTATION,
    API_VERSION,
    CREATED_BY_LABEL,
    KIND,
    MANAGER,
    PROJECT_LABEL,
    default_spec,
    project_of,
)

Action = Literal["ensure", "remove", "ignore"]


def namespace_action(namespace: dict[str, Any]) -> Action:
    """`ensure` a ClearMLAgent in a Run:ai project namespace, `remove` ours where it is turned off or gone."""
    meta = namespace.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if PROJECT_LABEL not in labels:
        return "ignore"
    if str(annotations.get(AGENT_ANNOTATION, "")).strip().lower() == "off":
        return "remove"
    if meta.get("deletionTimestamp") or (namespace.get("status") or {}).get("phase") == "Terminating":
        return "ignore"  # the namespace takes everything in it along
    return "ensure"


def agent_for(namespace: dict[str, Any]) -> dict[str, Any]:
    """The ClearMLAgent auto mode creates in a project namespace: named after the project, default spec."""
    project = project_of(namespace)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": project,
            "namespace": namespace["metadata"]["name"],
            "labels": {CREATED_BY_LABEL: MANAGER},
        },
        "spec": default_spec(project),
    }


def made_by_operator(agent: dict[str, Any]) -> bool:
    return bool(((agent.get("metadata") or {}).get("labels") or {}).get(CREATED_BY_LABEL) == MANAGER)
