"""The operator following its ClearML installs, with a resync of 300 s: whatever an agent follows within
seconds here, it follows through a watch, never through the resync.

* An install apart (`spec.clearmlNamespace` names another namespace): rotating its key pair rolls its
  agent within seconds, as in the own namespace; once no ClearMLAgent reads it, its watch stops.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import Kube, decode, install_clearml, unique
from .operators import (
    CREATED_NAMESPACES,
    KEY_ENV,
    Operator,
    project_namespace,
    running_operator,
    source_key_refs,
    wait_for,
)

RESYNC = 300  # seconds: longer than any test here, so no resync moves anything
OWN_KEYS = ("AKSOURCES1", "SK-sources-1")
OTHER_KEYS = ("AKOTHER1", "SK-other-1")
ROLL_SECONDS = 20  # a watch, not the resync: an agent follows its install within this


@pytest.fixture(scope="module")
def own(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    """The operator's own ClearML install, made with clearml-agent chart 5.0.0: ns, release, workdir."""
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
    with running_operator(kube, own[0], tmp_path_factory.mktemp("operator"), RESYNC) as op:
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


def test_rotation_in_another_clearml_namespace_rolls_its_agent_within_seconds(
    kube: Kube, operator: Operator, other: str
) -> None:
    """A spec naming another ClearML install: the operator watches that namespace too, so rotating the key
    pair there rolls the agent within seconds (the resync is 300 s); when no ClearMLAgent reads the
    namespace any more, its watch stops."""
    ns, project = agent_reading(kube, operator, other)

    def checksum() -> str:
        deploy = kube.get("deployment", ns, f"clearml-runai-{project}")
        return str(deploy["spec"]["template"]["metadata"]["annotations"]["checksum/secret"])

    before = checksum()
    refs = source_key_refs(kube, other)
    rotated = ("AKOTHER2", "SK-other-2")
    for env, value in zip(KEY_ENV, rotated, strict=True):
        patch = json.dumps({"stringData": {refs[env]["key"]: value}})
        kube.kubectl("patch", "secret", refs[env]["name"], "-n", other, "--type=merge", "-p", patch)
    started = time.monotonic()
    wait_for("the agent rolled with the other install's new key", lambda: checksum() != before, timeout=ROLL_SECONDS)
    print(f"rolled {time.monotonic() - started:.1f} s after the rotation in {other}")
    secret = kube.get("secret", ns, f"clearml-runai-{project}")
    assert set(rotated) <= {decode(secret, k) for k in secret["data"]}
    assert f"watching ClearML namespace {other}" in operator.log.read_text()

    turn_off(kube, operator, ns, project)
    wait_for(
        "the watch of the namespace no ClearMLAgent reads stopped",
        lambda: f"ClearML namespace {other}: no ClearMLAgent reads it any more" in operator.log.read_text(),
        timeout=10,
    )
