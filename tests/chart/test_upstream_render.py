"""What the real upstream charts render, rendered again by the tool and then by our chart, offline.

One test per behaviour the upstream corpus showed broken (privileged task pods, job mode, enterprise
per-queue templates, clearml 3.8.1-3.10.0 scheduling fields inside the container, host look-alikes,
diff's exactness and discretion, objects the release relies on, the agent's own volumes and contexts,
sessions ports mode), each on the objects `helm template` writes for that upstream chart and values.
The cluster tests (tests/cluster/test_upstream.py) run the same corpus through a real API server.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from sandbox.corpus import offline
from sandbox.corpus.cases import SECRETS
from sandbox.names import names
from tests.conftest import gen

from .conftest import Helm, Rendered

PROJECT = "team-a"
NS = names(PROJECT).namespace


def render(case_id: str, *args: str, edit: Any = None) -> tuple[dict[str, Any], str]:
    code, out, err = gen(["render", "--project", PROJECT, "--from-file", "-", *args], offline.dump(case_id, edit=edit))
    assert code == 0, err
    return YAML(typ="safe").load(out), err


def install(helm: Helm, values: dict[str, Any]) -> Rendered:
    return helm.template(values, release=names(PROJECT).release, namespace=NS)


def env_of(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in entries}


@pytest.mark.parametrize("version", ["4.0.0", "5.0.0", "5.3.2"])
def test_a_privileged_task_template_stays_privileged_and_valid(helm: Helm, version: str) -> None:
    values, _ = render(f"b-{version}-privileged")
    context = install(helm, values).task_container["securityContext"]
    assert context["privileged"] is True
    # Kubernetes refuses `allowPrivilegeEscalation: false` beside `privileged: true`
    assert context.get("allowPrivilegeEscalation") is not False


@pytest.mark.parametrize("version", ["4.0.0", "4.0.10", "5.0.0"])
def test_job_mode_turns_on_the_rbac_for_jobs(helm: Helm, version: str) -> None:
    values, err = render(f"b-{version}-job")
    assert values["rbac"]["jobs"] is True
    rendered = install(helm, values)
    assert rendered.task_template["kind"] == "Job"
    rules = rendered.one("Role")["rules"]
    assert any("jobs" in r["resources"] and "delete" in r["verbs"] for r in rules)
    assert "Job per task" in err


def test_enterprise_per_queue_templates_are_carried_whole_or_chosen_not_lost(helm: Helm) -> None:
    dump = offline.dump("b-4.0.10-enterprise")
    values, err = render("b-4.0.10-enterprise")
    assert not values["agent"].get("queues") and "carried whole" in err
    profiles = {p["queue"]: p for p in values["queueProfiles"]}
    assert set(profiles) == {f"runai-{PROJECT}-default", f"runai-{PROJECT}-default-gpu"}
    assert profiles[f"runai-{PROJECT}-default-gpu"]["taskPod"]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert len(install(helm, values).all("Deployment")) == 2
    values, _ = render("b-4.0.10-enterprise", "--template-queue", "default-gpu")
    assert "queueProfiles" not in values
    task = install(helm, values).task_container
    assert task["resources"]["limits"]["nvidia.com/gpu"] == 1
    code, out, _ = gen(["discover", "--from-file", "-", "-o", "json"], dump)
    assert code == 0
    agent = json.loads(out)["agents"][0]
    assert agent["queues"] == ["default", "default-gpu"]
    assert agent["queueTemplates"] == ["default", "default-gpu"]
    assert agent["queueProfiles"] == [
        {"sourceQueue": "default", "queue": "runai-{project}-default"},
        {"sourceQueue": "default-gpu", "queue": "runai-{project}-default-gpu"},
    ]


@pytest.mark.parametrize("version", ["3.8.2", "3.9.0", "3.10.0"])
def test_scheduling_fields_rendered_inside_the_container_move_to_the_pod(helm: Helm, version: str) -> None:
    values, err = render(f"a-{version}-gpu-volumes-env")
    task = values["taskPod"]
    assert task["nodeSelector"] == {"fleet": "gpu-nodes"}
    assert task["tolerations"] == [{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]
    assert not {"nodeSelector", "tolerations", "fleet"} & set(task.get("extraContainerSpec") or {})
    assert "moved to the pod" in err
    spec = install(helm, values).task_pod_spec
    assert spec["nodeSelector"] == {"fleet": "gpu-nodes"} and "tolerations" not in spec["containers"][0]


@pytest.mark.parametrize("case_id", ["a-3.10.5-gpu-volumes-env", "b-5.3.2-gpu-template"])
def test_values_that_look_like_hosts_are_left_alone_and_no_proxy_follows_the_rewrites(case_id: str) -> None:
    values, _ = render(case_id)
    env = env_of(values["taskPod"]["env"])
    assert env["CLEARML_AGENT_DEFAULT_BASE_DOCKER"] == "python:3"
    assert env["SIDECAR_IMAGE"] == "busybox:1" and env["BACKUP_WINDOW"] == "02:00"
    no_proxy = env["NO_PROXY"].split(",")
    api = values["clearml"]["apiHost"].split("//")[1].split(":")[0]
    assert api.endswith(".clearml.svc.cluster.local")
    bare = api.split(".")[0]
    assert bare in no_proxy and api in no_proxy, no_proxy
    assert values["agent"]["defaultTaskImage"] == "python:3" if case_id.startswith("a-") else True


def test_external_hosts_and_a_hosted_clearml_are_never_rewritten() -> None:
    values, _ = render("b-5.3.2-defaults")
    assert values["clearml"]["apiHost"] == "https://api.clear.ml"
    assert values["clearml"]["filesHost"] == "https://files.clear.ml"


@pytest.mark.parametrize("domain", ["cluster.local", "corp.example"])
def test_render_then_diff_is_no_drift_whatever_shaped_the_values(tmp_path: Path, domain: str) -> None:
    def external_svc_host(items: list[dict[str, Any]]) -> None:
        # an external API host that happens to contain `.svc.`
        for obj in items:
            for c in (obj.get("spec") or {}).get("template", {}).get("spec", {}).get("containers", []):
                for e in c.get("env") or []:
                    if e.get("name") == "CLEARML_API_HOST":
                        e["value"] = "https://clearml.svc.example.com"

    dump = offline.dump("b-5.3.2-internal-multiqueue", edit=external_svc_host)
    path = tmp_path / "dump.json"
    path.write_text(dump)
    values = tmp_path / "values.yaml"
    args = ["--cluster-domain", domain, "--queue", "q1,q2", "--node-pool", "pool-b", "--agent-image", "acme/agent:9"]
    code, _, err = gen(["render", "--project", PROJECT, "--from-file", str(path), "-o", str(values), *args])
    assert code == 0, err
    code, out, err = gen(["diff", "--values", str(values), "--from-file", str(path)])
    assert (code, out.splitlines()[0]) == (0, f"no drift: {values} matches the ClearML install"), out + err


def test_diff_reports_secret_changes_without_printing_them(tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(offline.dump("b-5.3.2-gpu-template"))
    values = tmp_path / "values.yaml"
    assert gen(["render", "--project", PROJECT, "--from-file", str(path), "-o", str(values)])[0] == 0
    new_pass, new_conf = "rotated-git-pass-Q1w2", "sdk { aws { s3 { secret: rotated-conf-Z9 } } }"

    def rotate(items: list[dict[str, Any]]) -> None:
        for obj in items:
            if obj["kind"] == "ConfigMap" and "template.yaml" in (obj.get("data") or {}):
                obj["data"]["template.yaml"] = obj["data"]["template.yaml"].replace(SECRETS["git-pass"], new_pass)
            if obj["kind"] == "Secret" and "clearml.conf" in (obj.get("data") or {}):
                obj["data"]["clearml.conf"] = base64.b64encode(new_conf.encode()).decode()

    path.write_text(offline.dump("b-5.3.2-gpu-template", edit=rotate))
    code, out, err = gen(["diff", "--values", str(values), "--from-file", str(path)])
    assert code == 1, out + err
    assert "taskPod.env[CLEARML_AGENT_GIT_PASS].value: changed (value redacted" in out
    assert "clearml.conf: changed (value redacted" in out
    for secret in (new_pass, SECRETS["git-pass"], new_conf, "rotated-conf-Z9", SECRETS["agent-secret"]):
        assert secret not in out + err


@pytest.mark.parametrize(
    "case_id,expected",
    [
        ("b-5.3.2-private-registry", {("Secret", "clearml-clearml-agent-ark")}),
        ("b-5.3.2-existing-secrets", {("Secret", "regcred")}),
        ("b-5.3.2-agent-extras", {("ConfigMap", "corp-ca")}),
        (
            "b-5.3.2-gpu-template",
            {("PersistentVolumeClaim", "datasets"), ("ConfigMap", "corp-ca"), ("Secret", "git-credentials")},
        ),
    ],
)
def test_every_object_the_release_relies_on_is_named_with_what_to_do(case_id: str, expected: set[Any]) -> None:
    _, err = render(case_id)
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    release = offline.case(case_id).full_name()
    for kind, name in expected:
        name = name.replace("clearml-clearml-agent", release)
        said = [w for w in warnings if w.startswith(f"warning: {kind} {name} (")]
        assert said, f"{kind} {name} not named: {warnings}"
        if kind != "PersistentVolumeClaim":
            assert (
                f"clearml-runai-gen copy {kind.lower()}/{name} --clearml-namespace clearml --namespace {NS}" in said[0]
            )


def test_the_agents_own_volumes_files_contexts_and_service_account_are_carried(helm: Helm) -> None:
    values, _ = render("b-5.3.2-agent-extras")
    agent = values["agent"]
    assert agent["volumes"] == [{"configMap": {"name": "corp-ca"}, "name": "corp-ca"}]
    assert agent["volumeMounts"] == [{"mountPath": "/etc/ssl/corp", "name": "corp-ca", "readOnly": True}]
    assert agent["fileMounts"][0]["name"] == "integration.py" and agent["fileMounts"][0]["folderPath"] == "/mnt/python"
    assert agent["podSecurityContext"] == {"fsGroup": 0, "runAsUser": 0}
    assert values["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ml"
    }
    rendered = install(helm, values)
    mounts = {m["mountPath"] for m in rendered.agent_container["volumeMounts"]}
    assert {"/etc/ssl/corp", "/mnt/python/integration.py"} <= mounts
    assert env_of(rendered.agent_container["env"])["REQUESTS_CA_BUNDLE"] == "/etc/ssl/corp/ca.crt"
    files = rendered.secret_data(f"{names(PROJECT).release}-files")
    assert base64.b64decode(files["integration.py"]).decode().startswith("def get_template")
    assert rendered.one("ServiceAccount")["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/ml")
    assert rendered.pod_spec["securityContext"]["runAsUser"] == 0


def test_sessions_ports_mode_is_dropped_with_a_warning() -> None:
    values, err = render("b-5.3.2-sessions")
    args = " ".join(values["agent"].get("extraArgs") or [])
    assert "--ports-mode" not in args and "--num-of-services" not in args and "--gateway-address" not in args
    assert "ports mode" in err and "not carried" in err


def test_a_project_in_a_namespace_of_its_own_name_is_served_from_there(helm: Helm) -> None:
    """--namespace other than runai-P: the agent's --namespace and K8S_DEFAULT_NAMESPACE follow it."""
    values, _ = render("b-5.3.2-defaults", "--namespace", "ml-team-x")
    assert values["runai"]["namespace"] == "ml-team-x"
    rendered = helm.template(values, release=names(PROJECT).release, namespace="ml-team-x")
    args = rendered.agent_env_value("K8S_GLUE_EXTRA_ARGS").split()
    assert args.count("--namespace") == 1 and args[args.index("--namespace") + 1] == "ml-team-x"
    assert rendered.agent_env_value("K8S_DEFAULT_NAMESPACE") == "ml-team-x"
    assert rendered.task_template["metadata"]["labels"]["project"] == PROJECT
    # values rendered for that namespace refuse any other
    assert "ml-team-x" in helm.template_error(values, release=names(PROJECT).release, namespace=NS)


def test_a_gpu_fraction_replaces_the_templates_whole_gpu_request(helm: Helm) -> None:
    """KAI's binder refuses a pod with both a GPU fraction and nvidia.com/gpu (gpu_request_validator.go)."""
    values, err = render("b-5.3.2-gpu-template", "--gpu-fraction", "0.5")
    assert values["taskPod"]["resources"]["limits"]["nvidia.com/gpu"] == 1  # the source's, carried
    rendered = install(helm, values)
    assert rendered.task_template["metadata"]["annotations"]["gpu-fraction"] == "0.5"
    assert "nvidia.com/gpu" not in str(rendered.task_container.get("resources"))
    assert "GPU fraction" in err
