"""Generator output for every upstream install of the corpus renders valid objects, with helm v4 and v3.

Each case's upstream chart is rendered by `helm template` into a namespace and for projects used nowhere
else, with a rotating set of options; its values are rendered with the real CLI, installed with `helm
template` into `runai-<project>`, and everything, the task pod as the agent creates it included, is
validated against the strict upstream schemas of the oldest and newest Kubernetes the chart is tested for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.corpus.cases import all_cases

from .ci_values import InstallCase, render_install
from .conftest import Helm, Rendered, assert_valid_kubernetes_objects, load_one

pytestmark = pytest.mark.chart

VERSIONS = ("1.29.0", "1.35.0")
OPTIONS = (
    (),
    ("--scheduler", "kai", "--gpu-fraction", "0.5", "--no-self-update"),
    ("--queue", "gpu-a100,gpu-default", "--priority-class", "train", "--node-pool", "a100"),
    ("--cluster-domain", "corp.internal", "--worker-id", "zeta-agent"),
)


def _scenarios() -> dict[str, InstallCase]:
    out = {}
    for i, case in enumerate(c for c in all_cases() if not c.value_set.refuse):
        options = (*OPTIONS[i % len(OPTIONS)], *case.value_set.render_args)
        out[case.id] = InstallCase(case.id, "mlops-" + "abc"[i % 3], f"zeta-{i}", options)
    return out


SCENARIOS = _scenarios()


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[InstallCase, Path]:
    """A scenario and the values file the CLI rendered for it (once for both helm versions)."""
    scenario = SCENARIOS[request.param]
    path = tmp_path_factory.mktemp(request.param) / "values.yaml"
    path.write_text(render_install(scenario))
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
    assert args.count("--namespace") == 1 and args[args.index("--namespace") + 1] == scenario.namespace
    assert rendered.agent_env_value("K8S_DEFAULT_NAMESPACE") == scenario.namespace
    assert "namespace" not in rendered.task_template["metadata"]
    labels = rendered.task_template["metadata"]["labels"]
    assert labels["project"] == scenario.project
    assert labels.get("runai/queue", labels.get("kai.scheduler/queue")) == scenario.project
    # the task pods reach the ClearML server as the agent does
    api_host = next(e["value"] for e in rendered.task_env if e["name"] == "CLEARML_API_HOST")
    assert api_host == rendered.agent_env_value("CLEARML_API_HOST")
    if ".svc." in api_host:
        domain = "corp.internal" if "--cluster-domain" in scenario.options else "cluster.local"
        assert f".{scenario.clearml_namespace}.svc.{domain}" in api_host
    assert rendered.deployment["metadata"]["name"] == scenario.release
    # nothing of the source release's own marks comes along
    for marks in (rendered.pod_annotations, rendered.task_template["metadata"].get("annotations") or {}):
        assert not [k for k in marks if k.startswith("checksum/") and k not in CHART_CHECKSUMS], marks


CHART_CHECKSUMS = {"checksum/template", "checksum/secret", "checksum/files"}


def test_helm_v4_and_v3_render_the_same_objects(
    generated: tuple[InstallCase, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    scenario, values_file = generated
    helms = [request.getfixturevalue("helm4")]
    helm3 = helms[0].binary.parent / "helm3"
    helms.append(Helm(name="helm3", binary=helm3, tmp_path=tmp_path / "helm3"))
    v4, v3 = (render(h, scenario, values_file).docs for h in helms)
    assert v4 == v3
