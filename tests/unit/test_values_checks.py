"""What render writes is what helm, the chart and the API server take, and carries what the source meant
(issue 16: output the chart refuses or rewrites, and wrong carrying)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from clearml_runai_gen.detect import read_install
from clearml_runai_gen.emit import render_values
from clearml_runai_gen.models import ProjectOptions
from clearml_runai_gen.plan import make_plan
from clearml_runai_gen.source import FileSource
from ruamel.yaml import YAML

from sandbox.fixtures.installs import as_served, dump, flavour_a
from tests.conftest import gen

DIGEST = "sha256:" + "0123456789abcdef" * 4


def _deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deploy,) = [o for o in objects if o["kind"] == "Deployment"]
    return deploy


def _agent_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = _deployment(objects)["spec"]["template"]["spec"]["containers"][0]
    return container


def _with_template(text: str, objects: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    objects = objects or flavour_a()
    (cm,) = [o for o in objects if o["kind"] == "ConfigMap"]
    cm["data"]["template.yaml"] = text
    return objects


def _plan(objects: list[dict[str, Any]], project: str = "team-a", **opts: Any) -> Any:
    return make_plan(read_install(FileSource(dump(objects), "dump")), ProjectOptions.build(project, **opts))


def _max_pods(value: str) -> list[dict[str, Any]]:
    objects = flavour_a()
    for var in _agent_container(objects)["env"]:
        if var["name"] == "K8S_GLUE_MAX_PODS":
            var["value"] = value
    return objects


TEMPLATE = "apiVersion: v1\nspec:\n  containers:\n  - resources: {{}}\n{pod}"
LONG = "x" * 64

REFUSED = {
    "release name over helm's 53": (flavour_a(), ["--project", "p" * 40], "at most 39 characters"),
    "queue named twice": (flavour_a(), ["--queue", "a,b,a"], "--queue a is named twice"),
    "queue with a blank": (flavour_a(), ["--queue", "a b"], "holds no blanks"),
    "integer selector value": (
        _with_template(TEMPLATE.format(pod="  nodeSelector:\n    zone: 3\n")),
        [],
        "taskPod.nodeSelector.zone is a number, where Kubernetes takes a string",
    ),
    "over-long label value": (
        _with_template(f"metadata:\n  labels:\n    team: {LONG}\n" + TEMPLATE.format(pod="")),
        [],
        "taskPod.labels.team is no label value",
    ),
    "bad label key": (
        _with_template("metadata:\n  labels:\n    -team: a\n" + TEMPLATE.format(pod="")),
        [],
        "taskPod.labels.-team is no label key",
    ),
    "bad volume name": (
        _with_template(TEMPLATE.format(pod="  volumes:\n  - name: Data_1\n    emptyDir: {}\n")),
        [],
        "taskPod.volumes[0].name is no volume name",
    ),
    "negative max pods": (_max_pods("-1"), [], "agent.maxPods is below 0"),
    "short digest": (flavour_a(), ["--agent-image", "repo/agent@sha256:abc"], "agent.image.digest does not match"),
    "upper-case repository": (flavour_a(), ["--agent-image", "Repo/Agent:1"], "agent.image.repository is no image"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_values_the_chart_or_kubernetes_would_refuse_are_refused_in_one_line(case: str, tmp_path: Path) -> None:
    objects, args, message = REFUSED[case]
    src = tmp_path / "clearml.yaml"
    src.write_text(dump(as_served(objects, "clearml", "clearml")))
    out = tmp_path / "values.yaml"
    project = [] if "--project" in args else ["--project", "team-a"]
    code, stdout, stderr = gen(["render", *project, *args, "--from-file", str(src), "-o", str(out)])
    assert code != 0 and stdout == ""
    assert message in stderr, stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert not out.exists()


def test_a_refusal_names_the_place_never_the_value() -> None:
    secretish = "s3cr3t-Value-Not-A-Label-" + "z" * 50
    objects = _with_template(f"metadata:\n  labels:\n    token: {secretish}\n" + TEMPLATE.format(pod=""))
    with pytest.raises(Exception) as refused:
        _plan(objects)
    assert "taskPod.labels.token" in str(refused.value) and secretish not in str(refused.value)


def test_an_image_pinned_by_digest_is_rendered() -> None:
    image = _plan(flavour_a(), agent_image=f"registry.local:5000/ml/agent@{DIGEST}").values["agent"]["image"]
    assert (image["repository"], image["digest"]) == ("registry.local:5000/ml/agent", DIGEST)


def test_keys_yaml_1_1_misreads_are_written_quoted() -> None:
    objects = _with_template(TEMPLATE.format(pod="  nodeSelector:\n    on: spot\n    y: zone-a\n    'no': 'off'\n"))
    text = render_values(_plan(objects))
    yaml11 = YAML(typ="rt")
    yaml11.version = (1, 1)
    selector = yaml11.load(io.StringIO("%YAML 1.1\n---\n" + text))["taskPod"]["nodeSelector"]
    assert dict(selector) == {"on": "spot", "y": "zone-a", "no": "off"}


def test_an_agent_command_with_args_keeps_both() -> None:
    objects = flavour_a()
    _agent_container(objects).update(command=["/bin/bash", "-c"], args=["exec /opt/glue.sh --verbose"])
    plan = _plan(objects)
    assert plan.values["agent"]["command"] == ["/bin/bash", "-c", "exec /opt/glue.sh --verbose"]


def test_args_to_the_images_entrypoint_are_said_in_a_warning() -> None:
    objects = flavour_a()
    container = _agent_container(objects)
    del container["command"]
    container["args"] = ["--debug"]
    plan = _plan(objects)
    assert plan.values["agent"]["command"] == []
    assert any("passes args to its image's entrypoint" in w for w in plan.warnings)


def test_an_empty_env_value_is_carried() -> None:
    objects = flavour_a()
    _agent_container(objects)["env"].append({"name": "HTTP_PROXY", "value": ""})
    plan = _plan(objects)
    assert {"name": "HTTP_PROXY", "value": ""} in plan.values["agent"]["extraEnv"]
    assert "- name: HTTP_PROXY\n      value: ''" in render_values(plan)


@pytest.mark.parametrize("services", [False, True])
def test_a_bucket_url_is_never_rewritten_as_a_service(services: bool) -> None:
    objects = _with_template(
        TEMPLATE.format(pod="").replace("resources: {}", "env:\n    - name: OUT\n      value: s3://bucket/runs")
    )
    if services:
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bucket"}, "spec": {}})
    for var in _agent_container(objects)["env"]:
        if var["name"] == "CLEARML_FILES_HOST":
            var["value"] = "s3://bucket/files"
    plan = _plan(objects)
    assert {"name": "OUT", "value": "s3://bucket/runs"} in plan.values["taskPod"]["env"]
    assert plan.values["clearml"]["filesHost"] == "s3://bucket/files"
    assert not any("'bucket'" in w for w in plan.warnings)


def test_a_templates_node_name_is_dropped_with_a_warning() -> None:
    plan = _plan(_with_template(TEMPLATE.format(pod="  nodeName: gpu-node-0\n")))
    assert "nodeName" not in plan.values["taskPod"]["extraPodSpec"]
    assert any("spec.nodeName" in w and "Run:ai scheduler" in w for w in plan.warnings)
