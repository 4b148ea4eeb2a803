"""Run:ai's project rules on a live cluster, as pure reads of the objects: which namespace is a project's,
what it enforces, and what verify says of it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from clearml_runai_gen import verify
from clearml_runai_gen.detect import read_install
from clearml_runai_gen.errors import ClusterError
from clearml_runai_gen.models import ProjectOptions
from clearml_runai_gen.plan import make_plan
from clearml_runai_gen.projects import project_namespace
from clearml_runai_gen.source import FileSource

from sandbox.fixtures.installs import dump, flavour_b


def ns(name: str, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {}}}


def test_a_project_namespace_is_the_one_labelled_for_it_whatever_its_name() -> None:
    namespaces = [
        ns("runai-research"),
        ns("research-ns", {"runai/queue": "research"}),
        ns("team-b", {"runai/queue": "b"}),
    ]
    assert project_namespace(namespaces, "research") == "research-ns"
    assert project_namespace(namespaces, "team-a") == "runai-team-a"  # none labelled: Run:ai's own name


def test_two_namespaces_labelled_for_one_project_are_refused_naming_both() -> None:
    namespaces = [ns("x1", {"runai/queue": "p"}), ns("x2", {"runai/queue": "p"})]
    with pytest.raises(ClusterError, match="namespaces x1, x2 are all labelled runai/queue=p; .*--namespace"):
        project_namespace(namespaces, "p")


TEMPLATE = "apiVersion: v1\nkind: Pod\nspec:\n  schedulerName: {}\n"


@pytest.mark.parametrize(
    "annotations,scheduler,ok,needle",
    [
        ({}, "runai-scheduler", True, "is not set (Run:ai 3.0 enforces runai-scheduler by default)"),
        ({"runai/enforce-scheduler-name": "true"}, "runai-scheduler", True, "on (runai/enforce-scheduler-name"),
        ({"runai/enforce-scheduler-name": "true"}, "kai-scheduler", False, "task pods name kai-scheduler"),
        ({"runai/enforce-scheduler-name": "false"}, "kai-scheduler", True, "off ("),
    ],
)
def test_verify_reports_scheduler_name_enforcement(
    monkeypatch: pytest.MonkeyPatch, annotations: dict[str, str], scheduler: str, ok: bool, needle: str
) -> None:
    from clearml_runai_gen import projects

    monkeypatch.setattr(
        projects, "list_objects", lambda api, kind, namespace="", **kw: [ns("research-ns", {}, annotations)]
    )
    configmaps = [{"metadata": {"name": "t"}, "data": {"template.yaml": TEMPLATE.format(scheduler)}}]
    check = verify._enforcement_check(None, "research-ns", configmaps)
    assert (check.name, check.ok) == ("scheduler enforcement", ok) and needle in check.detail, check


REFUSED = (
    'Error creating: pods "clearml-runai-p-5d8f-x" is forbidden: violates PodSecurity "restricted:latest": '
    'runAsNonRoot != true (pod or container "k8s-glue" must set securityContext.runAsNonRoot=true)'
)


def test_verify_names_the_admissions_reason_from_the_replicasets_events(monkeypatch: pytest.MonkeyPatch) -> None:
    deploy = {
        "metadata": {"name": "clearml-runai-p", "uid": "u1"},
        "spec": {"selector": {"matchLabels": {"app": "x"}}},
    }
    objects: dict[str, list[dict[str, Any]]] = {
        "Pod": [],
        "ReplicaSet": [
            {"metadata": {"name": "clearml-runai-p-5d8f", "ownerReferences": [{"uid": "u1"}]}},
            {"metadata": {"name": "other-rs", "ownerReferences": [{"uid": "u2"}]}},
        ],
        "Event": [
            {
                "type": "Warning",
                "reason": "FailedCreate",
                "message": REFUSED,
                "lastTimestamp": "2026-12-04T10:00:00Z",
                "involvedObject": {"kind": "ReplicaSet", "name": "clearml-runai-p-5d8f"},
            },
            {
                "type": "Warning",
                "reason": "FailedCreate",
                "message": "another Deployment's",
                "lastTimestamp": "2026-12-04T11:00:00Z",
                "involvedObject": {"kind": "ReplicaSet", "name": "other-rs"},
            },
        ],
    }
    monkeypatch.setattr(verify, "list_objects", lambda api, kind, namespace="", **kw: objects[kind])
    why = verify._why_not_available(None, "research-ns", deploy)
    assert why == f"no agent pod exists; ReplicaSet clearml-runai-p-5d8f: FailedCreate: {REFUSED}"
    objects["Event"] = []
    assert verify._why_not_available(None, "research-ns", deploy) == "no agent pod exists (see the ReplicaSet's events)"


def test_render_warns_when_the_namespace_enforces_a_level_that_refuses_the_pods() -> None:
    install = read_install(FileSource(dump(flavour_b()), "dump"))
    options = ProjectOptions.build("research", namespace="research-ns")
    assert not [w for w in make_plan(install, options).warnings if "Pod Security" in w]
    warnings = make_plan(install, dataclasses.replace(options, pod_security="restricted")).warnings
    found = [w for w in warnings if "Pod Security" in w]
    assert len(found) == 2 and all(
        w.startswith("namespace research-ns enforces Pod Security 'restricted'") for w in found
    )
