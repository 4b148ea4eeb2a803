"""Generator output for installs it was not written against renders valid objects, with helm v4 and v3.

Each scenario builds a ClearML install with tests/fixtures under release names, namespaces and chart
versions used nowhere else, renders its values with the real CLI, installs them with `helm template`
into `runai-<project>`, and validates everything, the task pod as the agent creates it included,
against the strict upstream schemas of the oldest and newest Kubernetes the chart is tested for.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.installs import flavour_a, flavour_b

from .ci_values import RICH_BASE_POD_TEMPLATE, InstallCase, render_install
from .conftest import Helm, Rendered, assert_valid_kubernetes_objects, load_one

pytestmark = pytest.mark.chart

VERSIONS = ("1.29.0", "1.35.0")

# The rich clearml-agent template, plus an init container and extra pod fields
RICHER_BASE_POD_TEMPLATE: dict[str, Any] = {
    **copy.deepcopy(RICH_BASE_POD_TEMPLATE),
    "initContainers": [
        {
            "name": "fetch-weights",
            "image": "busybox:1.36",
            "command": ["sh", "-c", "cp -r /weights/. /data/weights"],
            "env": [{"name": "CLEARML_API_HOST", "value": "http://ml-apiserver:8008"}],
            "volumeMounts": [{"name": "dshm", "mountPath": "/data"}],
        }
    ],
    "podSecurityContext": {"fsGroup": 2000, "runAsUser": 1000, "runAsGroup": 1000},
    "containerSecurityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
}


SCENARIOS = {
    "a-3.4.0": InstallCase(lambda: flavour_a("ml", "mlops", "3.4.0"), "mlops", "ml", "alpha"),
    "a-3.5.1": InstallCase(
        lambda: flavour_a("clearml-prod", "clearml-prod", "3.5.1", queue="gpu-queue"),
        "clearml-prod",
        "clearml-prod",
        "beta-research",
        ("--queue", "beta-gpu", "--queue", "beta-cpu"),
    ),
    "a-3.6.2": InstallCase(
        lambda: flavour_a("tracking", "tracking", "3.6.2", max_pods=3),
        "tracking",
        "tracking",
        "gamma",
        ("--scheduler", "kai", "--node-pool", "a100"),
    ),
    "a-3.10.5": InstallCase(
        lambda: flavour_a(
            "cml",
            "ml-platform",
            "3.10.5",
            image="registry.example.com/mirror/clearml-agent-k8s:base-1.21",
            extra_template_env=[{"name": "PIP_INDEX_URL", "value": "https://pypi.example.com/simple"}],
        ),
        "ml-platform",
        "cml",
        "delta",
        ("--gpu-fraction", "0.25", "--priority-class", "train", "--worker-id", "delta-glue"),
    ),
    "b-4.1.0": InstallCase(
        lambda: flavour_b(
            "agents",
            "clearml-agents",
            "4.1.0",
            queue="default",
            server_namespace="clearml",
            base_pod_template=RICH_BASE_POD_TEMPLATE,
        ),
        "clearml-agents",
        "agents",
        "epsilon",
    ),
    "b-5.3.0": InstallCase(
        lambda: flavour_b(
            "gpu",
            "gpu-agents",
            "5.3.0",
            queue="a100",
            server_release="ml",
            base_pod_template=RICHER_BASE_POD_TEMPLATE,
        ),
        "gpu-agents",
        "gpu",
        "zeta",
        ("--scheduler", "kai", "--gpu-fraction", "0.5", "--no-self-update"),
    ),
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[InstallCase, Path]:
    """A scenario and the values file the CLI rendered for it (once for both helm versions)."""
    scenario = SCENARIOS[request.param]
    text = render_install(
        scenario.install(), scenario.clearml_namespace, scenario.source_release, scenario.project, *scenario.options
    )
    path = tmp_path_factory.mktemp(request.param) / "values.yaml"
    path.write_text(text)
    return scenario, path


def render(helm: Helm, scenario: InstallCase, values_file: Path) -> Rendered:
    return helm.template(files=[values_file], release=scenario.release, namespace=scenario.namespace)


def test_generated_values_render_valid_objects(helm: Helm, generated: tuple[InstallCase, Path]) -> None:
    scenario, values_file = generated
    rendered = render(helm, scenario, values_file)
    assert {"Deployment", "ConfigMap", "Secret", "Role", "RoleBinding"} <= rendered.kinds()
    assert_valid_kubernetes_objects([*rendered.docs, rendered.task_as_created(scenario.namespace)], VERSIONS)


def test_generated_values_serve_the_project_from_its_namespace(helm: Helm, generated: tuple[InstallCase, Path]) -> None:
    scenario, values_file = generated
    rendered = render(helm, scenario, values_file)
    values = load_one(values_file.read_text())
    assert values["runai"]["namespace"] == scenario.namespace
    for doc in rendered.docs:
        assert doc["metadata"]["namespace"] == scenario.namespace, doc["kind"]
    args = rendered.agent_env_value("K8S_GLUE_EXTRA_ARGS").split()
    assert args[args.index("--namespace") + 1] == scenario.namespace
    assert "namespace" not in rendered.task_template["metadata"]
    assert rendered.task_template["metadata"]["labels"]["project"] == scenario.project
    # the task pods reach the ClearML server by its full name from the Run:ai namespace
    api_host = next(e["value"] for e in rendered.task_env if e["name"] == "CLEARML_API_HOST")
    assert api_host == rendered.agent_env_value("CLEARML_API_HOST")
    assert ".svc.cluster.local:" in api_host
    assert rendered.deployment["metadata"]["name"] == scenario.release


def test_helm_v4_and_v3_render_the_same_objects(
    generated: tuple[InstallCase, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    scenario, values_file = generated
    helms = [request.getfixturevalue("helm4")]
    helm3 = helms[0].binary.parent / "helm3"
    if not helm3.is_file():
        pytest.skip("helm3 is missing: run ci/tools.sh")
    helms.append(Helm(name="helm3", binary=helm3, tmp_path=tmp_path / "helm3"))
    v4, v3 = (render(h, scenario, values_file).docs for h in helms)
    assert v4 == v3
