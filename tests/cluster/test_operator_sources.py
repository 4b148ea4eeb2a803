"""The operator following its ClearML installs, with a resync of 300 s: whatever an agent follows within
seconds here, it follows through a watch, never through the resync.

* Scenario 3, a real upgrade: the operator's own install, made with the upstream clearml-agent chart 5.0.0,
  `helm upgrade`d to chart 5.3.2 with a new agent image tag and another task pod label -> every agent
  reading it re-renders and stays Ready; an agent reading another install gets no write.
* An install apart (`spec.clearmlNamespace` names another namespace): rotating its key pair rolls its
  agent within seconds, as in the own namespace; once no ClearMLAgent reads it, its watch stops.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Kube, install_clearml, unique, upgrade_clearml
from .operators import (
    CREATED_NAMESPACES,
    Operator,
    agent_objects,
    checksum_of,
    project_namespace,
    rolled_with,
    rotate_source_keys,
    running_operator,
    versions,
    wait_for,
)

RESYNC = 300  # seconds: longer than any test here, so no resync moves anything
OWN_KEYS = ("AKSOURCES1", "SK-sources-1")
OTHER_KEYS = ("AKOTHER1", "SK-other-1")
ROLL_SECONDS = 20  # a watch, not the resync: an agent follows its install within this


@pytest.fixture(scope="module")
def own(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """The operator's own ClearML install, at clearml-agent chart 5.0.0 (upgraded by a test): ns, release, workdir."""
    workdir = tmp_path_factory.mktemp("clearml")
    ns, release = install_clearml(kube, workdir, "b-5.0.0-gpu-template", access_key=OWN_KEYS[0], secret_key=OWN_KEYS[1])
    return ns, release, workdir


@pytest.fixture(scope="module")
def other(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A second ClearML install, in a namespace the operator is not given: only specs name it."""
    ns, _ = install_clearml(
        kube,
        tmp_path_factory.mktemp("other"),
        "b-5.3.2-internal-multiqueue",
        access_key=OTHER_KEYS[0],
        secret_key=OTHER_KEYS[1],
    )
    CREATED_NAMESPACES.append(ns)
    return ns


@pytest.fixture(scope="module")
def operator(
    kube: Kube, own: tuple[str, str, Path], other: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    # rendering by `helm template` per agent, as a pip install without the renderer has it (test_operator.py runs
    # the renderer the image has)
    with running_operator(kube, own[0], tmp_path_factory.mktemp("operator"), RESYNC, rendering="helm") as op:
        yield op


def agent_reading(kube: Kube, operator: Operator, clearml_ns: str | None = None) -> tuple[str, str]:
    """A project namespace whose ClearMLAgent reads `clearml_ns` (else the operator's own), Ready on that spec."""
    project = unique("p")
    ns = project_namespace(kube, project)
    wait_for("the ClearMLAgent of the namespace", lambda: operator.agent(ns, project))
    if clearml_ns:
        patch = json.dumps({"spec": {"clearmlNamespace": clearml_ns}})
        kube.kubectl("patch", "clearmlagent", project, "-n", ns, "--type=merge", "-p", patch)
    wait_for(
        f"{project} Ready on its spec",
        lambda: (r := operator.ready(ns, project)).get("status") == "True" and r["observed"] == r["generation"],
        timeout=90,
    )
    return ns, project


def turn_off(kube: Kube, operator: Operator, ns: str, project: str) -> None:
    kube.kubectl("annotate", "namespace", ns, "clearml-runai.io/agent=off")
    wait_for(f"the ClearMLAgent of {project} turned off", lambda: operator.agent(ns, project) is None)


def rendered(kube: Kube, ns: str, project: str) -> dict[str, Any]:
    """What an upgrade may change in an agent: its image and env, and its task pods' template."""
    objects = agent_objects(kube, ns, project)
    container = objects[f"deployment/clearml-runai-{project}"]["spec"]["template"]["spec"]["containers"][0]
    template = "".join(
        v for k, o in objects.items() if k.startswith("configmap/") for v in (o.get("data") or {}).values()
    )
    return {"image": container["image"], "env": {e["name"] for e in container.get("env") or []}, "template": template}


def test_upstream_chart_upgrade_re_renders_every_agent_reading_the_install(
    kube: Kube, operator: Operator, own: tuple[str, str, Path], other: str
) -> None:
    """Scenario 3: helm upgrade of the ClearML install from chart 5.0.0 to 5.3.2 (which no longer sets two
    env vars of the agent), with a new agent image tag and a changed task pod label -> each agent reading it
    re-renders (Deployment and template ConfigMap) and is Ready on it; the agent reading another install
    is not written to."""
    readers = [agent_reading(kube, operator), agent_reading(kube, operator)]
    bystander = agent_reading(kube, operator, other)
    before = {p: rendered(kube, ns, p) for ns, p in readers}
    assert all(b["image"].endswith(":1.24-21") and "team: vision\n" in b["template"] for b in before.values())
    assert all("CLEARML_K8S_GLUE_KIND" in b["env"] for b in before.values())  # what chart 5.0.0 sets
    untouched = versions(agent_objects(kube, *bystander)), operator.agent(*bystander)["metadata"]["resourceVersion"]

    try:
        ns, release, workdir = own
        upgrade_clearml(
            kube,
            workdir,
            ns,
            release,
            "b-5.3.2-gpu-template",
            access_key=OWN_KEYS[0],
            secret_key=OWN_KEYS[1],
            values={"agentk8sglue": {"image": {"tag": "1.24-23"}, "basePodTemplate": {"labels": {"team": "vision-2"}}}},
        )
        started = time.monotonic()
        for ns_p, p in readers:

            def upgraded(ns_p: str = ns_p, p: str = p) -> bool:
                now = rendered(kube, ns_p, p)
                return (
                    now["image"] == before[p]["image"].replace(":1.24-21", ":1.24-23")
                    and "CLEARML_K8S_GLUE_KIND" not in now["env"]
                    and "team: vision-2" in now["template"]
                )

            wait_for(f"agent {p} re-rendered from chart 5.3.2", upgraded, timeout=ROLL_SECONDS)
            ready = wait_for(
                f"agent {p} Ready on the upgrade",
                lambda ns_p=ns_p, p=p: (
                    (r := operator.ready(ns_p, p)).get("status") == "True"
                    and "chart 5.3.2" in json.dumps(operator.agent(ns_p, p)["status"])
                    and r
                ),
                timeout=60,
            )
            assert ready["reason"] == "Applied" and ready["observed"] == ready["generation"]
            assert operator.agent(ns_p, p)["status"]["agentImage"].endswith(":1.24-23")
        print(f"every agent re-rendered and Ready {time.monotonic() - started:.1f} s after helm upgrade")
        after = versions(agent_objects(kube, *bystander)), operator.agent(*bystander)["metadata"]["resourceVersion"]
        assert after == untouched, "the agent reading another install was written to"
    finally:
        turn_off(kube, operator, *bystander)  # the next test needs the other install read by its agent alone


def test_rotation_in_another_clearml_namespace_rolls_its_agent_within_seconds(
    kube: Kube, operator: Operator, other: str
) -> None:
    """A spec naming another ClearML install: the operator watches that namespace too, so rotating the key
    pair there rolls the agent within seconds (the resync is 300 s); when no ClearMLAgent reads the
    namespace any more, its watch stops."""
    ns, project = agent_reading(kube, operator, other)
    before = checksum_of(kube, ns, project)
    rotated = ("AKOTHER2", "SK-other-2")
    rotate_source_keys(kube, other, rotated)
    started = time.monotonic()
    wait_for(
        "the agent rolled with the other install's new key pair",
        lambda: rolled_with(kube, ns, project, before, rotated),
        timeout=ROLL_SECONDS,
    )
    print(f"rolled {time.monotonic() - started:.1f} s after the rotation in {other}")
    assert f"watching ClearML namespace {other}" in operator.log.read_text()

    turn_off(kube, operator, ns, project)
    wait_for(
        "the watch of the namespace no ClearMLAgent reads stopped",
        lambda: f"ClearML namespace {other}: no ClearMLAgent reads it any more" in operator.log.read_text(),
        timeout=10,
    )
