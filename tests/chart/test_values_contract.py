"""values.yaml is the contract with the generator: documented, in step with the schema, and all used."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import CHART_DIR, load_one

pytestmark = pytest.mark.chart

SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
VALUES_TEXT = (CHART_DIR / "values.yaml").read_text()
VALUES = load_one(VALUES_TEXT)
# Keys a parent chart may pass; allowed by the schema, absent from values.yaml.
SCHEMA_ONLY = {"global"}


def owned_leaves(schema: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths of the values the chart defines itself: leaves of the objects its schema closes."""
    for key, sub in schema.get("properties", {}).items():
        if path == () and key in SCHEMA_ONLY:
            continue
        if "properties" in sub:
            assert sub.get("additionalProperties") is False, f"{'.'.join((*path, key))} must be closed"
            yield from owned_leaves(sub, (*path, key))
        else:
            yield (*path, key)


def owned_objects(
    schema: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        if "properties" in sub:
            yield from owned_objects(sub, (*path, key))


def schema_at(path: tuple[str, ...]) -> dict[str, Any]:
    node: dict[str, Any] = SCHEMA
    for key in path:
        node = node["properties"][key]
    return node


def lookup(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


LEAVES = sorted(owned_leaves(SCHEMA))


def test_schema_is_draft_07_and_closed_on_every_owned_object() -> None:
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    objects = dict(owned_objects(SCHEMA))
    for path in [
        (),
        ("runai",),
        ("clearml",),
        ("clearml", "existingSecretKeys"),
        ("agent",),
        ("agent", "image"),
        ("serviceAccount",),
        ("rbac",),
        ("networkPolicy",),
        ("taskPod",),
        ("origin",),
    ]:
        assert objects[path].get("additionalProperties") is False, path


def test_schema_and_values_name_the_same_keys() -> None:
    for path, sub in owned_objects(SCHEMA):
        in_schema = set(sub["properties"]) - (SCHEMA_ONLY if path == () else set())
        assert set(lookup(VALUES, path)) == in_schema, ".".join(path) or "(top level)"


@pytest.mark.parametrize("path", LEAVES, ids=".".join)
def test_every_default_has_the_type_the_schema_states(path: tuple[str, ...]) -> None:
    expected = schema_at(path)["type"]
    python_types = {"string": str, "boolean": bool, "integer": int, "object": dict, "array": list}
    value = lookup(VALUES, path)
    assert isinstance(value, python_types[expected]), f"{'.'.join(path)}: {value!r} is not {expected}"
    if expected == "integer":
        assert not isinstance(value, bool)


def template_references() -> set[tuple[str, ...]]:
    """Every .Values path the templates read, directly or through a variable bound to part of .Values."""
    text = "\n".join(p.read_text() for p in (CHART_DIR / "templates").iterdir())
    ident = r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+"
    aliases: dict[str, tuple[str, ...]] = {}
    for name, source in re.findall(rf"\$(\w+)\s*:?=\s*(\.Values(?:{ident})?|\$\w+{ident})", text):
        root, _, rest = source.partition(".") if source.startswith("$") else ("", "", source[len(".Values.") :])
        base = aliases.get(root[1:], ()) if root else ()
        if root and root[1:] not in aliases:
            continue
        aliases[name] = (*base, *filter(None, rest.split(".")))
    refs: set[tuple[str, ...]] = set()
    for match in re.findall(rf"\.Values({ident})", text):
        refs.add(tuple(match.strip(".").split(".")))
    for name, rest in re.findall(rf"\$(\w+)({ident})", text):
        if name in aliases:
            refs.add((*aliases[name], *rest.strip(".").split(".")))
    return refs


REFERENCES = template_references()


@pytest.mark.parametrize("path", LEAVES, ids=".".join)
def test_every_value_is_used_by_a_template(path: tuple[str, ...]) -> None:
    assert path in REFERENCES, f"no template reads .Values.{'.'.join(path)}"


def documented_keys() -> dict[tuple[str, ...], bool]:
    """values.yaml keys by path, and whether a `# --` comment introduces them."""
    out: dict[tuple[str, ...], bool] = {}
    stack: list[tuple[int, str]] = []
    comment_block: list[str] = []
    for line in VALUES_TEXT.splitlines():
        stripped = line.strip()
        if not stripped:
            comment_block = []
            continue
        if stripped.startswith("#"):
            comment_block.append(stripped)
            continue
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):", line)
        if match:
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match.group(2)))
            out[tuple(k for _, k in stack)] = any(c.startswith("# --") for c in comment_block)
        comment_block = []
    return out


@pytest.mark.parametrize("path", LEAVES, ids=".".join)
def test_every_value_is_documented_with_a_doc_comment(path: tuple[str, ...]) -> None:
    assert documented_keys().get(path), f"{'.'.join(path)} has no `# --` comment in values.yaml"


def test_security_relevant_defaults_are_stated() -> None:
    assert VALUES["agent"]["securityContext"]["allowPrivilegeEscalation"] is False
    assert VALUES["agent"]["podSecurityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert VALUES["taskPod"]["automountServiceAccountToken"] is False
    assert VALUES["agent"]["image"]["tag"] not in ("", "latest")
    assert VALUES["agent"]["resources"]["requests"] and VALUES["agent"]["resources"]["limits"]
    assert VALUES["taskPod"]["securityContext"]["allowPrivilegeEscalation"] is False
    assert VALUES["taskPod"]["securityContext"]["capabilities"]["drop"] == ["NET_RAW"]
    assert VALUES["taskPod"]["podSecurityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert VALUES["networkPolicy"]["create"] is True
