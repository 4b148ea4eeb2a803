"""The generator and the chart hold one contract: every value the generator writes is one the chart reads,
and what it writes reaches the objects as it meant it, with helm v4 and v3 (issues 16 and 17)."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from clearml_runai_gen import chart
from clearml_runai_gen.detect import read_install
from clearml_runai_gen.models import ProjectOptions
from clearml_runai_gen.objects import prune
from clearml_runai_gen.plan import make_plan
from clearml_runai_gen.secret import separate_credentials
from clearml_runai_gen.source import FileSource

from sandbox.fixtures.installs import as_served, dump, flavour_a, flavour_b
from sandbox.names import names
from tests.conftest import gen

from .conftest import Helm, load_one

pytestmark = pytest.mark.chart

PROJECT = "team-s"
NAMESPACE = names(PROJECT).namespace
RELEASE = names(PROJECT).release
SCHEMA = chart.schema()


@functools.cache
def generated_plans() -> tuple[dict[str, Any], ...]:
    """The values the generator writes, whole (before the empty ones are left out), for both flavours with
    every project option set, with the credentials inline and apart."""
    options = ProjectOptions.build(
        PROJECT, gpu_fraction="0.5", node_pool="pool-a", priority_class="train", agent_image="reg/agent:2"
    )
    plans = [make_plan(read_install(FileSource(dump(objs), "dump")), options) for objs in (flavour_a(), flavour_b())]
    return tuple(p.values for p in plans) + tuple(separate_credentials(p)[0].values for p in plans)


def leaves(values: Any, schema: dict[str, Any], path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Paths of the values the chart's schema names one by one (the leaves of its closed objects)."""
    out: set[tuple[str, ...]] = set()
    for key, value in values.items():
        sub = schema["properties"][key]  # a KeyError: the generator writes a value the chart does not name
        out |= leaves(value, sub, (*path, key)) if "properties" in sub else {(*path, key)}
    return out


GENERATED_LEAVES = sorted(set().union(*(leaves(v, SCHEMA) for v in generated_plans())))


def schema_at(path: tuple[str, ...]) -> dict[str, Any]:
    node = SCHEMA
    for key in path:
        node = node["properties"][key]
    return node


def _valid(value: Any, schema: dict[str, Any]) -> bool:
    return jsonschema.Draft7Validator(schema).is_valid(value)


ITEMS = {  # a sentinel item of each list of objects the generator writes
    "extraEnv": {"name": "SENTINEL_ENV", "value": "sentinel"},
    "env": {"name": "SENTINEL_ENV", "value": "sentinel"},
    "volumes": {"name": "sentinel-volume", "emptyDir": {}},
    "volumeMounts": {"name": "sentinel-volume", "mountPath": "/sentinel"},
    "fileMounts": {"name": "sentinel.txt", "folderPath": "/sentinel", "content": "sentinel"},
    "tolerations": {"key": "sentinel", "operator": "Exists"},
    "initContainers": {"name": "sentinel-init", "image": "busybox:1"},
    "imagePullSecrets": {"name": "sentinel-pull"},
}


def sentinel(path: tuple[str, ...], current: Any) -> Any:
    """A value of `path` other than `current` that the chart's schema takes."""
    schema = schema_at(path)
    kind = schema.get("type")
    if "enum" in schema:
        return next(v for v in schema["enum"] if v != current)
    if kind == "boolean":
        return not current
    if kind == "integer":
        return (current or 0) + 7
    if kind == "array":
        item = ITEMS.get(path[-1], "sentinel-item")
        return [*(current or []), item]
    if kind == "object":
        return {**(current or {}), "sentinel-key": "sentinel-value"}
    candidates = ["sentinel", "http://sentinel.example:8008", "sentinel.example", "0.25", "sha256:" + "ab" * 32]
    return next(c for c in candidates if c != current and _valid(c, schema))


def _render(helm: Helm, data: dict[str, Any]) -> tuple[int, str, str]:
    proc = helm.template_proc(data, release=RELEASE, namespace=NAMESPACE, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def _set(values: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(values)
    node = out
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return out


def test_the_generator_writes_only_values_the_charts_schema_names() -> None:
    assert len(GENERATED_LEAVES) > 40  # the walk itself raises on a value the schema does not name


@pytest.mark.parametrize("path", GENERATED_LEAVES, ids=".".join)
def test_every_value_the_generator_writes_is_read_by_the_chart(helm4: Helm, path: tuple[str, ...]) -> None:
    """A sentinel in the value's place changes what the chart renders (or what it refuses, for a value it
    checks in its templates): the chart reads it, under the name the generator writes it."""
    # as render writes them: the empty values left out, for the chart's defaults to stand for
    values = prune(next(v for v in generated_plans() if path in leaves(v, SCHEMA)))
    current = copy.deepcopy(values)
    for key in path:
        current = current.get(key) if isinstance(current, dict) else None
    baseline = _render(helm4, values)
    assert baseline[0] == 0, baseline[2]
    changed = _render(helm4, _set(values, path, sentinel(path, current)))
    assert "schema" not in changed[2], f"the sentinel of {'.'.join(path)} breaks the schema: {changed[2]}"
    assert changed[:2] != baseline[:2], f"the chart renders the same whatever {'.'.join(path)} holds"


@pytest.mark.parametrize("flavour", ["a", "b"])
def test_keys_yaml_1_1_misreads_reach_the_task_pods_as_written(helm: Helm, tmp_path: Path, flavour: str) -> None:
    """`{on: spot, y: zone-a}` in the source template: helm (YAML 1.1) must not read `"true": zone-a`."""
    if flavour == "a":
        objects, release = flavour_a(), "clearml"
        (cm,) = [o for o in objects if o["kind"] == "ConfigMap"]
        cm["data"]["template.yaml"] = (
            "apiVersion: v1\nmetadata:\n  labels:\n    yes: 'no'\n    team: '1.5'\nspec:\n  nodeSelector:\n"
            "    on: spot\n    y: zone-a\n    n: 'off'\n    'no': 'yes'\n  containers:\n  - resources: {}\n"
        )
    else:
        base = {"nodeSelector": {"on": "spot", "y": "zone-a", "n": "off", "no": "yes"}}
        objects, release = flavour_b(base_pod_template=base), "agent"
        objects[0].setdefault("metadata", {})
    src, out = tmp_path / "clearml.yaml", tmp_path / "values.yaml"
    src.write_text(dump(as_served(objects, "clearml", release)))
    code, _, stderr = gen(["render", "--project", PROJECT, "--from-file", str(src), "-o", str(out)])
    assert code == 0, stderr
    rendered = helm.template(files=[out], release=RELEASE, namespace=NAMESPACE)
    assert rendered.task_pod_spec["nodeSelector"] == {"on": "spot", "y": "zone-a", "n": "off", "no": "yes"}
    if flavour == "a":
        labels = rendered.task_template["metadata"]["labels"]
        assert (labels["yes"], labels["team"]) == ("no", "1.5")
    assert load_one(out.read_text())["runai"]["project"] == PROJECT
