"""The generator-written ci/ values files: `clearml-runai-gen render` output for upstream installs.

Each file is what the real CLI prints for a ClearML install made by a real upstream chart (a case of
sandbox/corpus, rendered by `helm template`, with the corpus' fake credentials), under a header naming the
source. test_generated_values fails while a file is stale; rewrite them with

    .venv/bin/python -m tests.chart.ci_values
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.corpus import offline
from tests.conftest import ProjectNames, cli

CHART_CI_DIR = Path(__file__).resolve().parents[2] / "charts" / "clearml-runai-agent" / "ci"


@dataclass(frozen=True)
class InstallCase(ProjectNames):
    """An upstream install of the corpus, and how the generator renders it for one project."""

    case_id: str
    clearml_namespace: str
    project: str
    options: tuple[str, ...] = field(default=())


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
        about="the k8sagent of the clearml chart 3.10.5 with a GPU\n"
        "# pod template, in namespace clearml; rendered with the default options.",
        case_id="a-3.10.5-gpu-volumes-env",
        clearml_namespace="clearml",
        project="team-a",
    ),
    Generated(
        name="generated-flavour-b-values.yaml",
        about="the clearml-agent chart 5.3.2 with a rich base pod\n"
        "# template, in namespace clearml; rendered for KAI queues, half a GPU per task.",
        case_id="b-5.3.2-gpu-template",
        clearml_namespace="clearml",
        project="vision",
        options=("--queue", "vision-a100,vision-default", "--scheduler", "kai", "--gpu-fraction", "0.5"),
    ),
)


def render_install(case: InstallCase) -> str:
    """What `clearml-runai-gen render --from-file` prints for the case's upstream install."""
    with tempfile.TemporaryDirectory(prefix="clearml-runai-ci-") as tmp:
        source = Path(tmp) / "clearml.json"
        source.write_text(offline.dump(case.case_id, case.clearml_namespace))
        proc = subprocess.run(
            [cli(), "render", "--project", case.project, "--from-file", str(source), *case.options],
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
        "# The install comes from sandbox/corpus (fake credentials); to regenerate this file, run\n"
        "# .venv/bin/python -m tests.chart.ci_values\n"
    )
    return header + render_install(generated)


def main() -> int:
    for generated in GENERATED:
        generated.path.write_text(expected_text(generated))
        print(f"wrote {generated.path.relative_to(CHART_CI_DIR.parents[2])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
