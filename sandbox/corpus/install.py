"""Install a corpus case as a real helm release, and read it back as users do.

The archives are installed unchanged but for two things the local 1.35 control plane needs, both
said here: the `clearml-agent` charts cap `kubeVersion` below 1.35 (4.x: < 1.28, 5.3.2: < 1.33), so they
are installed from an unpacked copy whose Chart.yaml drops the cap; and `--no-hooks`, because the
`clearml` chart's database subcharts (disabled in A_BASE) carry hooks of their own.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tarfile
from pathlib import Path
from typing import Any, Protocol

# the README's dump command (what a user runs to render offline)
from clearml_runai_gen.source import DUMP_KINDS

from .cases import Case, merge


class Runner(Protocol):
    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> Any: ...

    def helm(self, version: str, *args: str, check: bool = True) -> Any: ...


def unpack(case: Case, workdir: Path) -> Path:
    """The chart of `case`, unpacked under `workdir`, with its kubeVersion cap lifted."""
    target = workdir / f"{case.chart}-{case.version}"
    if not target.exists():
        with tarfile.open(case.archive) as tar:
            tar.extractall(target, filter="data")
    chart = target / case.chart
    meta = chart / "Chart.yaml"
    text = meta.read_text()
    lifted = re.sub(r"(?m)^kubeVersion:.*\n", "", text)
    if lifted != text:
        meta.write_text(lifted)
    return chart


def install(kube: Runner, case: Case, namespace: str, workdir: Path, overrides: dict[str, Any] | None = None) -> None:
    """Create `namespace`, what the user keeps in it, and the case's release, with helm v4 (values of the
    case, then `overrides`)."""
    workdir.mkdir(parents=True, exist_ok=True)
    kube.kubectl("create", "namespace", namespace)
    objects = case.objects(namespace)
    if objects:
        kube.kubectl(
            "apply",
            "-n",
            namespace,
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
        )
    values = workdir / f"{case.id}.upstream-values.json"
    values.write_text(json.dumps(merge(case.values(namespace), overrides or {})))
    kube.helm(
        "v4",
        "install",
        case.release,
        str(unpack(case, workdir)),
        "-n",
        namespace,
        "-f",
        str(values),
        "--no-hooks",
        "--wait=false",
    )


def upgrade(
    kube: Runner, case: Case, namespace: str, release: str, workdir: Path, overrides: dict[str, Any] | None = None
) -> None:
    """`helm upgrade` of `release` in `namespace` to the chart and values of `case` (then `overrides`), as
    `install` installs: helm v4, the kubeVersion cap lifted, `--no-hooks`. An upgrade of the ClearML chart
    to another version, or the same one with other values."""
    case = dataclasses.replace(case, release=release)  # the names in its values are the installed release's
    values = workdir / f"{case.id}.upgrade-values.json"
    values.write_text(json.dumps(merge(case.values(namespace), overrides or {})))
    chart = str(unpack(case, workdir))
    kube.helm("v4", "upgrade", release, chart, "-n", namespace, "-f", str(values), "--no-hooks", "--wait=false")


def dump(kube: Runner, namespace: str, output: str = "yaml") -> str:
    """What the README's dump command prints for the ClearML namespace."""
    return str(kube.kubectl("get", DUMP_KINDS, "-n", namespace, "-o", output).stdout)
