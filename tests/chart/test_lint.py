"""`helm lint --strict` and rendering of every ci/ values file, and validity of what they render."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions

from .conftest import (
    CHART_DIR,
    CI_DIR,
    KUBE_VERSIONS,
    Helm,
    assert_valid_kubernetes_objects,
    ci_namespace,
    ci_values_files,
    load_one,
)

pytestmark = pytest.mark.chart

CI_FILES = ci_values_files()
EXPECTED_CI_FILES = {
    "handwritten-values.yaml",
    "existing-secret-values.yaml",
    "kai-values.yaml",
    "gpu-priority-nodepool-values.yaml",
    "multi-queue-values.yaml",
    "hardened-values.yaml",
    "generated-flavour-a-values.yaml",
    "generated-flavour-b-values.yaml",
    "job-mode-values.yaml",
}


def test_kubernetes_validate_ships_every_schema_version() -> None:
    missing = sorted(set(KUBE_VERSIONS) - set(all_versions()), key=lambda v: tuple(map(int, v.split("."))))
    assert not missing, f"kubernetes-validate {kubernetes_validate.version.__version__} lacks {missing}: upgrade it"


def test_every_feature_has_a_ci_values_file() -> None:
    assert {p.name for p in CI_FILES} >= EXPECTED_CI_FILES


@pytest.mark.parametrize("ci_file", CI_FILES, ids=lambda p: p.name)
def test_ci_values_lint_strict(helm: Helm, ci_file: Path) -> None:
    # in its own namespace: generated values pin theirs, and lint would not render them elsewhere
    proc = helm.lint(files=[ci_file], namespace=ci_namespace(ci_file))
    assert "0 chart(s) failed" in proc.stdout
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout


def test_default_values_lint_strict(helm: Helm) -> None:
    # helm lints in "lint mode", where `required` and `fail` are logged instead of fatal: the
    # defaults lint clean although an install still needs project, queues, host and keys.
    proc = helm.lint()
    assert "0 chart(s) failed" in proc.stdout
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout


def test_lint_still_catches_schema_violations(helm: Helm) -> None:
    proc = helm.lint({"runai": {"project": "Not_A_Label"}}, check=False)
    assert proc.returncode != 0
    assert "[ERROR] values.yaml" in proc.stdout and "runai" in proc.stdout
    assert "1 chart(s) failed" in proc.stdout + proc.stderr


@pytest.mark.parametrize("ci_file", CI_FILES, ids=lambda p: p.name)
def test_ci_values_render_valid_kubernetes_objects(helm: Helm, ci_file: Path) -> None:
    namespace = ci_namespace(ci_file)
    rendered = helm.template(files=[ci_file], namespace=namespace)
    # The task template is partial: the agent adds the name, container name and image.
    assert "namespace" not in rendered.task_template["metadata"]
    assert_valid_kubernetes_objects([*rendered.docs, rendered.task_as_created(namespace)])


def test_validation_rejects_unknown_fields() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [], "foo": 1}}
    with pytest.raises(AssertionError, match="foo"):
        assert_valid_kubernetes_objects([pod], ("1.29.0",))


def test_chart_metadata() -> None:
    chart = load_one((CHART_DIR / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert (chart["name"], chart["version"], chart["appVersion"]) == ("clearml-runai-agent", "0.1.0", "1.24")
    assert chart["kubeVersion"] == ">=1.29.0-0"
    values = load_one((CHART_DIR / "values.yaml").read_text())
    images = load_one(chart["annotations"]["artifacthub.io/images"])
    image = values["agent"]["image"]
    assert {"name": "clearml-agent-k8s-base", "image": f"docker.io/{image['repository']}:{image['tag']}"} in images
    assert chart["annotations"]["artifacthub.io/license"] == "Apache-2.0"
    for key in ("artifacthub.io/links", "artifacthub.io/changes"):
        assert load_one(chart["annotations"][key]), key


def test_ci_files_are_in_the_chart_dir_only_for_ci() -> None:
    assert "ci/" in (CHART_DIR / ".helmignore").read_text().split()
    assert CI_DIR.is_dir()
