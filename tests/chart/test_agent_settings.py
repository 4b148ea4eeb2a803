"""Agent settings users ask for, checked against the pinned clearml-agent's own code: how long finished task
pods stay (K8S_GLUE_COMPLETED_POD_DELETION_DELAY_MINUTES) and queues created when missing (--create-queue)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from sandbox.agent_harness import agent_python
from sandbox.agent_harness.k8s_glue import parse_args
from sandbox.corpus import offline
from tests.conftest import gen

from .conftest import Helm, values
from .test_agent_launch import launch_args

pytestmark = pytest.mark.chart

DELAY = "K8S_GLUE_COMPLETED_POD_DELETION_DELAY_MINUTES"


def pinned_agent_delay(env: dict[str, str]) -> float:
    """The retention the pinned agent's glue reads from this env, through its own definition."""
    code = "from clearml_agent.glue.definitions import ENV_COMPLETED_POD_DELETION_DELAY_MINUTES as E; print(E.get())"
    proc = subprocess.run(
        [agent_python(), "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=True
    )
    return float(proc.stdout.strip())


@pytest.mark.parametrize("minutes", [30, 1440])
def test_finished_pods_stay_as_long_as_the_pinned_agent_reads_it(helm: Helm, minutes: int) -> None:
    rendered = helm.template(values(agent={"finishedPodRetentionMinutes": minutes}))
    env = {DELAY: rendered.agent_env_value(DELAY)}
    assert pinned_agent_delay(env) == minutes


def test_without_retention_the_agent_deletes_finished_pods_at_once(helm: Helm) -> None:
    assert DELAY not in helm.template(values()).agent_env
    assert pinned_agent_delay({}) == 0


def test_create_queue_reaches_the_glue_once(helm: Helm, tmp_path: Path) -> None:
    assert parse_args(launch_args(helm.template(values()), tmp_path / "off")).create_queue is False
    on = helm.template(values(agent={"createQueue": True}))
    assert parse_args(launch_args(on, tmp_path / "on")).create_queue is True
    both = helm.template(values(agent={"createQueue": True, "extraArgs": ["--create-queue"]}))
    assert both.agent_env_value("K8S_GLUE_EXTRA_ARGS").split().count("--create-queue") == 1


def test_render_creates_queues_by_default_and_keeps_finished_pods_when_asked() -> None:
    dump = offline.dump("b-5.3.2-gpu-template")
    code, out, err = gen(["render", "--project", "team-a", "--from-file", "-", "--keep-finished-pods", "90"], dump)
    assert code == 0, err
    agent = YAML(typ="safe").load(out)["agent"]
    assert agent["createQueue"] is True and agent["finishedPodRetentionMinutes"] == 90
    code, out, err = gen(["render", "--project", "team-a", "--from-file", "-", "--no-create-queue"], dump)
    assert code == 0, err
    agent = YAML(typ="safe").load(out)["agent"]
    assert agent["createQueue"] is False and "--create-queue" not in (agent.get("extraArgs") or [])
    code, out, err = gen(["render", "--project", "team-a", "--from-file", "-", "--keep-finished-pods", "-1"], dump)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--keep-finished-pods" in err


def test_no_create_queue_drops_the_source_agents_own_create_queue() -> None:
    dump = offline.dump("b-5.3.2-internal-multiqueue")
    code, out, err = gen(["render", "--project", "team-a", "--from-file", "-"], dump)
    assert code == 0, err
    assert "--create-queue" in YAML(typ="safe").load(out)["agent"]["extraArgs"]
    code, out, err = gen(["render", "--project", "team-a", "--from-file", "-", "--no-create-queue"], dump)
    assert code == 0, err
    assert "--create-queue" not in (YAML(typ="safe").load(out)["agent"].get("extraArgs") or [])
    assert "--no-create-queue drops it" in err
