"""Pod or Job per task: a preemptible priority gets Jobs, so that a preempted task goes back to its queue
(clearml-agent 3.0.3 re-enqueues a task whose Job pod is pending again; a deleted bare pod leaves its task
in progress). tests/cluster/test_preemption.py measures both on KAI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clearml_runai_gen.detect import read_install
from clearml_runai_gen.models import ProjectOptions
from clearml_runai_gen.plan import make_plan
from clearml_runai_gen.source import FileSource

from sandbox.fixtures.installs import as_served, dump, flavour_b
from tests.unit.test_cli import run


def plan(**opts: Any) -> Any:
    install = read_install(FileSource(dump(flavour_b()), "dump"))
    return make_plan(install, ProjectOptions.build("team-a", **opts))


def glue_kind(values: dict[str, Any]) -> list[str]:
    return [e["value"] for e in values["agent"]["extraEnv"] if e.get("name") == "CLEARML_K8S_GLUE_KIND"]


@pytest.mark.parametrize("priority", ["train", "build-preemptible", "interactive-preemptible"])
def test_a_preemptible_priority_gets_a_job_per_task_with_a_note(priority: str) -> None:
    p = plan(priority_class=priority)
    assert glue_kind(p.values) == ["job"] and p.values["rbac"]["jobs"] is True
    assert any(f"priority {priority} is preemptible" in n and "--task-kind pod" in n for n in p.notes), p.notes


@pytest.mark.parametrize("priority", [None, "build", "inference"])
def test_other_priorities_keep_the_source_agents_pods(priority: str | None) -> None:
    p = plan(priority_class=priority)
    assert glue_kind(p.values) == [] and p.values["rbac"]["jobs"] is False
    assert not any("preemptible" in n for n in p.notes)


def test_task_kind_pod_turns_the_choice_off_and_job_forces_it() -> None:
    p = plan(priority_class="train", task_kind="pod")
    assert glue_kind(p.values) == [] and p.values["rbac"]["jobs"] is False
    p = plan(priority_class="build", task_kind="job")
    assert glue_kind(p.values) == ["job"] and p.values["rbac"]["jobs"] is True


@pytest.mark.parametrize("extra", [[], ["--task-kind", "pod"]])
def test_render_then_diff_is_no_drift_whichever_kind_was_chosen(tmp_path: Path, extra: list[str]) -> None:
    src = tmp_path / "b.yaml"
    src.write_text(dump(as_served(flavour_b(release="gpu", namespace="agents"), "agents", "gpu")))
    values = tmp_path / "values.yaml"
    code, _, err = run(["render", "--project", "p", "--priority-class", "train", *extra, "--from-file", str(src),
                        "-o", str(values)])  # fmt: skip
    assert code == 0 and ("is preemptible" in err) == (not extra), err
    code, stdout, _ = run(["diff", "--values", str(values), "--from-file", str(src)])
    assert code == 0 and "no drift" in stdout, stdout
