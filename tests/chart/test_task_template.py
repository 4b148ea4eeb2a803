"""The task pod template (template.yaml): what Run:ai and the task need of every task pod."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Helm, Rendered, own_annotations, values

pytestmark = pytest.mark.chart

CREDENTIAL_ENV = ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY")


def env_names(rendered: Rendered) -> list[str]:
    return [e["name"] for e in rendered.task_env]


def test_template_is_a_partial_pod(helm: Helm) -> None:
    template = helm.template(values()).task_template
    assert template["apiVersion"] == "v1"
    assert template["kind"] == "Pod"
    assert set(template) == {"apiVersion", "kind", "metadata", "spec"}
    container = template["spec"]["containers"][0]
    assert "name" not in container and "image" not in container, "the agent names the container and image"


def test_task_pods_go_to_the_runai_scheduler_with_the_project_label(helm: Helm) -> None:
    rendered = helm.template(values())
    template = rendered.task_template
    assert template["spec"]["schedulerName"] == "runai-scheduler"
    assert template["spec"]["restartPolicy"] == "Never"
    assert template["metadata"]["labels"] == {"project": "team-a", "runai/queue": "team-a"}


def test_template_names_no_namespace_so_pods_land_in_the_agent_namespace(helm: Helm) -> None:
    rendered = helm.template(values(), namespace="runai-team-a")
    assert "namespace" not in rendered.task_template["metadata"]
    assert "--namespace runai-team-a " in rendered.agent_env_value("K8S_GLUE_EXTRA_ARGS") + " "


def test_runai_queue_overrides_the_project_as_queue(helm: Helm) -> None:
    labels = helm.template(values(runai={"queue": "team-a-research"})).task_template["metadata"]["labels"]
    assert labels["runai/queue"] == "team-a-research"
    assert labels["project"] == "team-a"


def test_kai_scheduler_gets_kai_labels(helm: Helm) -> None:
    rendered = helm.template(values(runai={"scheduler": "kai-scheduler", "queue": "research", "nodePool": "a100"}))
    template = rendered.task_template
    assert template["spec"]["schedulerName"] == "kai-scheduler"
    assert template["metadata"]["labels"] == {
        "project": "team-a",
        "kai.scheduler/queue": "research",
        "kai.scheduler/node-pool": "a100",
    }


def test_kai_queue_defaults_to_the_project(helm: Helm) -> None:
    labels = helm.template(values(runai={"scheduler": "kai-scheduler"})).task_template["metadata"]["labels"]
    assert labels["kai.scheduler/queue"] == "team-a"
    assert "runai/queue" not in labels


def test_gpu_fraction_priority_and_node_pool(helm: Helm) -> None:
    rendered = helm.template(values(runai={"gpuFraction": "0.5", "priorityClass": "train", "nodePool": "h100"}))
    metadata = rendered.task_template["metadata"]
    assert own_annotations(metadata) == {"gpu-fraction": "0.5"}
    assert isinstance(metadata["annotations"]["gpu-fraction"], str), "annotation values are strings"
    assert metadata["labels"]["priorityClassName"] == "train"
    assert metadata["labels"]["runai/node-pool"] == "h100"


def test_no_annotations_without_gpu_fraction_or_task_annotations(helm: Helm) -> None:
    assert own_annotations(helm.template(values()).task_template["metadata"]) == {}


def test_task_labels_and_annotations_are_added(helm: Helm) -> None:
    rendered = helm.template(
        values(
            runai={"gpuFraction": "0.25"},
            taskPod={"labels": {"team": "vision", "project": "team-a"}, "annotations": {"owner": "ml"}},
        )
    )
    metadata = rendered.task_template["metadata"]
    assert metadata["labels"] == {"project": "team-a", "runai/queue": "team-a", "team": "vision"}
    assert own_annotations(metadata) == {"gpu-fraction": "0.25", "owner": "ml"}


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        ({"taskPod": {"labels": {"project": "other"}}}, "taskPod.labels.project contradicts"),
        ({"taskPod": {"labels": {"runai/queue": "other"}}}, "taskPod.labels.runai/queue contradicts"),
        (
            {"runai": {"gpuFraction": "0.5"}, "taskPod": {"annotations": {"gpu-fraction": "0.3"}}},
            "taskPod.annotations.gpu-fraction contradicts",
        ),
    ],
)
def test_task_labels_may_not_contradict_the_scheduling_labels(
    helm: Helm, overlay: dict[str, Any], message: str
) -> None:
    assert message in helm.template_error(values(**overlay))


def test_task_pods_reach_clearml_by_the_configured_hosts(helm: Helm) -> None:
    rendered = helm.template(values())
    env = {e["name"]: e for e in rendered.task_env}
    assert env_names(rendered)[:3] == ["CLEARML_API_HOST", "CLEARML_WEB_HOST", "CLEARML_FILES_HOST"]
    assert env["CLEARML_API_HOST"]["value"] == "http://clearml-apiserver.clearml.svc.cluster.local:8008"
    assert env["CLEARML_WEB_HOST"]["value"] == "http://clearml-webserver.clearml.svc.cluster.local:8080"
    assert env["CLEARML_FILES_HOST"]["value"] == "http://clearml-fileserver.clearml.svc.cluster.local:8081"


def test_empty_web_and_files_hosts_are_left_out(helm: Helm) -> None:
    rendered = helm.template(values(clearml={"webHost": "", "filesHost": ""}))
    assert env_names(rendered) == ["CLEARML_API_HOST", *CREDENTIAL_ENV]
    assert "CLEARML_WEB_HOST" not in rendered.agent_env and "CLEARML_FILES_HOST" not in rendered.agent_env


def test_task_credentials_resolve_to_the_rendered_secret(helm: Helm) -> None:
    rendered = helm.template(values())
    refs = [e["valueFrom"]["secretKeyRef"] for e in rendered.task_env if e["name"] in CREDENTIAL_ENV]
    assert len(refs) == 2
    for ref in refs:
        assert ref["key"] in rendered.secret_data(ref["name"]), ref


def test_task_credentials_resolve_to_the_existing_secret(helm: Helm) -> None:
    rendered = helm.template(
        values(
            clearml={
                "existingSecret": "clearml-creds",
                "existingSecretKeys": {"accessKey": "ak", "secretKey": "sk"},
            }
        )
    )
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in rendered.task_env if e["name"] in CREDENTIAL_ENV}
    assert refs == {
        "CLEARML_API_ACCESS_KEY": {"name": "clearml-creds", "key": "ak"},
        "CLEARML_API_SECRET_KEY": {"name": "clearml-creds", "key": "sk"},
    }
    agent_refs = {n: rendered.agent_env[n]["valueFrom"]["secretKeyRef"] for n in CREDENTIAL_ENV}
    assert agent_refs == refs


def test_task_env_follows_the_chart_env(helm: Helm) -> None:
    rendered = helm.template(values(taskPod={"env": [{"name": "HF_HOME", "value": "/data/hf"}]}))
    assert env_names(rendered)[-1] == "HF_HOME"
    assert env_names(rendered)[0] == "CLEARML_API_HOST"


def test_tolerations_render_as_a_list(helm: Helm) -> None:
    toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    spec = helm.template(values(taskPod={"tolerations": [toleration]})).task_pod_spec
    assert spec["tolerations"] == [toleration]


def test_empty_optional_fields_are_left_out(helm: Helm) -> None:
    rendered = helm.template(values())
    assert set(rendered.task_pod_spec) == {
        "schedulerName",
        "restartPolicy",
        "automountServiceAccountToken",
        "securityContext",
        "containers",
    }
    assert rendered.task_pod_spec["automountServiceAccountToken"] is False
    assert set(rendered.task_container) == {"env", "securityContext"}


def test_task_pods_get_secure_defaults_the_agent_bootstrap_allows(helm: Helm) -> None:
    rendered = helm.template(values())
    assert rendered.task_pod_spec["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    # root keeps the capabilities apt-get needs; it may not gain more, and NET_RAW goes
    assert rendered.task_container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["NET_RAW"]},
    }


def test_task_security_context_values_merge_into_the_defaults(helm: Helm) -> None:
    rendered = helm.template(
        values(
            taskPod={
                "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": None},
                "securityContext": {"readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
            }
        )
    )
    assert rendered.task_pod_spec["securityContext"] == {"runAsNonRoot": True}
    assert rendered.task_container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def test_task_pod_fields_come_from_task_pod_values(helm: Helm) -> None:
    task_pod = {
        "serviceAccountName": "task-sa",
        "automountServiceAccountToken": True,
        "resources": {"limits": {"nvidia.com/gpu": 1}},
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "podSecurityContext": {"fsGroup": 1000},
        "securityContext": {"allowPrivilegeEscalation": False},
        "initContainers": [{"name": "init", "image": "busybox:1.36", "command": ["true"]}],
        "nodeSelector": {"gpu": "a100"},
        "affinity": {"nodeAffinity": {}},
        "priorityClassName": "high",
        "imagePullSecrets": ["plain-name", {"name": "object-name"}],
    }
    rendered = helm.template(values(taskPod=task_pod))
    spec, container = rendered.task_pod_spec, rendered.task_container
    assert spec["serviceAccountName"] == "task-sa"
    assert spec["automountServiceAccountToken"] is True
    assert spec["volumes"] == task_pod["volumes"]
    assert spec["securityContext"] == {"fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
    assert spec["initContainers"] == task_pod["initContainers"]
    assert spec["nodeSelector"] == {"gpu": "a100"}
    assert spec["affinity"] == {"nodeAffinity": {}}
    assert spec["priorityClassName"] == "high"
    assert spec["imagePullSecrets"] == [{"name": "plain-name"}, {"name": "object-name"}]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert container["volumeMounts"] == task_pod["volumeMounts"]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["NET_RAW"]}}


def test_extra_pod_spec_is_applied_last_key_by_key(helm: Helm) -> None:
    rendered = helm.template(
        values(
            taskPod={
                "automountServiceAccountToken": True,
                "tolerations": [{"key": "a", "operator": "Exists"}],
                "extraPodSpec": {
                    "runtimeClassName": "nvidia",
                    "hostIPC": True,
                    # a key the chart also sets: replaced whole, and `false` wins over `true`
                    "automountServiceAccountToken": False,
                    "tolerations": [{"key": "b", "operator": "Exists"}],
                },
            }
        )
    )
    spec = rendered.task_pod_spec
    assert spec["runtimeClassName"] == "nvidia"
    assert spec["hostIPC"] is True
    assert spec["automountServiceAccountToken"] is False
    assert spec["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert spec["schedulerName"] == "runai-scheduler"


def test_extra_container_spec_is_applied_last_key_by_key(helm: Helm) -> None:
    rendered = helm.template(
        values(
            taskPod={
                "resources": {"limits": {"cpu": "1"}},
                "extraContainerSpec": {"ports": [{"containerPort": 10022}], "resources": {"limits": {"cpu": "2"}}},
            }
        )
    )
    container = rendered.task_container
    assert container["ports"] == [{"containerPort": 10022}]
    assert container["resources"] == {"limits": {"cpu": "2"}}
    assert [e["name"] for e in container["env"]][0] == "CLEARML_API_HOST"


@pytest.mark.parametrize(
    ("task_pod", "message"),
    [
        ({"extraPodSpec": {"schedulerName": "default-scheduler"}}, "would bypass the Run:ai scheduler"),
        ({"extraPodSpec": {"containers": [{"name": "x"}]}}, "would replace the task container"),
        ({"extraContainerSpec": {"env": []}}, "would drop the ClearML hosts and credentials"),
    ],
)
def test_extra_specs_may_not_replace_what_the_chart_owns(helm: Helm, task_pod: dict[str, Any], message: str) -> None:
    assert message in helm.template_error(values(taskPod=task_pod))


def test_job_mode_wraps_the_task_pod_in_a_job(helm: Helm) -> None:
    rendered = helm.template(
        values(
            runai={"gpuFraction": "0.5"},
            agent={"extraEnv": [{"name": "CLEARML_K8S_GLUE_KIND", "value": "job"}]},
            rbac={"jobs": True},
        )
    )
    template = rendered.task_template
    assert (template["apiVersion"], template["kind"]) == ("batch/v1", "Job")
    pod = template["spec"]["template"]
    assert pod["metadata"]["labels"] == {"project": "team-a", "runai/queue": "team-a"}
    assert own_annotations(pod["metadata"]) == {"gpu-fraction": "0.5"}
    assert pod["spec"]["schedulerName"] == "runai-scheduler"
    assert "namespace" not in template["metadata"]


def test_job_mode_needs_rbac_for_jobs(helm: Helm) -> None:
    error = helm.template_error(values(agent={"extraEnv": [{"name": "CLEARML_K8S_GLUE_KIND", "value": "job"}]}))
    assert "set rbac.jobs=true" in error


def test_unknown_glue_kind_is_refused(helm: Helm) -> None:
    error = helm.template_error(values(agent={"extraEnv": [{"name": "CLEARML_K8S_GLUE_KIND", "value": "cronjob"}]}))
    assert "supports pod or job" in error
