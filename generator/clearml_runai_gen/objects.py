"""Small helpers over objects as YAML gives them (dicts, lists, scalars), shared by every stage. Pure."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

Obj = dict[str, Any]


def as_list(value: Any) -> list[Any]:
    """`tolerations: {}` (clearml chart <= 3.5.1) and `volumes: null` (3.10) mean an empty list."""
    if isinstance(value, list):
        return value
    if value in (None, {}, ""):
        return []
    if isinstance(value, dict):
        return [value]  # a single item written without the dash
    return []


def as_dict(value: Any) -> Obj:
    """A mapping, or {} for anything else (null, a string where a mapping belongs)."""
    return value if isinstance(value, dict) else {}


def name_of(obj: Obj) -> str:
    """metadata.name of an object, "" when it has none."""
    return str(as_dict(obj.get("metadata")).get("name", ""))


def scalar_text(value: Any) -> str:
    """A YAML scalar as the text it was written with: `true` stays `true` (not Python's `True`), null is ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def prune(value: Any, schema: Mapping[str, Any] | None = None) -> Any:
    """Leave out empty values of mappings: the chart's defaults stand for them. With the chart's values
    schema, only its own objects are pruned: what a value holds (a nodeSelector `{gpu: ""}`, an empty
    label value) is data, kept as it is."""
    if not isinstance(value, dict) or (schema is not None and "properties" not in schema):
        return value
    props = schema.get("properties", {}) if schema is not None else {}
    pruned = {k: prune(v, props.get(k, {}) if schema is not None else None) for k, v in value.items()}
    return {k: v for k, v in pruned.items() if v not in ("", {}, [], None)}


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> Obj:
    """`overlay` over `base` as helm merges values: mappings merge, everything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
