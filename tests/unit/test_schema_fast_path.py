"""validate.surely_valid, the fast path of the schema check: it may say "valid" only where jsonschema does (else
render would write values helm refuses), and it must say so for what render writes (else every render pays
for importing jsonschema)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
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
from clearml_runai_gen.validate import _overlay, surely_valid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.fixtures.installs import dump, flavour_a, flavour_b
from sandbox.paths import CHART

SCHEMA = chart.schema()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def merged(values: dict[str, Any]) -> dict[str, Any]:
    return _overlay(chart.defaults(shared=True), prune(values, SCHEMA))


def written() -> list[dict[str, Any]]:
    """What render writes: both flavours, every project option, credentials inline and apart, with profiles."""
    options = ProjectOptions.build(
        "team-a", gpu_fraction="0.5", node_pool="pool-a", priority_class="train", agent_image="reg/agent:2"
    )
    plans = [make_plan(read_install(FileSource(dump(o), "dump")), options) for o in (flavour_a(), flavour_b())]
    found = [p.values for p in plans] + [separate_credentials(p)[0].values for p in plans]
    profiled = copy.deepcopy(found[0])
    profiled["queueProfiles"] = [
        {"name": "big", "queue": "big", "runai": {"gpuFraction": "1"}, "taskPod": {"labels": {"size": "big"}}},
        {"name": "small", "queue": "small", "workerId": "w-small"},
    ]
    return [*found, profiled]


def test_what_render_writes_takes_the_fast_path() -> None:
    for values in written():
        assert VALIDATOR.is_valid(merged(values))
        assert surely_valid(merged(values), SCHEMA), "render would import jsonschema for its own values"


@pytest.mark.parametrize("path", sorted((CHART / "ci").glob("*-values.yaml")), ids=lambda p: p.name)
def test_the_charts_ci_values_take_the_fast_path(path: Any) -> None:
    """Hand-written values too: pull secrets as names and as {name:} objects (a oneOf), job mode, KAI."""
    from ruamel.yaml import YAML

    values = json.loads(json.dumps(YAML(typ="safe").load(path.read_text())))
    assert VALIDATOR.is_valid(merged(values)) and surely_valid(merged(values), SCHEMA)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, 0.5, -1.5])
    | st.sampled_from(["", "a", "team-a", "0.5", "1", "Always", "kai-scheduler", "x" * 70, "a b", "runai-x"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["name", "key", "x", "value"]), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            found += _places(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += _places(v, (*path, i))
    return found


def _put(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    out = copy.copy(node)
    out[path[0]] = _put(node.get(path[0]) if isinstance(node, dict) else node[path[0]], path[1:], value)
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_path_never_passes_what_jsonschema_refuses(data: st.DataObject) -> None:
    base = merged(data.draw(st.sampled_from(written())))
    values = base
    for _ in range(data.draw(st.integers(1, 3))):
        place = data.draw(st.sampled_from(_places(values)))
        change = data.draw(st.sampled_from(["value", "key", "drop"]) if place else st.just("value"))
        if change == "value":
            values = _put(values, place, data.draw(JSON))
        elif change == "key" and isinstance(_get(values, place[:-1]), dict):
            values = _put(values, (*place[:-1], data.draw(st.sampled_from(["x", "name", "extra"]))), data.draw(JSON))
        elif change == "drop" and isinstance(_get(values, place[:-1]), dict):
            parent = dict(_get(values, place[:-1]))
            parent.pop(place[-1], None)
            values = _put(values, place[:-1], parent)
    if surely_valid(values, SCHEMA):
        assert VALIDATOR.is_valid(values), next(VALIDATOR.iter_errors(values)).message


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def test_the_fast_path_refuses_on_its_own_what_it_decides() -> None:
    """Each keyword it decides on: a value breaking it is not passed (a fast path that passed all would pass the
    property test above only by luck of the draw)."""
    base = merged(written()[0])
    broken = {
        "type": ("agent", "replicas", "two"),
        "additionalProperties": ("agent", "unknown", 1),
        "pattern": ("runai", "gpuFraction", "half"),
        "minLength": ("runai", "scheduler", ""),
    }
    for rule, (section, key, value) in broken.items():
        values = _put(base, (section, key), value)
        errors = list(VALIDATOR.iter_errors(values))
        assert errors, rule
        assert not surely_valid(values, SCHEMA), rule


def test_render_from_a_file_does_not_import_jsonschema(tmp_path: Any) -> None:
    source = tmp_path / "dump.yaml"
    source.write_text(dump(flavour_a()))
    args = ["render", "--from-file", str(source), "--project", "team-a", "-o", str(tmp_path / "v.yaml")]
    code = f"import sys; from clearml_runai_gen.cli import main; print(main({args!r}), 'jsonschema' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["0", "False"]


SMALL = [  # (schema, instance): each rule at its edge, against jsonschema's verdict
    ({"type": "integer"}, 1.0),
    ({"type": "integer"}, 0.5),
    ({"type": "integer"}, True),
    ({"type": "number"}, False),
    ({"type": ["string", "null"]}, None),
    ({"type": "object"}, []),
    ({"oneOf": [{"type": "string"}, {"minLength": 1}]}, "a"),
    ({"oneOf": [{"type": "string"}, {"type": "object"}]}, 1),
    ({"oneOf": [{"type": "string"}, {"type": "object"}]}, {}),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": False}, {"a": "x", "b": 1}),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}}, {"b": 1}),
    ({"properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}}, {"b": "1"}),
    ({"required": ["a"]}, {"b": 1}),
    ({"required": ["a"]}, "not an object"),
    ({"items": {"type": "string"}, "minItems": 1}, []),
    ({"uniqueItems": True}, ["a", "a"]),
    ({"uniqueItems": True}, [1, 1.0]),
    ({"enum": ["Always", "Never"]}, "always"),
    ({"enum": [1, 2]}, True),
    ({"pattern": "^[a-z]+$"}, "abc"),
    ({"pattern": "b"}, "abc"),  # search, not match
    ({"maxLength": 2}, "abc"),
    ({"minimum": 0}, -1),
    ({"minimum": 0}, "text"),
    ({"$ref": "#/definitions/s", "type": "integer", "definitions": {"s": {"type": "string"}}}, "x"),  # siblings ignored
    ({"$ref": "#/definitions/s", "definitions": {"s": {"type": "string"}}}, 1),
    ({"not": {"type": "string"}}, 1),  # a keyword it does not decide on
]


@pytest.mark.parametrize(("schema", "instance"), SMALL, ids=[json.dumps(c) for c in SMALL])
def test_each_rule_decides_as_jsonschema_or_not_at_all(schema: dict[str, Any], instance: Any) -> None:
    from clearml_runai_gen.validate import _decide

    verdict = _decide(instance, schema, schema)
    if verdict is not None:
        assert verdict == jsonschema.Draft7Validator(schema).is_valid(instance)
