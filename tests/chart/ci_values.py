"""The generator-written ci/ values files: `clearml-runai-gen render` output for fixture installs.

Each file is what the real CLI prints for a ClearML install built by tests/fixtures (fake
credentials included), under a header naming the source. test_generated_values fails while a file
is stale; rewrite them with

    .venv/bin/python -m tests.chart.ci_values
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fixtures.installs import as_served, dump, flavour_a, flavour_b

CHART_CI_DIR = Path(__file__).resolve().parents[2] / "charts" / "clearml-runai-agent" / "ci"

# A clearml-agent chart base pod template with most of what users put there.
RICH_BASE_POD_TEMPLATE: dict[str, Any] = {
    "labels": {"team": "vision"},
    "annotations": {"owner": "ml-platform"},
    "resources": {
        "requests": {"cpu": "4", "memory": "16Gi"},
        "limits": {"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": 1},
    },
    "env": [
        {"name": "HF_HOME", "value": "/data/hf"},
        {"name": "CLEARML_AGENT_SKIP_PIP_VENV_INSTALL", "value": "1"},
    ],
    "volumes": [
        {"name": "datasets", "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}},
    ],
    "volumeMounts": [
        {"name": "datasets", "mountPath": "/data", "readOnly": True},
        {"name": "dshm", "mountPath": "/dev/shm"},
    ],
    "nodeSelector": {"nvidia.com/gpu.present": "true"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "preference": {
                        "matchExpressions": [
                            {"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-A100-SXM4-80GB"]}
                        ]
                    },
                }
            ]
        }
    },
    "priorityClassName": "ml-batch",
    "podSecurityContext": {"fsGroup": 10001},
    "containerSecurityContext": {"allowPrivilegeEscalation": False},
}


@dataclass(frozen=True)
class InstallCase:
    """A ClearML install made by tests/fixtures, and how the generator renders it for one project."""

    install: Callable[[], list[dict[str, Any]]]
    clearml_namespace: str
    source_release: str
    project: str
    options: tuple[str, ...] = field(default=())

    @property
    def namespace(self) -> str:
        return f"runai-{self.project}"

    @property
    def release(self) -> str:
        return f"clearml-runai-{self.project}"


@dataclass(frozen=True, kw_only=True)
class Generated(InstallCase):
    """One generator-written ci/ values file: the install it was rendered from, and how."""

    name: str
    about: str

    @property
    def path(self) -> Path:
        return CHART_CI_DIR / self.name


GENERATED = (
    Generated(
        name="generated-flavour-a-values.yaml",
        about="a flavour A install: the k8sagent of the clearml chart 3.10.5,\n"
        "# release clearml in namespace clearml; rendered with the default options.",
        install=lambda: flavour_a("clearml", "clearml", "3.10.5"),
        clearml_namespace="clearml",
        source_release="clearml",
        project="team-a",
    ),
    Generated(
        name="generated-flavour-b-values.yaml",
        about="a flavour B install: the clearml-agent chart 5.3.0 with a rich base pod\n"
        "# template, release agent in namespace clearml; rendered for KAI queues, half a GPU per task.",
        install=lambda: flavour_b("agent", "clearml", "5.3.0", base_pod_template=RICH_BASE_POD_TEMPLATE),
        clearml_namespace="clearml",
        source_release="agent",
        project="vision",
        options=("--queue", "vision-a100,vision-default", "--scheduler", "kai", "--gpu-fraction", "0.5"),
    ),
)


def cli() -> str:
    """The generator's console script, beside the interpreter running the tests."""
    script = Path(sys.executable).parent / "clearml-runai-gen"
    if not script.exists():
        raise RuntimeError(f"{script} is missing: install the project (make venv)")
    return str(script)


def render_install(
    objects: list[dict[str, Any]], clearml_namespace: str, source_release: str, project: str, *options: str
) -> str:
    """What `clearml-runai-gen render --from-file` prints for `objects` as a live server serves them."""
    with tempfile.TemporaryDirectory(prefix="clearml-runai-ci-") as tmp:
        source = Path(tmp) / "clearml.yaml"
        source.write_text(dump(as_served(objects, clearml_namespace, source_release)))
        proc = subprocess.run(
            [cli(), "render", "--project", project, "--from-file", str(source), *options],
            capture_output=True,
            text=True,
            timeout=60,
        )
    if proc.returncode != 0:
        raise AssertionError(f"clearml-runai-gen render failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def expected_text(generated: Generated) -> str:
    header = (
        f"# clearml-runai-gen render output for {generated.about}\n"
        "# The install comes from tests/fixtures (fake credentials); to regenerate this file, run\n"
        "# .venv/bin/python -m tests.chart.ci_values\n"
    )
    body = render_install(
        generated.install(),
        generated.clearml_namespace,
        generated.source_release,
        generated.project,
        *generated.options,
    )
    return header + body


def main() -> int:
    for generated in GENERATED:
        generated.path.write_text(expected_text(generated))
        print(f"wrote {generated.path.relative_to(CHART_CI_DIR.parents[2])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
