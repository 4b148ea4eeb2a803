"""Queue profiles across projects and in NOTES.txt: one file serves several projects, each its own queues."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from sandbox.corpus import offline
from tests.conftest import gen

from .conftest import Helm
from .test_notes import notes
from .test_queue_profiles import PROFILES_FILE, profile_values

pytestmark = pytest.mark.chart


def test_one_profiles_file_serves_several_projects_each_with_its_own_queues(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(PROFILES_FILE)
    out = tmp_path / "out"
    args = ["render", "--project", "team-a", "--project", "team-b", "--from-file", "-", "--output-dir", str(out)]
    code, _, err = gen([*args, "--queue-profiles", str(profiles)], offline.dump("b-5.3.2-gpu-template"))
    assert code == 0, err
    for project in ("team-a", "team-b"):
        values = YAML(typ="safe").load((out / f"{project}.values.yaml").read_text())
        queues = sorted(p["queue"] for p in values["queueProfiles"])
        assert queues == [f"{project}-build", f"{project}-nb", f"{project}-train"]


def test_notes_name_each_profiles_agent_queue_and_worker(helm4: Helm) -> None:
    path = helm4.values_file(profile_values())
    text = notes(helm4, "-n", "runai-team-a", "-f", str(path))
    assert "deploy/agent-train: queue team-a-train, worker agent-train" in text
    assert "deploy/agent-notebooks: queue team-a-nb, worker nb-agent" in text
    assert "none; its queue profiles serve theirs" in text
