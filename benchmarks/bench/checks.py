"""Every timed command's output is checked once before it is timed: a fast wrong answer is no result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def load_yaml(text: str) -> Any:
    import yaml  # PyYAML with libyaml: only to check outputs quickly

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_yaml_all(text: str) -> list[Any]:
    import yaml

    return [d for d in yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) if d]


def check_values(text: str, project: str, namespace: str) -> str | None:
    """None when `text` is a values file of `project`; else what is wrong."""
    try:
        data = load_yaml(text)
    except Exception as exc:
        return f"{project}: does not parse ({type(exc).__name__})"
    runai = (data or {}).get("runai") or {}
    if runai.get("project") != project or runai.get("namespace") != namespace:
        return f"{project}: holds project {runai.get('project')!r} namespace {runai.get('namespace')!r}"
    if not ((data.get("clearml") or {}).get("accessKey") and (data.get("agent") or {}).get("queues")):
        return f"{project}: no credentials or queues"
    return None


def check_dir(directory: Path, expected: dict[str, str]) -> str | None:
    """None when `directory` holds exactly one right values file per expected project."""
    files = {f.name.removesuffix(".values.yaml"): f for f in directory.glob("*.values.yaml")}
    if set(files) != set(expected):
        missing, extra = sorted(set(expected) - set(files)), sorted(set(files) - set(expected))
        return f"{len(files)} files for {len(expected)} projects (missing {missing[:3]}, extra {extra[:3]})"
    for project, path in files.items():
        problem = check_values(path.read_text(), project, expected[project])
        if problem:
            return problem
    return None


def check_seed_output(out: bytes, target_ns: str) -> str | None:
    """None when the seed printed its five objects, moved to the Run:ai namespace."""
    docs, dec, text, i = [], json.JSONDecoder(), out.decode(), 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        doc, i = dec.raw_decode(text, i)
        docs.append(doc)
    kinds = sorted(d.get("kind", "") for d in docs)
    if kinds != ["ConfigMap", "Deployment", "Role", "RoleBinding", "Secret"]:
        return f"seed printed {kinds}"
    if any(d["metadata"].get("namespace") != target_ns or "uid" in d["metadata"] for d in docs):
        return "seed output not moved to the Run:ai namespace"
    return None
