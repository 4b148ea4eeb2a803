"""The real upstream charts, every version, with the values users set: the tool's test corpus.

Each case of sandbox/corpus is installed from its upstream archive as a real helm release, read back live
and with the README's dump command (YAML and JSON), rendered, and installed with our chart (helm v4 and
v3) into `runai-<project>`; the pinned clearml-agent builds the task pod from the installed template,
and the API server must accept it, created with the agent ServiceAccount's own token.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from sandbox.agent_harness import enqueue, task_pod_name
from sandbox.corpus.cases import SECRETS, Case, all_cases
from sandbox.corpus.install import dump, install
from sandbox.names import names
from tests.conftest import cli, tool

from .conftest import CHART, Kube, clearml_for, run_agent, unique

pytestmark = pytest.mark.cluster

CASES = all_cases()
RENDERED = [c for c in CASES if not c.value_set.refuse]
REFUSED = [c for c in CASES if c.value_set.refuse]


@dataclass
class Source:
    kube: Kube
    case: Case
    namespace: str
    project: str
    workdir: Path
    values: Path
    render: subprocess.CompletedProcess[str]

    @property
    def target(self) -> str:
        return names(self.project).namespace

    @property
    def release(self) -> str:
        return names(self.project).release

    def warnings(self) -> list[str]:
        return [line[len("warning: ") :] for line in self.render.stderr.splitlines() if line.startswith("warning: ")]

    def gen_offline(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.kube.run([cli(), *args], check=False)


def _render_args(source_ns: str, case: Case, project: str) -> list[str]:
    return ["render", "--project", project, *case.value_set.render_args]


@pytest.fixture(scope="module", params=RENDERED, ids=[c.id for c in RENDERED])
def source(request: pytest.FixtureRequest, kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    case: Case = request.param
    workdir = tmp_path_factory.mktemp(case.id)
    namespace = unique("up")
    install(kube, case, namespace, workdir)
    project = unique("p")
    kube.create_namespace(names(project).namespace, {"runai/queue": project})
    values = workdir / "values.yaml"
    render = kube.gen(
        *_render_args(namespace, case, project), "--clearml-namespace", namespace, "-o", str(values), check=False
    )
    assert render.returncode == 0, render.stderr
    yield Source(kube, case, namespace, project, workdir, values, render)
    kube.kubectl("delete", "namespace", namespace, names(project).namespace, "--wait=false", check=False)


def test_render_live_and_from_the_readmes_dumps_give_the_same_values(source: Source) -> None:
    for fmt in ("yaml", "json"):
        path = source.workdir / f"dump.{fmt}"
        path.write_text(dump(source.kube, source.namespace, fmt))
        out = source.workdir / f"from-{fmt}.yaml"
        proc = source.gen_offline(
            *_render_args(source.namespace, source.case, source.project), "--from-file", str(path), "-o", str(out)
        )
        assert proc.returncode == 0, proc.stderr
        assert out.read_text() == source.values.read_text(), f"--from-file ({fmt}) differs from live"
        assert proc.stderr == source.render.stderr


def _pod_refs(spec: dict[str, Any]) -> set[tuple[str, str]]:
    refs = {("Secret", s["name"]) for s in spec.get("imagePullSecrets") or []}
    for vol in spec.get("volumes") or []:
        if "secret" in vol:
            refs.add(("Secret", vol["secret"]["secretName"]))
        if "configMap" in vol:
            refs.add(("ConfigMap", vol["configMap"]["name"]))
        if "persistentVolumeClaim" in vol:
            refs.add(("PersistentVolumeClaim", vol["persistentVolumeClaim"]["claimName"]))
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for var in container.get("env") or []:
            for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                if key in (var.get("valueFrom") or {}):
                    refs.add((kind, var["valueFrom"][key]["name"]))
    return refs


def _manifests(source: Source) -> list[dict[str, Any]]:
    text = source.kube.helm(
        "v4", "template", source.release, str(CHART), "-n", source.target, "-f", str(source.values)
    ).stdout
    return [d for d in YAML(typ="safe").load_all(text) if d]


def _task_spec(template: dict[str, Any]) -> dict[str, Any]:
    spec = template["spec"]
    return dict(spec["template"]["spec"] if template.get("kind") == "Job" else spec)


def test_every_object_the_release_relies_on_is_named_with_what_to_do(source: Source) -> None:
    objects = _manifests(source)
    created = {(o["kind"], o["metadata"]["name"]) for o in objects}
    deploy = next(o for o in objects if o["kind"] == "Deployment")
    configmap = next(o for o in objects if o["kind"] == "ConfigMap")
    template = YAML(typ="safe").load(configmap["data"]["template.yaml"])
    relied = (_pod_refs(deploy["spec"]["template"]["spec"]) | _pod_refs(_task_spec(template))) - created
    warnings = source.warnings()
    env = {
        **source.kube.env,
        "PATH": os.pathsep.join([str(Path(cli()).parent), str(Path(tool("kubectl")).parent), os.environ["PATH"]]),
    }
    for kind, name in sorted(relied):
        said = [w for w in warnings if w.startswith(f"{kind} {name} (")]
        assert said, f"nothing says that the release relies on {kind} {name}: {warnings}"
        command = re.search(r"`([^`]+)`", said[0])
        if command is None:
            assert "create" in said[0], said[0]
            continue
        # the command it names does what it says
        proc = subprocess.run(["bash", "-c", command.group(1)], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{command.group(1)}: {proc.stderr}"
        copied = source.kube.get(kind.lower(), source.target, name)
        assert copied["metadata"]["namespace"] == source.target
        assert "meta.helm.sh/release-name" not in (copied["metadata"].get("annotations") or {})


def _agent_env(deploy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}


def _task_object(kube: Kube, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    proc = kube.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def test_installs_and_the_real_agent_creates_a_task_pod_the_api_server_accepts(source: Source) -> None:
    """helm v4 installs the values; the pinned agent's daemon loop, started from the release as its
    container starts, pulls a task and creates its pod (or Job) through the API server with the release
    ServiceAccount's token: the API server accepting it is the proof. helm v3 then installs the same."""
    kube, ns = source.kube, source.target
    values = YAML(typ="safe").load(source.values.read_text())
    kube.helm("v4", "install", source.release, str(CHART), "-n", ns, "-f", str(source.values))
    try:
        deploy = kube.get("deployment", ns, source.release)
        env = _agent_env(deploy)
        args = env["K8S_GLUE_EXTRA_ARGS"]["value"].split()
        assert args.count("--namespace") == 1 and args[args.index("--namespace") + 1] == ns
        assert env["K8S_DEFAULT_NAMESPACE"]["value"] == ns
        kind = (env.get("CLEARML_K8S_GLUE_KIND") or {}).get("value", "pod")
        queue = values["agent"]["queues"][0]
        # the enterprise chart's agent impersonates task owners, which only the enterprise server allows
        enterprise = "--use-owner-token" in (values["agent"].get("extraArgs") or [])
        access, secret = values["clearml"]["accessKey"], values["clearml"]["secretKey"]
        with (
            clearml_for(access, secret, queue, enterprise=enterprise) as clearml,
            run_agent(kube, ns, source.release, clearml, source.workdir / "agent") as agent,
        ):
            task = enqueue(clearml, "train", queue)
            created = agent.wait_for(
                lambda: _task_object(kube, ns, kind, task_pod_name(task)), f"the {kind} of task {task}"
            )
        spec = _task_spec(created)
        meta = created["spec"]["template"]["metadata"] if kind == "job" else created["metadata"]
        assert spec["schedulerName"] == "runai-scheduler"
        assert meta["labels"]["project"] == source.project and meta["labels"]["runai/queue"] == source.project
        cenv = {e["name"]: e for e in spec["containers"][0]["env"]}
        assert cenv["CLEARML_API_HOST"]["value"] == env["CLEARML_API_HOST"]["value"]
        if source.case.value_set.name == "privileged":
            assert spec["containers"][0]["securityContext"]["privileged"] is True
        manifest = kube.helm("v4", "get", "manifest", source.release, "-n", ns).stdout
    finally:
        kube.helm("v4", "uninstall", source.release, "-n", ns, "--wait", check=False)
    kube.helm("v3", "install", source.release, str(CHART), "-n", ns, "-f", str(source.values))
    try:
        assert kube.helm("v3", "get", "manifest", source.release, "-n", ns).stdout == manifest
    finally:
        kube.helm("v3", "uninstall", source.release, "-n", ns, "--wait", check=False)


def test_render_then_diff_is_no_drift_and_nothing_prints_a_secret(source: Source) -> None:
    proc = source.kube.gen("diff", "--values", str(source.values), check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("no drift"), proc.stdout + proc.stderr
    discover = source.kube.gen("discover", "--clearml-namespace", source.namespace, "-o", "json")
    table = source.kube.gen("discover", "--clearml-namespace", source.namespace)
    # every value of every Secret of the source namespace, and the secrets the case set as plain values
    secrets = dict(SECRETS)
    for obj in source.kube.get("secret", source.namespace)["items"]:
        for key, raw in (obj.get("data") or {}).items():
            value = base64.b64decode(raw).decode("utf-8", "replace")
            if len(value) >= 8 and not obj["metadata"]["name"].startswith("sh.helm.release"):
                secrets[f"{obj['metadata']['name']}/{key}"] = value
    for name, secret in secrets.items():
        for out in (proc, discover, table):
            assert secret not in out.stdout + out.stderr, f"{name} printed by {out.args[1]}"


@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
def test_what_cannot_be_rendered_is_refused_in_one_line(case: Case, kube: Kube, tmp_path: Path) -> None:
    namespace = unique("up")
    install(kube, case, namespace, tmp_path)
    try:
        out = tmp_path / "values.yaml"
        proc = kube.gen("render", "--project", "p1", "--clearml-namespace", namespace, "-o", str(out), check=False)
        assert proc.returncode == 1 and proc.stdout == ""
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and case.value_set.refuse in lines[0], proc.stderr
        assert not out.exists()
    finally:
        kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
