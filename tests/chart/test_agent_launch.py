"""The chart's agent Deployment, started as the k8s glue image starts it: flags the glue accepts.

The rendered Deployment, ConfigMap and Secret go through the image's entrypoint as the agent harness
reproduces it (sandbox/agent_harness/entrypoint.py), and the command line it builds through the glue's
own argument parser (the flags of clearml-agent's k8s_glue_example.py). A values file that renders
fine but whose agent would exit at start with a usage error fails here.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from sandbox.agent_harness import HostSide, plan_launch
from sandbox.agent_harness.entrypoint import STOCK_ENTRYPOINT, AgentHarnessError
from sandbox.agent_harness.k8s_glue import parse_args

from .conftest import NAMESPACE, Helm, Rendered, ci_namespace, ci_values_files, values

pytestmark = pytest.mark.chart


def launch_args(rendered: Rendered, tmp_path: Path) -> list[str]:
    host = HostSide(tmp_path / "root", tmp_path / "tmp", tmp_path / "bin", tmp_path / "kc", "python", tmp_path / "g")
    configmaps = {c["metadata"]["name"]: c for c in rendered.all("ConfigMap")}
    secrets = {s["metadata"]["name"]: s for s in rendered.all("Secret")}
    # clearml.existingSecret: the Secret the user made, with the keys the Deployment names
    refs = [
        e["valueFrom"]["secretKeyRef"]
        for e in rendered.agent_container["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    refs += [
        {"name": v["secret"]["secretName"], "key": item["key"]}
        for v in rendered.pod_spec.get("volumes", [])
        if "secret" in v
        for item in v["secret"].get("items", [])
    ]
    for ref in refs:
        if ref["name"] not in {s["metadata"]["name"] for s in rendered.all("Secret")}:
            secrets.setdefault(ref["name"], {"data": {}})["data"][ref["key"]] = base64.b64encode(b"x").decode()
    launch = plan_launch(rendered.deployment, configmaps, secrets, host, "http://127.0.0.1:1")
    assert (
        launch.files[host.home / "template" / "template.yaml"] == rendered.template_configmap["data"]["template.yaml"]
    )
    return launch.argv[2:]


@pytest.mark.parametrize("path", ci_values_files(), ids=lambda p: p.name)
def test_every_ci_values_file_starts_an_agent_whose_flags_the_glue_accepts(
    helm: Helm, path: Path, tmp_path: Path
) -> None:
    rendered = helm.template(files=[path], namespace=ci_namespace(path))
    if STOCK_ENTRYPOINT not in " ".join(rendered.agent_container["command"]):
        # an image of its own, with an entrypoint of its own: the harness says it cannot stand in for it
        with pytest.raises(AgentHarnessError, match="only the k8s glue image's"):
            launch_args(rendered, tmp_path)
        return
    args = parse_args(launch_args(rendered, tmp_path))
    assert args.namespace == rendered.deployment["metadata"]["namespace"]
    assert args.queue == rendered.agent_env_value("K8S_GLUE_QUEUE")


def test_max_pods_reaches_the_glue_and_zero_means_no_limit(helm: Helm, tmp_path: Path) -> None:
    assert parse_args(launch_args(helm.template(values(agent={"maxPods": 3})), tmp_path)).max_pods == 3
    assert parse_args(launch_args(helm.template(values(agent={"maxPods": 0})), tmp_path)).max_pods is None
    assert parse_args(launch_args(helm.template(values()), tmp_path)).namespace == NAMESPACE


def test_ports_mode_with_a_pod_limit_is_refused_as_the_glue_would_refuse_it(helm: Helm, tmp_path: Path) -> None:
    """The glue takes --ports-mode or --max-pods, never both (it exits with a usage error at start)."""
    rendered = helm.template(values(agent={"extraArgs": ["--ports-mode"], "maxPods": 0}))
    assert parse_args(launch_args(rendered, tmp_path)).ports_mode is True
    error = helm.template_error(values(agent={"extraArgs": ["--ports-mode"], "maxPods": 10}))
    assert "--ports-mode" in error and "agent.maxPods: 0" in error
