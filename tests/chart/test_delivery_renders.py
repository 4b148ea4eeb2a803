"""What helm makes of the Secret mode and of the values inside Argo CD and Flux objects (real helm v4 and v3).

- The values inside an Application or a HelmRelease render exactly the manifests of `render`'s values file.
- With the Secret mode the agent and its task pods resolve the same env as with inline credentials.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from clearml_runai_gen.cli import main

from sandbox.fixtures.installs import as_served, dump, flavour_a, flavour_b
from sandbox.names import names

from .conftest import CHART_DIR, Helm, Rendered, load_all, load_one

pytestmark = pytest.mark.chart

# option sets of `render`, from the plain default to most options at once
OPTIONS = {
    "defaults": [],
    "kai-gpu-pool": ["--scheduler", "kai", "--gpu-fraction", "0.25", "--node-pool", "a100", "--queue", "q1,q2"],
    "own-namespace": ["--namespace", "ml-vision", "--worker-id", "vision-01", "--priority-class", "train"],
}


@pytest.fixture(params=["a-3.5.1", "b-5.3.0"])
def dump_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    flavour, version = request.param.split("-")
    if flavour == "a":
        objs = as_served(flavour_a(version=version, access_key="AKx1", secret_key="SKx1-zz"), "clearml", "clearml")
    else:
        objs = as_served(flavour_b(access_key="AKx2", secret_key="SKx2-zz", conf="sdk {\n  on: yes\n}"), "ml", "agent")
    path = tmp_path / "clearml.yaml"
    path.write_text(dump(objs))
    return path


def render(dump_path: Path, out: Path, *args: str) -> None:
    code = main(["render", "--from-file", str(dump_path), "-o", str(out), *args])
    assert code == 0, f"render {' '.join(args)} failed"


def namespace_of(values: dict[str, Any]) -> str:
    return str(values["runai"]["namespace"])


def template(helm: Helm, values: dict[str, Any], release: str) -> Rendered:
    return helm.template(values, release=release, namespace=namespace_of(values))


def resolved_env(env: list[dict[str, Any]], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """Env as the kubelet resolves it: plain values, and secretKeyRef through the Secret it names."""
    out = {}
    for var in env:
        if "value" in var:
            out[var["name"]] = str(var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            out[var["name"]] = secrets[ref["name"]][ref["key"]]
    return out


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    return {**data, **(secret.get("stringData") or {})}


def agent_and_task_env(rendered: Rendered, secrets: dict[str, dict[str, str]]) -> tuple[dict[str, str], ...]:
    task = rendered.task_template
    spec = task["spec"]["template"]["spec"] if task["kind"] == "Job" else task["spec"]
    return resolved_env(rendered.agent_container["env"], secrets), resolved_env(spec["containers"][0]["env"], secrets)


@pytest.mark.parametrize("options", list(OPTIONS))
def test_gitops_values_render_exactly_what_render_renders(
    helm: Helm, dump_path: Path, tmp_path: Path, options: str
) -> None:
    project = f"{options}-7"
    args = ["--project", project, *OPTIONS[options], "--credentials-out", str(tmp_path / "secret.yaml")]
    render(dump_path, tmp_path / "values.yaml", *args)
    render(dump_path, tmp_path / "argocd.yaml", *args, "--format", "argocd")
    render(dump_path, tmp_path / "flux.yaml", *args, "--format", "flux")
    values = load_one((tmp_path / "values.yaml").read_text())
    (app,) = load_all((tmp_path / "argocd.yaml").read_text())
    source, release = load_all((tmp_path / "flux.yaml").read_text())
    name = names(project).release
    assert app["spec"]["source"]["helm"]["releaseName"] == release["spec"]["releaseName"] == name
    assert app["spec"]["destination"]["namespace"] == release["metadata"]["namespace"] == namespace_of(values)

    # the release as `helm install -f values.yaml` makes it, and as Argo CD and Flux make it
    from_values = helm.run(
        "template", name, CHART_DIR, "-n", namespace_of(values), "-f", tmp_path / "values.yaml"
    ).stdout
    from_argocd = template_text(helm, app["spec"]["source"]["helm"]["valuesObject"], name)
    from_flux = template_text(helm, release["spec"]["values"], name)
    assert from_argocd == from_values
    assert from_flux == from_values


def template_text(helm: Helm, values: dict[str, Any], release: str) -> str:
    return helm.template_proc(values, release=release, namespace=namespace_of(values)).stdout


@pytest.mark.parametrize("options", list(OPTIONS))
def test_secret_mode_gives_the_agent_and_task_pods_the_same_env(
    helm: Helm, dump_path: Path, tmp_path: Path, options: str
) -> None:
    args = ["--project", "team-q", *OPTIONS[options]]
    render(dump_path, tmp_path / "inline.yaml", *args, "--show-secrets")
    render(dump_path, tmp_path / "apart.yaml", *args, "--credentials-out", str(tmp_path / "secret.yaml"))
    inline = load_one((tmp_path / "inline.yaml").read_text())
    apart = load_one((tmp_path / "apart.yaml").read_text())
    (manifest,) = load_all((tmp_path / "secret.yaml").read_text())

    with_inline = template(helm, inline, "clearml-runai-team-q")
    with_secret = template(helm, apart, "clearml-runai-team-q")
    assert "Secret" not in with_secret.kinds(), "the chart made a Secret of its own in the Secret mode"
    assert manifest["metadata"]["namespace"] == with_secret.deployment["metadata"]["namespace"]
    chart_secret = with_inline.one("Secret")
    inline_env = agent_and_task_env(with_inline, {chart_secret["metadata"]["name"]: secret_data(chart_secret)})
    apart_env = agent_and_task_env(with_secret, {manifest["metadata"]["name"]: secret_data(manifest)})
    assert apart_env == inline_env
    assert inline_env[0]["CLEARML_API_SECRET_KEY"] in ("SKx1-zz", "SKx2-zz")
    # clearml.conf, when the source has one, is mounted from the Secret the same way (else the chart's
    # credential-free one is)
    mounts = {m["mountPath"]: m for m in with_secret.agent_container.get("volumeMounts", [])}
    volume = next(v for v in with_secret.pod_spec["volumes"] if v["name"] == mounts["/root/clearml.conf"]["name"])
    assert ("secret" in volume) == ("clearml.conf" in manifest["stringData"])
    if "secret" in volume:
        assert volume["secret"]["secretName"] == manifest["metadata"]["name"]
        assert {i["key"] for i in volume["secret"]["items"]} <= set(manifest["stringData"])
