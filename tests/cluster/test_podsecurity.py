"""Hardened project namespaces, and a project whose namespace is not `runai-<project>`.

A Run:ai project's namespace is the one labelled `runai/queue=<project>`, whatever its name; platform
teams often enforce Pod Security on it. Measured here on the real API server's Pod Security admission:
`baseline` admits the agent and its task pods (KAI places them); `restricted` refuses both, `verify` names
the admission's reason from the ReplicaSet's events, and a live `render` warns before anything is installed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from sandbox.agent_harness import enqueue, task_pod_name
from sandbox.kai import Kai, wait_for
from sandbox.names import names

from .conftest import CHART, Kube, clearml_for, get_pod, run_agent, unique
from .test_runai import ACCESS, SECRET, gpu_nodes, install_clearml_for_runai

pytestmark = pytest.mark.cluster

ENFORCE = "pod-security.kubernetes.io/enforce"


@pytest.fixture(scope="module")
def clearml_ns(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    namespace = install_clearml_for_runai(kube, tmp_path_factory.mktemp("clearml"))
    yield namespace
    kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def project_namespace(kube: Kube, kai: Kai, level: str) -> tuple[str, str]:
    """A project attached to a namespace of another name (as `runai project create --namespace` makes it),
    enforcing Pod Security `level`, with Run:ai's scheduler-name enforcement on. Returns (project, namespace)."""
    project, namespace = unique("p"), unique("research-ns")
    kai._create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {"runai/queue": project, ENFORCE: level},
                "annotations": {"runai/enforce-scheduler-name": "true"},
            },
        }
    )
    kai.queue(project, gpu_quota=2)
    return project, namespace


def render(kube: Kube, clearml_ns: str, project: str, path: Path) -> tuple[dict[str, Any], str]:
    proc = kube.gen("render", "--project", project, "--clearml-namespace", clearml_ns, "-o", str(path))
    return YAML(typ="safe").load(path.read_text()), proc.stderr


def verify_lines(kube: Kube, project: str, url: str) -> tuple[int, dict[str, str]]:
    proc = kube.gen("verify", "--project", project, "--clearml-api-host", url, check=False)
    return proc.returncode, {line[6:].split("  ")[0].strip(): line for line in proc.stdout.splitlines()}


def test_baseline_admits_the_agent_and_its_task_pods_in_a_namespace_found_by_its_label(
    kube: Kube, kai: Kai, clearml_ns: str, tmp_path: Path
) -> None:
    project, namespace = project_namespace(kube, kai, "baseline")
    values, stderr = render(kube, clearml_ns, project, tmp_path / "values.yaml")
    assert values["runai"]["namespace"] == namespace, "the project's namespace is the one labelled for it"
    assert "Pod Security" not in stderr, stderr
    release = names(project).release
    kube.helm("v4", "install", release, str(CHART), "-n", namespace, "-f", str(tmp_path / "values.yaml"),
              "--wait", "--timeout=120s")  # fmt: skip
    queue = values["agent"]["queues"][0]
    with (
        clearml_for(ACCESS, SECRET, queue) as clearml,
        run_agent(kube, namespace, release, clearml, tmp_path / "agent") as agent,
    ):
        task = enqueue(clearml, "hardened", queue)
        agent.wait_for(lambda: get_pod(kube, namespace, task_pod_name(task)), "the task pod")
        placed = kai.placement(namespace, task_pod_name(task))
        assert placed.node in gpu_nodes(kube) and placed.queue == project
        labels = placed.pod["metadata"]["labels"]
        assert (labels["runai/queue"], labels["project"]) == (project, project)
        code, lines = verify_lines(kube, project, clearml.url)
    assert code == 0, "\n".join(lines.values())
    assert lines["agent available"].startswith("ok"), lines
    enforcement = lines["scheduler enforcement"]
    assert enforcement.startswith("ok") and f"runai/enforce-scheduler-name on namespace {namespace}" in enforcement


def test_restricted_refuses_both_verify_names_the_reason_and_render_warns_first(
    kube: Kube, kai: Kai, clearml_ns: str, tmp_path: Path
) -> None:
    project, namespace = project_namespace(kube, kai, "restricted")
    values, stderr = render(kube, clearml_ns, project, tmp_path / "values.yaml")
    warnings = [line for line in stderr.splitlines() if "enforces Pod Security 'restricted'" in line]
    assert len(warnings) == 2, stderr
    agent_warning, task_warning = warnings
    assert f"namespace {namespace}" in agent_warning and "refuses the agent: runAsNonRoot != true" in agent_warning
    assert "agent.hardened: true" in agent_warning
    assert "refuses the task pods" in task_warning and 'capabilities.drop: ["ALL"]' in task_warning

    release = names(project).release
    kube.helm("v4", "install", release, str(CHART), "-n", namespace, "-f", str(tmp_path / "values.yaml"))

    def refused() -> str:
        code, lines = verify_lines(kube, project, "http://127.0.0.1:9")
        line = lines.get("agent available", "")
        return line if "violates PodSecurity" in line else ""

    line = wait_for("verify to name the admission's refusal", refused, timeout=60)
    assert line.startswith("FAIL") and "no agent pod exists; ReplicaSet " in line, line
    assert "FailedCreate: Error creating: pods " in line and 'violates PodSecurity "restricted:latest"' in line
    assert "runAsNonRoot != true" in line

    # the task pods the agent would create are refused too: the release's own template, as the API server
    # admits it (a server-side dry run of a pod made from template.yaml)
    template = json.loads(
        kube.kubectl(
            "get", "configmap", "-n", namespace, "-l", f"app.kubernetes.io/instance={release}", "-o", "json"
        ).stdout  # fmt: skip
    )["items"]
    pod = YAML(typ="safe").load(next(cm for cm in template if "template.yaml" in cm["data"])["data"]["template.yaml"])
    pod["metadata"]["name"] = "clearml-id-dryrun"
    pod["spec"]["containers"][0].update({"name": "task", "image": "python:3.11-slim"})
    proc = kube.kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-", stdin=json.dumps(pod), check=False)
    assert proc.returncode != 0 and 'violates PodSecurity "restricted:latest"' in proc.stderr, proc.stderr
    assert 'capabilities.drop=["ALL"]' in proc.stderr and "runAsNonRoot != true" in proc.stderr


def test_a_reader_of_the_clearml_namespace_alone_still_renders_for_runai_project(
    kube: Kube, clearml_ns: str, tmp_path: Path
) -> None:
    """Listing namespaces (the project lookup, the Pod Security level) needs a cluster-wide read; without
    it render goes on with runai-<project> and says what it did not check."""
    outsider = unique("outsider")
    kube.create_namespace(outsider)
    kube.kubectl("create", "serviceaccount", "reader", "-n", outsider)
    kinds = "deployments.apps,configmaps,secrets,services,serviceaccounts"
    kube.kubectl("create", "role", "read-all", "-n", clearml_ns, "--verb=get,list", f"--resource={kinds}")
    kube.kubectl("create", "rolebinding", "read-all", "-n", clearml_ns, "--role=read-all",
                 f"--serviceaccount={outsider}:reader")  # fmt: skip
    try:
        cfg = kube.service_account_kubeconfig(outsider, "reader", tmp_path)
        out = tmp_path / "values.yaml"
        proc = kube.gen("render", "--project", "p", "--clearml-namespace", clearml_ns, "-o", str(out), kubeconfig=cfg)
        assert YAML(typ="safe").load(out.read_text())["runai"]["namespace"] == "runai-p"
        note = next(line for line in proc.stderr.splitlines() if "the namespaces were not read" in line)
        assert "forbidden to list namespaces" in note and "namespace is taken to be runai-<project>" in note, note
        assert "Pod Security level was not checked" in note
    finally:
        kube.kubectl("delete", "namespace", outsider, "--wait=false", check=False)
        kube.kubectl("delete", "role,rolebinding", "read-all", "-n", clearml_ns, check=False)
