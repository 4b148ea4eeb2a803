"""An agent install and one project's options -> the values of release `clearml-runai-<project>`. Pure.

Here the faults of the old copy-and-sed procedure are mended, structurally:
task pods reach ClearML by full service name, land in the Run:ai namespace, `--namespace` is passed once,
tolerations are a list, and the agent's Role may delete finished pods (the chart grants it).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from .detect import split_image
from .models import HELM_RELEASE_NAME_MAX, AgentInstall, Obj, Plan, ProjectOptions
from .neat import as_list, is_owned_annotation, is_owned_label

# env of the task container that the chart sets itself from the release's values and Secret
MANAGED_TASK_ENV = frozenset(
    {
        "CLEARML_API_HOST",
        "CLEARML_WEB_HOST",
        "CLEARML_FILES_HOST",
        "CLEARML_API_ACCESS_KEY",
        "CLEARML_API_SECRET_KEY",
    }
)
# labels of task pods that the chart derives from runai.* values
CHART_TASK_LABELS = frozenset(
    {
        "project",
        "runai/queue",
        "kai.scheduler/queue",
        "priorityClassName",
        "runai/node-pool",
        "kai.scheduler/node-pool",
    }
)
CHART_TASK_ANNOTATIONS = frozenset({"gpu-fraction"})
# PodSpec fields that map to named taskPod values; anything else goes to extraPodSpec
POD_FIELDS = {
    "securityContext": "podSecurityContext",
    "initContainers": "initContainers",
    "nodeSelector": "nodeSelector",
    "tolerations": "tolerations",
    "affinity": "affinity",
    "priorityClassName": "priorityClassName",
    "imagePullSecrets": "imagePullSecrets",
    "volumes": "volumes",
}
# PodSpec fields the chart owns for task pods
CHART_POD_FIELDS = frozenset(
    {"schedulerName", "containers", "restartPolicy", "serviceAccountName", "automountServiceAccountToken"}
)
CONTAINER_FIELDS = {"resources": "resources", "volumeMounts": "volumeMounts", "securityContext": "securityContext"}
# the agent fills these in for every task
AGENT_CONTAINER_FIELDS = frozenset({"name", "image", "command", "args", "env"})

_HOST_PORT = re.compile(r"^(?P<host>[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)(?P<port>:\d+)?(?P<rest>/.*)?$")


def _is_bare_service_name(host: str) -> bool:
    if not host or "." in host or host.lower() == "localhost":
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def qualify_url(value: str, namespace: str, domain: str) -> str:
    """Rewrite a URL (or host[:port]) whose host is a bare service name to the service's full name.

    A bare name resolves only inside its own namespace; `<svc>.<ns>.svc.<domain>` resolves from anywhere,
    and names the very same Service. Anything else is returned unchanged.
    """
    if not isinstance(value, str) or not value:
        return value
    suffix = f".{namespace}.svc.{domain}"
    if "://" in value:
        parts = urlsplit(value)
        host = parts.hostname or ""
        if not _is_bare_service_name(host):
            return value
        netloc = parts.netloc
        userinfo, at, hostport = netloc.rpartition("@")
        hostport = hostport.replace(host, host + suffix, 1)
        return urlunsplit(parts._replace(netloc=f"{userinfo}{at}{hostport}"))
    m = _HOST_PORT.match(value)
    if m and m.group("port") and _is_bare_service_name(m.group("host")):
        return m.group("host") + suffix + (m.group("port") or "") + (m.group("rest") or "")
    return value


def _qualify_env(env: list[Obj], namespace: str, domain: str) -> list[Obj]:
    out = []
    for var in env:
        var = copy.deepcopy(var)
        if isinstance(var.get("value"), str):
            var["value"] = qualify_url(var["value"], namespace, domain)
        out.append(var)
    return out


def _foreign_refs(env: list[Obj], own: set[str]) -> list[str]:
    """Secrets/ConfigMaps an env list refers to that the release does not create."""
    refs = []
    for var in env:
        src = var.get("valueFrom") or {}
        for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            ref = src.get(key)
            if isinstance(ref, dict) and ref.get("name") not in own:
                refs.append(f"{kind} {ref.get('name')} (env {var.get('name')})")
    return refs


def task_pod_values(install: AgentInstall, options: ProjectOptions, warnings: list[str], notes: list[str]) -> Obj:
    template = copy.deepcopy(install.template)
    meta = template.get("metadata") or {}
    spec = copy.deepcopy(template.get("spec") or {})
    ns = install.namespace

    if meta.get("namespace"):
        notes.append(
            f"the source template names namespace {meta['namespace']!r}: "
            f"task pods now go to {options.namespace} (mended)"
        )

    containers = as_list(spec.get("containers"))
    main: Obj = copy.deepcopy(containers[0]) if containers and isinstance(containers[0], dict) else {}
    if len(containers) > 1:
        warnings.append(
            f"the source template has {len(containers)} containers; only the first (the task container) is carried, "
            "add sidecars with taskPod.extraPodSpec"
        )

    values: Obj = {
        "labels": {
            k: v for k, v in (meta.get("labels") or {}).items() if k not in CHART_TASK_LABELS and not is_owned_label(k)
        },
        "annotations": {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if k not in CHART_TASK_ANNOTATIONS and not is_owned_annotation(k)
        },
    }
    # the source chart's own ServiceAccount does not exist in the Run:ai namespace
    source_sa = spec.get("serviceAccountName")
    if source_sa and source_sa != "default":
        warnings.append(
            f"the source template ran task pods as ServiceAccount {source_sa!r}, which the Run:ai namespace lacks; "
            "they now run as `default` (set taskPod.serviceAccountName to change it)"
        )
    values["serviceAccountName"] = ""
    values["automountServiceAccountToken"] = spec.get("automountServiceAccountToken") is True

    env = [v for v in as_list(main.get("env")) if isinstance(v, dict) and v.get("name") not in MANAGED_TASK_ENV]
    values["env"] = _qualify_env(env, ns, options.cluster_domain)
    for ref in _foreign_refs(values["env"], set()):
        warnings.append(f"task pods read {ref}: create it in namespace {options.namespace} too")
    # what the source leaves out stays out: the chart's defaults stand for it
    for field, key in CONTAINER_FIELDS.items():
        values[key] = main.get(field)
    for field, key in POD_FIELDS.items():
        values[key] = spec.get(field)
    values["tolerations"] = as_list(values["tolerations"])
    values["initContainers"] = [
        {**c, "env": _qualify_env(as_list(c.get("env")), ns, options.cluster_domain)} if c.get("env") else c
        for c in as_list(values["initContainers"])
    ]
    values["extraPodSpec"] = {k: v for k, v in spec.items() if k not in POD_FIELDS and k not in CHART_POD_FIELDS}
    values["extraContainerSpec"] = {
        k: v for k, v in main.items() if k not in CONTAINER_FIELDS and k not in AGENT_CONTAINER_FIELDS
    }
    order = [
        "labels",
        "annotations",
        "serviceAccountName",
        "automountServiceAccountToken",
        "resources",
        "env",
        "volumes",
        "volumeMounts",
        "podSecurityContext",
        "securityContext",
        "initContainers",
        "nodeSelector",
        "tolerations",
        "affinity",
        "priorityClassName",
        "imagePullSecrets",
        "extraPodSpec",
        "extraContainerSpec",
    ]
    return {k: values[k] for k in order}


def make_plan(install: AgentInstall, options: ProjectOptions) -> Plan:
    warnings: list[str] = []
    notes = list(install.notes)
    ns, domain = install.namespace, options.cluster_domain

    image = options.agent_image or install.image
    repository, tag, digest = split_image(image)
    if not tag and not digest:
        tag = "latest"
        warnings.append(f"the agent image {image!r} has no tag; pin one with --agent-image")

    agent_env = _qualify_env(install.extra_env, ns, domain)
    for ref in _foreign_refs(agent_env, set()):
        warnings.append(f"the agent reads {ref}: create it in namespace {options.namespace} too")

    creds = install.credentials
    values: Obj = {
        "runai": {
            "project": options.project,
            "namespace": options.namespace,
            "scheduler": options.scheduler,
            "queue": "",
            "gpuFraction": options.gpu_fraction,
            "priorityClass": options.priority_class,
            "nodePool": options.node_pool,
        },
        "clearml": {
            "apiHost": qualify_url(install.hosts.api, ns, domain),
            "webHost": qualify_url(install.hosts.web, ns, domain),
            "filesHost": qualify_url(install.hosts.files, ns, domain),
            "accessKey": creds.access_key,
            "secretKey": creds.secret_key,
            "conf": creds.conf or "",
        },
        "agent": {
            "image": {
                "repository": repository,
                "tag": tag,
                "digest": digest,
                "pullPolicy": install.pull_policy or "IfNotPresent",
            },
            "imagePullSecrets": install.image_pull_secrets,
            "queues": list(options.queues),
            "workerId": options.worker_id,
            "maxPods": install.max_pods if install.max_pods is not None else 0,
            "defaultTaskImage": install.default_task_image,
            "noSelfUpdate": options.no_self_update,
            "extraArgs": install.extra_args,
            "extraEnv": agent_env,
            "nodeSelector": install.node_selector,
            "tolerations": install.tolerations,
            "affinity": install.affinity,
            "podAnnotations": install.pod_annotations,
            "podLabels": install.pod_labels,
            "priorityClassName": install.priority_class_name,
        },
        "taskPod": task_pod_values(install, options, warnings, notes),
    }
    if install.resources:
        values["agent"]["resources"] = install.resources
    if len(options.release) > HELM_RELEASE_NAME_MAX:
        warnings.append(
            f"release name {options.release!r} is longer than helm's 53 characters: install it under a shorter name"
        )
    return Plan(options=options, install=install, values=values, warnings=warnings, notes=notes)
