"""Values the chart refuses: by its schema, and by its templates for what a schema cannot say."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.names import names

from .conftest import Helm, own_annotations, values

pytestmark = pytest.mark.chart


@pytest.mark.parametrize("setting", ["foo=bar", "runai.foo=bar", "agent.image.foo=bar", "taskPod.podLabels.a=b"])
def test_schema_rejects_unknown_values(helm: Helm, setting: str) -> None:
    error = helm.template_error(values(), sets=[setting])
    assert "foo" in error or "podLabels" in error
    assert "not allowed" in error


@pytest.mark.parametrize("project", ["Team-A", "team_a", "-team", "team-", "t" * 58])
def test_schema_rejects_a_bad_project_name(helm: Helm, project: str) -> None:
    error = helm.template_error(values(runai={"project": project}))
    assert "runai" in error and "project" in error


def test_schema_accepts_a_57_character_project(helm: Helm) -> None:
    project = "p" * 57
    rendered = helm.template(values(runai={"project": project}), namespace=names(project).namespace)
    assert rendered.task_template["metadata"]["labels"]["project"] == project


@pytest.mark.parametrize("fraction", ["0", "0.0", "1.5", "2", "half", "-0.5", "0.5.1"])
def test_schema_rejects_a_bad_gpu_fraction(helm: Helm, fraction: str) -> None:
    assert "gpuFraction" in helm.template_error(values(runai={"gpuFraction": fraction}))


@pytest.mark.parametrize("fraction", ["0.5", ".25", "0.125", "1", "1.0"])
def test_schema_accepts_a_gpu_fraction_in_zero_to_one(helm: Helm, fraction: str) -> None:
    metadata = helm.template(values(runai={"gpuFraction": fraction})).task_template["metadata"]
    assert own_annotations(metadata) == {"gpu-fraction": fraction}


@pytest.mark.parametrize(
    ("overlay", "field"),
    [
        ({"agent": {"maxPods": -1}}, "maxPods"),
        ({"agent": {"queues": ["a,b"]}}, "queues"),
        ({"agent": {"queues": [""]}}, "queues"),
        ({"agent": {"queues": ["a", "a"]}}, "queues"),
        ({"agent": {"image": {"pullPolicy": "Sometimes"}}}, "pullPolicy"),
        ({"agent": {"image": {"digest": "latest"}}}, "digest"),
        ({"clearml": {"apiHost": "clearml-apiserver:8008"}}, "apiHost"),
        ({"taskPod": {"tolerations": {}}}, "tolerations"),
        ({"taskPod": {"labels": {"gpu": 1}}}, "labels"),
    ],
)
def test_schema_rejects_bad_values(helm: Helm, overlay: dict[str, Any], field: str) -> None:
    assert field in helm.template_error(values(**overlay))


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ({"runai": {"project": ""}}, "runai.project is required"),
        ({"agent": {"queues": []}}, "agent.queues is required"),
        ({"clearml": {"apiHost": ""}}, "clearml.apiHost is required"),
        ({"agent": {"image": {"tag": "", "digest": ""}}}, "agent.image.tag or agent.image.digest is required"),
    ],
)
def test_required_values_are_refused_at_render(helm: Helm, overlay: dict[str, Any], message: str) -> None:
    assert message in helm.template_error(values(**overlay))


def test_default_values_alone_do_not_install(helm: Helm) -> None:
    error = helm.template_error()
    assert "is required" in error
