"""The agent Deployment: how the k8s glue is started, and when it restarts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from .conftest import CHART_DIR, NAMESPACE, Helm, load_one, values

pytestmark = pytest.mark.chart


def test_one_agent_replaced_by_recreate(helm: Helm) -> None:
    spec = helm.template(values()).deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_agent_serves_all_queues_comma_joined(helm: Helm) -> None:
    rendered = helm.template(values(agent={"queues": ["urgent", "default", "batch"]}))
    assert rendered.agent_env_value("K8S_GLUE_QUEUE") == "urgent,default,batch"


def test_extra_args_name_the_namespace_once_and_the_mounted_template(helm: Helm) -> None:
    rendered = helm.template(values(agent={"extraArgs": ["--create-queue", "--ports-mode"], "maxPods": 0}))
    args = rendered.agent_env_value("K8S_GLUE_EXTRA_ARGS").split()
    assert args == [
        "--namespace",
        NAMESPACE,
        "--template-yaml",
        "/root/template/template.yaml",
        "--create-queue",
        "--ports-mode",
    ]
    assert args.count("--namespace") == 1
    mounts = {m["mountPath"]: m for m in rendered.agent_container["volumeMounts"]}
    assert mounts["/root/template"]["readOnly"] is True
    (volume,) = [v for v in rendered.pod_spec["volumes"] if v["name"] == mounts["/root/template"]["name"]]
    assert volume["configMap"]["name"] == rendered.template_configmap["metadata"]["name"]
    assert rendered.agent_env_value("K8S_DEFAULT_NAMESPACE") == NAMESPACE


@pytest.mark.parametrize(
    "arg", ["--namespace other", "--namespace=other", "--template-yaml /x.yaml", "--queue q", "--max-pods 3 --queue q"]
)
def test_extra_args_may_not_set_namespace_template_or_queue(helm: Helm, arg: str) -> None:
    assert "agent.extraArgs must not contain" in helm.template_error(values(agent={"extraArgs": [arg]}))


def test_agent_env_defaults(helm: Helm) -> None:
    rendered = helm.template(values())
    env = rendered.agent_env
    assert env["CLEARML_API_HOST"]["value"] == "http://clearml-apiserver.clearml.svc.cluster.local:8008"
    assert env["K8S_GLUE_MAX_PODS"]["value"] == "10"
    assert env["CLEARML_WORKER_ID"]["value"] == "agent"
    assert env["CLEARML_AGENT_NO_UPDATE"]["value"] == "1"
    assert "CLEARML_DOCKER_IMAGE" not in env
    for name in ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["key"] in rendered.secret_data(ref["name"])


def test_agent_env_from_values(helm: Helm) -> None:
    rendered = helm.template(
        values(
            agent={
                "workerId": "team-a-glue",
                "maxPods": 0,
                "defaultTaskImage": "python:3.12",
                "noSelfUpdate": False,
                "extraEnv": [{"name": "CLEARML_K8S_GLUE_DEBUG", "value": "1"}],
            }
        )
    )
    env = rendered.agent_env
    assert env["CLEARML_WORKER_ID"]["value"] == "team-a-glue"
    assert "K8S_GLUE_MAX_PODS" not in env
    assert env["CLEARML_DOCKER_IMAGE"]["value"] == "python:3.12"
    assert "CLEARML_AGENT_NO_UPDATE" not in env
    assert rendered.agent_container["env"][-1] == {"name": "CLEARML_K8S_GLUE_DEBUG", "value": "1"}


def test_worker_id_defaults_to_the_full_name(helm: Helm) -> None:
    rendered = helm.template(values(fullnameOverride="team-a-clearml"))
    assert rendered.agent_env_value("CLEARML_WORKER_ID") == "team-a-clearml"


def test_chart_conf_is_mounted_and_named_by_clearml_config_file(helm: Helm) -> None:
    rendered = helm.template(values(clearml={"conf": "agent {}\n"}))
    assert rendered.agent_env_value("CLEARML_CONFIG_FILE") == "/root/clearml.conf"
    (mount,) = [m for m in rendered.agent_container["volumeMounts"] if m["mountPath"] == "/root/clearml.conf"]
    assert mount["subPath"] == "clearml.conf" and mount["readOnly"] is True
    (volume,) = [v for v in rendered.pod_spec["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == rendered.one("Secret")["metadata"]["name"]
    assert volume["secret"]["items"] == [{"key": "clearml.conf", "path": "clearml.conf"}]


def test_existing_secret_conf_key_is_mounted(helm: Helm) -> None:
    rendered = helm.template(values(clearml={"existingSecret": "creds", "existingSecretKeys": {"conf": "agent.conf"}}))
    (volume,) = [v for v in rendered.pod_spec["volumes"] if "secret" in v]
    assert volume["secret"] == {"secretName": "creds", "items": [{"key": "agent.conf", "path": "clearml.conf"}]}
    assert rendered.agent_env_value("CLEARML_CONFIG_FILE") == "/root/clearml.conf"


@pytest.mark.parametrize("clearml", [{"existingSecret": "creds"}, {}])
def test_without_a_conf_a_credential_free_conf_is_mounted_read_only(helm: Helm, clearml: dict[str, str]) -> None:
    """The image's entrypoint appends the credentials to a writable ~/clearml.conf, and the agent copies
    that file into every task pod's arguments: a read-only conf without credentials keeps them out."""
    rendered = helm.template(values(clearml=clearml))
    assert rendered.agent_env_value("CLEARML_CONFIG_FILE") == "/root/clearml.conf"
    (mount,) = [m for m in rendered.agent_container["volumeMounts"] if m["mountPath"] == "/root/clearml.conf"]
    assert mount["readOnly"] is True
    (volume,) = [v for v in rendered.pod_spec["volumes"] if v["name"] == mount["name"]]
    conf = rendered.template_configmap["data"][volume["configMap"]["items"][0]["key"]]
    assert "ACCESSKEY" not in conf and "SECRETKEY" not in conf
    assert all(line.startswith("#") for line in conf.splitlines())


def test_image_tag_or_digest(helm: Helm) -> None:
    assert helm.template(values()).agent_container["image"] == "allegroai/clearml-agent-k8s-base:1.24-21"
    digest = "sha256:" + "a" * 64
    image = helm.template(values(agent={"image": {"digest": digest}})).agent_container["image"]
    assert image == f"allegroai/clearml-agent-k8s-base@{digest}"


def test_default_security_context_is_stated(helm: Helm) -> None:
    rendered = helm.template(values())
    assert rendered.pod_spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert rendered.agent_container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def test_hardened_agent_runs_non_root_on_a_read_only_root(helm: Helm) -> None:
    rendered = helm.template(values(agent={"hardened": True}))
    context = rendered.agent_container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    # a high uid and gid, which no host account has (checkov CKV_K8S_40)
    assert (context["runAsUser"], context["runAsGroup"]) == (10001, 10001)
    assert context["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in rendered.agent_container["volumeMounts"]}
    volumes = {v["name"]: v for v in rendered.pod_spec["volumes"]}
    for path in ("/root", "/tmp"):
        assert volumes[mounts[path]] == {"name": mounts[path], "emptyDir": {}}
    assert "/root/template" in mounts


def test_hardened_defaults_yield_to_an_explicit_security_context(helm: Helm) -> None:
    rendered = helm.template(values(agent={"hardened": True, "securityContext": {"runAsUser": 2000}}))
    assert rendered.agent_container["securityContext"]["runAsUser"] == 2000


def test_not_hardened_has_no_scratch_volumes(helm: Helm) -> None:
    rendered = helm.template(values())
    assert "runAsNonRoot" not in rendered.agent_container["securityContext"]
    assert [m["mountPath"] for m in rendered.agent_container["volumeMounts"]] == [
        "/root/template",
        "/root/clearml.conf",
    ]


def test_agent_pod_placement_and_metadata(helm: Helm) -> None:
    rendered = helm.template(
        values(
            agent={
                "nodeSelector": {"pool": "cpu"},
                "tolerations": [{"key": "k", "operator": "Exists"}],
                "affinity": {"podAntiAffinity": {}},
                "priorityClassName": "system-cluster-critical",
                "imagePullSecrets": ["regcred"],
                "podAnnotations": {"a": "b"},
                "podLabels": {"team": "ml"},
            }
        )
    )
    spec = rendered.pod_spec
    assert spec["nodeSelector"] == {"pool": "cpu"}
    assert spec["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert spec["affinity"] == {"podAntiAffinity": {}}
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    metadata = rendered.deployment["spec"]["template"]["metadata"]
    assert metadata["annotations"]["a"] == "b"
    assert metadata["labels"]["team"] == "ml"


def test_pod_labels_carry_the_selector(helm: Helm) -> None:
    deployment = helm.template(values()).deployment
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "clearml-runai-agent", "app.kubernetes.io/instance": "agent"}
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize(
    "overlay",
    [
        {"agent": {"queues": ["other"], "podLabels": {"x": "y"}, "hardened": True}},
        {"runai": {"scheduler": "kai-scheduler", "project": "team-b"}},
        {"fullnameOverride": "renamed", "serviceAccount": {"name": "sa"}},
        {"clearml": {"existingSecret": "creds"}},
    ],
)
def test_selector_labels_stay_when_values_change(helm: Helm, overlay: dict[str, Any]) -> None:
    before = helm.template(values()).deployment["spec"]["selector"]
    after = helm.template(values(**overlay)).deployment["spec"]["selector"]
    assert after == before


def test_selector_labels_stay_when_the_chart_version_changes(helm: Helm, tmp_path: Path) -> None:
    bumped = tmp_path / "clearml-runai-agent"
    shutil.copytree(CHART_DIR, bumped)
    chart_yaml = bumped / "Chart.yaml"
    text = (
        chart_yaml.read_text()
        .replace("version: 0.1.0", "version: 0.2.0")
        .replace('appVersion: "1.24"', 'appVersion: "1.25"')
    )
    chart_yaml.write_text(text)
    assert load_one(text)["version"] == "0.2.0"
    old, new = helm.template(values()), helm.template(values(), chart=bumped)
    assert new.deployment["metadata"]["labels"]["helm.sh/chart"] == "clearml-runai-agent-0.2.0"
    assert new.deployment["spec"]["selector"] == old.deployment["spec"]["selector"]


class TestChecksums:
    """A changed template or Secret must roll the agent (it reads both once, at start)."""

    def test_stay_when_nothing_changes(self, helm: Helm) -> None:
        assert helm.template(values()).pod_annotations == helm.template(values()).pod_annotations

    def test_template_checksum_follows_the_template(self, helm: Helm) -> None:
        before = helm.template(values()).pod_annotations
        after = helm.template(values(taskPod={"tolerations": [{"key": "gpu", "operator": "Exists"}]})).pod_annotations
        assert after["checksum/template"] != before["checksum/template"]
        assert after["checksum/secret"] == before["checksum/secret"]

    def test_secret_checksum_follows_the_credentials(self, helm: Helm) -> None:
        before = helm.template(values()).pod_annotations
        after = helm.template(values(clearml={"secretKey": "ROTATED"})).pod_annotations
        assert after["checksum/secret"] != before["checksum/secret"]
        assert after["checksum/template"] == before["checksum/template"]

    def test_secret_checksum_follows_the_existing_secret_name(self, helm: Helm) -> None:
        first = helm.template(values(clearml={"existingSecret": "creds-v1"})).pod_annotations
        second = helm.template(values(clearml={"existingSecret": "creds-v2"})).pod_annotations
        assert first["checksum/secret"] != second["checksum/secret"]

    def test_secret_checksum_follows_the_existing_secret_checksum(self, helm: Helm) -> None:
        def annotations(checksum: str) -> dict[str, str]:
            data = values(clearml={"existingSecret": "creds", "existingSecretChecksum": checksum})
            return helm.template(data).pod_annotations

        first, again = annotations("hmac-sha256:aa"), annotations("hmac-sha256:aa")
        rotated = annotations("hmac-sha256:bb")
        assert first == again
        assert rotated["checksum/secret"] != first["checksum/secret"]
        assert rotated["checksum/template"] == first["checksum/template"]

    def test_existing_secret_checksum_needs_the_existing_secret(self, helm: Helm) -> None:
        error = helm.template_error(values(clearml={"existingSecretChecksum": "hmac-sha256:aa"}))
        assert "clearml.existingSecretChecksum is the checksum of clearml.existingSecret" in error

    def test_agent_only_changes_leave_the_checksums(self, helm: Helm) -> None:
        before = helm.template(values()).pod_annotations
        after = helm.template(values(agent={"maxPods": 3})).pod_annotations
        assert after == before

    def test_checksums_are_sha256(self, helm: Helm) -> None:
        for key in ("checksum/template", "checksum/secret"):
            value = helm.template(values()).pod_annotations[key]
            assert len(value) == 64 and int(value, 16) >= 0
