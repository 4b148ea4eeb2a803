"""The guarantees other code leans on, each held by a test that fails when it breaks (issue 17's mutation pass)."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from clearml_runai_gen import chart, k8sfields, template
from clearml_runai_gen.detect import read_install
from clearml_runai_gen.errors import UsageError
from clearml_runai_gen.models import ProjectOptions
from clearml_runai_gen.plan import CHART_TASK_LABELS, make_plan
from clearml_runai_gen.source import FileSource

from sandbox.fixtures.installs import dump, flavour_a

SCHEMAS = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / "v1.35.0-local-strict"


def plan_for(objects: list[dict[str, Any]], project: str = "team-a", **opts: Any) -> Any:
    return make_plan(read_install(FileSource(dump(objects), "dump")), ProjectOptions.build(project, **opts))


def _deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deploy,) = [o for o in objects if o["kind"] == "Deployment"]
    return deploy


def _with_template(text: str) -> list[dict[str, Any]]:
    objects = flavour_a()
    (cm,) = [o for o in objects if o["kind"] == "ConfigMap"]
    cm["data"]["template.yaml"] = text
    return objects


@pytest.mark.parametrize(
    "fields,schema",
    [
        (k8sfields.CONTAINER, "container-v1.json"),
        (k8sfields.POD_SPEC, "podspec-v1.json"),
        (k8sfields.SECURITY_CONTEXT, "securitycontext-v1.json"),
        (k8sfields.POD_SECURITY_CONTEXT, "podsecuritycontext-v1.json"),
    ],
    ids=["Container", "PodSpec", "SecurityContext", "PodSecurityContext"],
)
def test_k8sfields_name_exactly_the_fields_of_the_kubernetes_1_35_schema(fields: frozenset[str], schema: str) -> None:
    properties = set(json.loads((SCHEMAS / schema).read_text())["properties"])
    assert set(fields) == properties, f"missing {sorted(properties - fields)}, unknown {sorted(fields - properties)}"


def test_an_agent_running_the_charts_default_command_gets_no_command_of_its_own() -> None:
    """flavour_a runs what the upstream clearml chart runs: the image's k8s glue entrypoint, the chart's default."""
    command = _deployment(flavour_a())["spec"]["template"]["spec"]["containers"][0]["command"]
    assert chart.default("agent", "command") == command
    assert plan_for(flavour_a()).values["agent"]["command"] == []


@pytest.fixture
def edited_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, str], None]]:
    """A packaged chart whose values.yaml says something else: edit(old, new)."""
    packaged = tmp_path / chart.CHART_NAME
    shutil.copytree(chart.chart_path(), packaged)
    monkeypatch.setattr(chart, "chart_path", lambda: packaged)

    def edit(old: str, new: str) -> None:
        values = packaged / "values.yaml"
        assert old in values.read_text()
        values.write_text(values.read_text().replace(old, new))
        chart._defaults.cache_clear()

    yield edit
    chart._defaults.cache_clear()


def test_the_default_agent_command_is_read_from_the_packaged_chart(edited_chart: Callable[[str, str], None]) -> None:
    """One copy of the contract: a chart whose default command differs makes the generator carry the old one."""
    edited_chart("/root/entrypoint.sh", "/opt/glue/start.sh")
    carried = plan_for(flavour_a()).values["agent"]["command"]
    assert carried == _deployment(flavour_a())["spec"]["template"]["spec"]["containers"][0]["command"]


def test_the_default_scheduler_is_read_from_the_packaged_chart(edited_chart: Callable[[str, str], None]) -> None:
    assert ProjectOptions.build("team-a").scheduler == chart.default("runai", "scheduler") == "runai-scheduler"
    edited_chart("scheduler: runai-scheduler", "scheduler: sentinel-scheduler")
    assert ProjectOptions.build("team-a").scheduler == "sentinel-scheduler"


@pytest.mark.parametrize("decoy_first", [True, False])
def test_the_template_comes_from_the_most_specific_mount_of_its_path(decoy_first: bool) -> None:
    """/root and /root/template both hold /root/template/template.yaml: the deeper mount provides it."""
    objects = flavour_a()
    spec = _deployment(objects)["spec"]["template"]["spec"]
    spec["volumes"].append({"name": "home", "emptyDir": {}})
    mounts = spec["containers"][0]["volumeMounts"]
    decoy = {"name": "home", "mountPath": "/root"}
    spec["containers"][0]["volumeMounts"] = [decoy, *mounts] if decoy_first else [*mounts, decoy]
    install = read_install(FileSource(dump(objects), "dump"))
    assert install.template_configmap == "k8sagent-pod-template"


def test_pod_level_fields_in_the_containers_security_context_move_to_the_pod() -> None:
    text = (
        "apiVersion: v1\nspec:\n  containers:\n  - securityContext:\n      fsGroup: 1000\n"
        "      fsGroupChangePolicy: OnRootMismatch\n      runAsUser: 7\n"
    )
    parsed = template.parse(text, "template")
    spec = parsed.pod["spec"]
    assert spec["securityContext"] == {"fsGroup": 1000, "fsGroupChangePolicy": "OnRootMismatch"}
    assert spec["containers"][0]["securityContext"] == {"runAsUser": 7}


MISPLACED_SELECTOR = (  # clearml chart 3.8.1-3.10.0: nodeSelector rendered at the container's indentation
    "apiVersion: v1\nspec:\n  containers:\n  - resources: {}\n    nodeSelector:\n    gpu: true\n"
    "    count: 2\n    spot: no\n    tolerations:\n    - key: a\n      operator: Exists\n"
)


def test_recovered_node_selector_values_are_the_strings_yaml_wrote() -> None:
    parsed = template.parse(MISPLACED_SELECTOR, "template")
    assert parsed.pod["spec"]["nodeSelector"] == {"gpu": "true", "count": "2", "spot": "no"}
    assert parsed.pod["spec"]["tolerations"] == [{"key": "a", "operator": "Exists"}]


def test_template_labels_keep_the_spelling_yaml_wrote() -> None:
    parsed = template.parse("metadata:\n  labels:\n    spot: true\nspec:\n  containers:\n  - {}\n", "template")
    assert parsed.pod["metadata"]["labels"] == {"spot": "true"}


@pytest.mark.parametrize(
    "label", ["project", "runai/queue", "kai.scheduler/queue", "runai/node-pool", "kai.scheduler/node-pool"]
)
def test_scheduling_labels_of_the_template_are_left_to_the_chart(label: str) -> None:
    """The chart derives these from runai.*; a template's own would contradict them (the chart refuses that)."""
    assert label in CHART_TASK_LABELS
    text = f"metadata:\n  labels:\n    {label}: other\n    team: ml\nspec:\n  containers:\n  - {{}}\n"
    objects = _with_template(text)
    assert plan_for(objects).values["taskPod"]["labels"] == {"team": "ml"}


@pytest.mark.parametrize("fraction", ["1", "1.0", "0.5", ".25"])
def test_a_gpu_fraction_up_to_one_whole_gpu_is_accepted(fraction: str) -> None:
    assert plan_for(flavour_a(), gpu_fraction=fraction).values["runai"]["gpuFraction"] == fraction


@pytest.mark.parametrize("fraction", ["0", "1.5", "-0.5", "half"])
def test_a_gpu_fraction_outside_zero_to_one_is_refused(fraction: str) -> None:
    with pytest.raises(UsageError, match="--gpu-fraction"):
        ProjectOptions.build("team-a", gpu_fraction=fraction)


def test_secrets_named_by_task_init_containers_env_are_warned_about() -> None:
    objects = _with_template(
        "spec:\n  initContainers:\n  - name: fetch\n    image: busybox:1\n    env:\n    - name: TOKEN\n"
        "      valueFrom:\n        secretKeyRef:\n          name: git-token\n          key: token\n"
        "  containers:\n  - {}\n"
    )
    warnings = plan_for(objects).warnings
    assert any("Secret git-token (task init container fetch env TOKEN)" in w for w in warnings), warnings


def test_the_generator_keeps_no_copy_of_the_charts_defaults() -> None:
    """chart.default hands out copies: a caller that edits one cannot change what the next one reads."""
    command = chart.default("agent", "command")
    command.append("x")
    assert chart.default("agent", "command") == copy.deepcopy(chart.default("agent", "command"))
    assert "x" not in chart.default("agent", "command")


def test_the_charts_defaults_read_by_libyaml_are_what_the_pure_reader_reads() -> None:
    """chart.defaults() reads values.yaml with libyaml (8x faster: every render reads it); a construct the two
    readers take apart (a YAML 1.1 boolean, a merge key, an odd scalar) would give the generator other defaults
    than helm has."""
    from ruamel.yaml import YAML

    chart._defaults.cache_clear()
    text = (chart.chart_path() / "values.yaml").read_text()
    assert chart.defaults() == YAML(typ="safe", pure=True).load(text)
    assert chart.defaults() == json.loads(json.dumps(chart.defaults()))  # plain data: what helm's JSON round trip keeps
