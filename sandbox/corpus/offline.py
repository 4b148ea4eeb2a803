"""A corpus case rendered by `helm template`, without a cluster: what the upstream chart writes, as a dump.

For tests of one behaviour each, in seconds. It is the chart's own output, not what an API server serves
back (no defaults, no status): the cluster tests read real installs for that.
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ..paths import tool
from .cases import Case, find
from .install import unpack

NAMESPACE = "clearml"


@functools.cache
def _workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="corpus-"))


def case(case_id: str) -> Case:
    return find(case_id)


@functools.cache
def objects(case_id: str, namespace: str = NAMESPACE) -> tuple[dict[str, Any], ...]:
    """The objects the case's upstream release creates in `namespace`, and those the user keeps beside it."""
    c = case(case_id)
    values = _workdir() / f"{c.id}.json"
    values.write_text(json.dumps(c.values(namespace)))
    proc = subprocess.run(
        [tool("helm"), "template", c.release, str(unpack(c, _workdir())), "-n", namespace, "-f", str(values)],
        capture_output=True,
        text=True,
        check=True,
    )
    out = []
    for doc in YAML(typ="safe").load_all(proc.stdout):
        if doc:
            doc.setdefault("metadata", {})["namespace"] = namespace
            out.append(doc)
    for obj in c.objects(namespace):
        out.append({**obj, "metadata": {**obj["metadata"], "namespace": namespace}})
    return tuple(out)


def dump(case_id: str, namespace: str = NAMESPACE, edit: Any = None) -> str:
    """The case's objects as a JSON List, as `kubectl get -o json` prints one (after `edit(objects)`)."""
    items = json.loads(json.dumps(objects(case_id, namespace)))
    if edit is not None:
        edit(items)
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
