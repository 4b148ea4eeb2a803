"""NOTES.txt tells what was installed and the next steps (rendered by a client-side dry run of helm v4)."""

from __future__ import annotations

import pytest

from .conftest import CI_DIR, Helm

pytestmark = pytest.mark.chart


def notes(helm4: Helm, *args: str) -> str:
    proc = helm4.run("install", "agent", "charts/clearml-runai-agent", "--dry-run=client", *args)
    assert "NOTES:" in proc.stdout
    return proc.stdout.split("NOTES:", 1)[1]


def test_notes_name_the_queues_and_how_to_check_the_agent(helm4: Helm) -> None:
    text = notes(helm4, "-n", "runai-nlp", "-f", str(CI_DIR / "multi-queue-values.yaml"))
    assert "nlp-urgent, nlp-default, nlp-batch" in text
    assert "kubectl -n runai-nlp get deploy/agent" in text
    assert "kubectl -n runai-nlp logs deploy/agent" in text
    assert "--queue nlp-urgent" in text
    assert "WARNING" not in text


def test_notes_warn_when_the_namespace_is_not_the_projects(helm4: Helm) -> None:
    text = notes(helm4, "-n", "default", "-f", str(CI_DIR / "handwritten-values.yaml"))
    assert "WARNING" in text and "--namespace runai-team-a" in text


def test_notes_tell_to_restart_after_changing_an_existing_secret(helm4: Helm) -> None:
    text = notes(helm4, "-n", "runai-team-a", "-f", str(CI_DIR / "existing-secret-values.yaml"))
    assert "rollout restart deploy/agent" in text
