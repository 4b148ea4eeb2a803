"""Which objects the chart renders, where, and with which rights."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from .conftest import (
    CLUSTER_SCOPED_KINDS,
    NAMESPACE,
    RELEASE,
    Helm,
    ci_values_files,
    load_one,
    values,
)

pytestmark = pytest.mark.chart

CI_FILES = ci_values_files()


def test_renders_the_agent_objects(helm: Helm) -> None:
    rendered = helm.template(values())
    assert sorted(rendered.kinds()) == [
        "ConfigMap",
        "Deployment",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
        "Secret",
        "ServiceAccount",
    ]


@pytest.mark.parametrize("ci_file", CI_FILES, ids=lambda p: p.name)
def test_no_cluster_scoped_object_and_everything_in_the_release_namespace(helm: Helm, ci_file: Path) -> None:
    # values the generator wrote pin their namespace (runai.namespace); the others go anywhere
    namespace = (load_one(ci_file.read_text()).get("runai") or {}).get("namespace") or "runai-ci-ns"
    rendered = helm.template(files=[ci_file], namespace=namespace)
    assert rendered.docs
    for doc in rendered.docs:
        assert doc["kind"] not in CLUSTER_SCOPED_KINDS, doc["kind"]
        assert doc["metadata"].get("namespace") in (None, namespace), (doc["kind"], doc["metadata"])
    subjects = [s for rb in rendered.all("RoleBinding") for s in rb["subjects"]]
    assert subjects and all(s["namespace"] == namespace for s in subjects)


def test_objects_are_named_after_the_release(helm: Helm) -> None:
    rendered = helm.template(values(), release="clearml-agent")
    names = {(d["kind"], d["metadata"]["name"]) for d in rendered.docs}
    assert ("Deployment", "clearml-agent") in names
    assert ("ConfigMap", "clearml-agent-pod-template") in names


def test_fullname_override_and_63_character_cut(helm: Helm) -> None:
    rendered = helm.template(values(fullnameOverride="x" * 70))
    assert rendered.deployment["metadata"]["name"] == "x" * 63
    rendered = helm.template(values(fullnameOverride="team-a-agent"))
    assert {d["metadata"]["name"] for d in rendered.docs} == {"team-a-agent", "team-a-agent-pod-template"}


def test_role_lets_the_agent_manage_and_delete_task_pods(helm: Helm) -> None:
    role = helm.template(values()).one("Role")
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in role["rules"]}
    assert rules[(("",), ("pods",))] == {"get", "list", "watch", "create", "patch", "delete"}
    assert rules[(("",), ("pods/log",))] == {"get"}
    assert rules[(("",), ("events",))] == {"get", "list", "watch"}
    assert not any("batch" in groups for groups, _ in rules), "jobs are granted only with rbac.jobs"
    assert all("*" not in verbs for verbs in rules.values())


def test_rbac_jobs_grants_batch_jobs_the_pod_verbs(helm: Helm) -> None:
    role = helm.template(values(rbac={"jobs": True})).one("Role")
    (jobs,) = [r for r in role["rules"] if r["apiGroups"] == ["batch"]]
    assert jobs["resources"] == ["jobs"]
    assert set(jobs["verbs"]) == {"get", "list", "watch", "create", "patch", "delete"}


def test_extra_rules_are_appended_to_the_role(helm: Helm) -> None:
    extra = {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "create", "delete"]}
    role = helm.template(values(rbac={"extraRules": [extra]})).one("Role")
    assert role["rules"][-1] == extra


def test_rolebinding_binds_the_role_to_the_agent_service_account(helm: Helm) -> None:
    rendered = helm.template(values())
    binding = rendered.one("RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": rendered.one("Role")["metadata"]["name"],
    }
    sa = rendered.one("ServiceAccount")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
    assert rendered.pod_spec["serviceAccountName"] == sa
    assert rendered.pod_spec["automountServiceAccountToken"] is True


def test_without_created_service_account_the_agent_runs_as_the_named_one(helm: Helm) -> None:
    rendered = helm.template(values(serviceAccount={"create": False, "name": "clearml-sa"}))
    assert rendered.maybe("ServiceAccount") is None
    assert rendered.pod_spec["serviceAccountName"] == "clearml-sa"
    assert rendered.one("RoleBinding")["subjects"][0]["name"] == "clearml-sa"
    rendered = helm.template(values(serviceAccount={"create": False}))
    assert rendered.pod_spec["serviceAccountName"] == "default"


def test_rbac_create_false_renders_no_role(helm: Helm) -> None:
    rendered = helm.template(values(rbac={"create": False}))
    assert rendered.maybe("Role") is None and rendered.maybe("RoleBinding") is None


def test_secret_holds_the_credentials_and_the_conf(helm: Helm) -> None:
    rendered = helm.template(values(clearml={"conf": "sdk {}\n"}))
    secret = rendered.one("Secret")
    assert secret["type"] == "Opaque"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data == {
        "CLEARML_API_ACCESS_KEY": "ACCESSKEY",
        "CLEARML_API_SECRET_KEY": "SECRETKEY",
        "clearml.conf": "sdk {}\n",
    }


def test_secret_has_no_conf_key_without_a_conf(helm: Helm) -> None:
    assert set(helm.template(values()).one("Secret")["data"]) == {"CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY"}


def test_existing_secret_skips_the_chart_secret(helm: Helm) -> None:
    rendered = helm.template(values(clearml={"existingSecret": "mine", "accessKey": "", "secretKey": ""}))
    assert rendered.maybe("Secret") is None
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in rendered.agent_env.values() if "valueFrom" in e}
    assert refs == {
        "CLEARML_API_ACCESS_KEY": {"name": "mine", "key": "CLEARML_API_ACCESS_KEY"},
        "CLEARML_API_SECRET_KEY": {"name": "mine", "key": "CLEARML_API_SECRET_KEY"},
    }


@pytest.mark.parametrize("missing", ["accessKey", "secretKey"])
def test_missing_credentials_are_refused_with_a_clear_message(helm: Helm, missing: str) -> None:
    error = helm.template_error(values(clearml={missing: ""}))
    assert f"clearml.{missing} is required unless clearml.existingSecret" in error


def test_common_labels_on_every_object(helm: Helm) -> None:
    for doc in helm.template(values()).docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "clearml-runai-agent"
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/version"] == "1.24"
        assert labels["app.kubernetes.io/component"] == "agent"
        assert labels["helm.sh/chart"] == "clearml-runai-agent-0.1.0"


def test_network_policy_lets_nothing_in_to_the_agent_and_leaves_task_pods_alone(helm: Helm) -> None:
    rendered = helm.template(values())
    policy = rendered.one("NetworkPolicy")
    assert policy["spec"]["podSelector"] == {"matchLabels": rendered.deployment["spec"]["selector"]["matchLabels"]}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]
    task_labels = rendered.task_template["metadata"]["labels"]
    assert not policy["spec"]["podSelector"]["matchLabels"].items() <= task_labels.items()


def test_network_policy_can_be_left_out(helm: Helm) -> None:
    assert helm.template(values(networkPolicy={"create": False})).maybe("NetworkPolicy") is None
