"""An agent install and one project's options -> the values of release `clearml-runai-<project>`. Pure.

Here the faults of the old copy-and-sed procedure are mended, structurally: task pods reach ClearML by
full service name, land in the Run:ai namespace, `--namespace` is passed once, tolerations are a list,
and the agent's Role may delete finished pods (the chart grants it). Everything else the source agent
relies on is carried into the values, or named in a warning that says what to do.
"""

from __future__ import annotations

import copy
import dataclasses

from . import chart, validate
from . import profiles as profiles_mod
from .errors import InstallError, UsageError
from .glue import split_image
from .hosts import HostRewriter, without_userinfo
from .models import AgentInstall, Obj, Plan, ProjectOptions
from .neat import is_owned_annotation, is_owned_label
from .objects import as_list
from .refs import external_refs

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

# the order of taskPod values in the file, as in the chart's values.yaml
TASK_POD_ORDER = (
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
)


def _choose_template(install: AgentInstall, options: ProjectOptions, notes: list[str]) -> Obj:
    if not install.queue_templates:
        if options.template_queue:
            raise UsageError(
                f"--template-queue {options.template_queue}: the source agent has one template for all its queues; "
                "leave the option out"
            )
        return install.template
    names = list(install.queue_templates)
    queue = options.template_queue or (names[0] if len(names) == 1 else "")
    if not queue and not options.queue_profiles:
        # carried whole: each source queue a profile of its own (queue_profile_values); this one stands for the rest
        return install.queue_templates[names[0]]
    if not queue:
        raise UsageError(
            f"the source agent has one task template per queue ({', '.join(names)}) and the agent this chart runs "
            "reads one: choose whose template task pods get with --template-queue"
        )
    if queue not in install.queue_templates:
        raise UsageError(f"--template-queue {queue}: the source has templates for {', '.join(names)} only")
    notes.append(
        f"task pods get the template of source queue {queue}; the enterprise agent's per-queue templates are "
        "not carried: the open-source agent this chart runs reads one template"
    )
    return install.queue_templates[queue]


def task_pod_values(
    install: AgentInstall,
    options: ProjectOptions,
    hosts: HostRewriter,
    warnings: list[str],
    notes: list[str],
) -> Obj:
    template = copy.deepcopy(_choose_template(install, options, notes))
    meta = template.get("metadata") or {}
    spec = copy.deepcopy(template.get("spec") or {})

    if install.template_namespace:
        notes.append(
            f"the source template names namespace {install.template_namespace!r}: "
            f"task pods now go to {options.namespace} (mended)"
        )

    containers = as_list(spec.get("containers"))
    main: Obj = copy.deepcopy(containers[0]) if containers and isinstance(containers[0], dict) else {}
    if len(containers) > 1:
        warnings.append(
            f"the source template has {len(containers)} containers; only the first (the task container) is carried, "
            "add sidecars with taskPod.extraPodSpec"
        )

    values: Obj = _task_metadata(meta)
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
    values["env"] = hosts.env(env)
    # what the source leaves out stays out: the chart's defaults stand for it
    for name, key in CONTAINER_FIELDS.items():
        values[key] = main.get(name)
    for name, key in POD_FIELDS.items():
        values[key] = spec.get(name)
    values["tolerations"] = as_list(values["tolerations"])
    values["initContainers"] = [
        {**c, "env": hosts.env(as_list(c.get("env")))} if c.get("env") else c for c in as_list(values["initContainers"])
    ]
    _task_container_notes(main, options, notes)
    if spec.pop("nodeName", None):
        warnings.append(
            "the source template pins task pods to a node (spec.nodeName), which bypasses the Run:ai scheduler and "
            "its quotas: dropped (use taskPod.nodeSelector or runai.nodePool to place them)"
        )
    values["extraPodSpec"] = {k: v for k, v in spec.items() if k not in POD_FIELDS and k not in CHART_POD_FIELDS}
    values["extraContainerSpec"] = {
        k: v for k, v in main.items() if k not in CONTAINER_FIELDS and k not in AGENT_CONTAINER_FIELDS
    }
    return {k: values[k] for k in TASK_POD_ORDER}


def _task_metadata(meta: Obj) -> Obj:
    """The template's own labels and annotations, without those the chart derives or helm owns."""
    return {
        "labels": {
            k: v for k, v in (meta.get("labels") or {}).items() if k not in CHART_TASK_LABELS and not is_owned_label(k)
        },
        "annotations": {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if k not in CHART_TASK_ANNOTATIONS and not is_owned_annotation(k)
        },
    }


def _task_container_notes(main: Obj, options: ProjectOptions, notes: list[str]) -> None:
    gpus = [g for g in ("limits", "requests") if "nvidia.com/gpu" in ((main.get("resources") or {}).get(g) or {})]
    if options.gpu_fraction and gpus:
        notes.append(
            f"task pods ask for a {options.gpu_fraction} GPU fraction: the chart drops the template's whole-GPU "
            "request (nvidia.com/gpu), which the Run:ai scheduler refuses beside a fraction"
        )
    if (main.get("securityContext") or {}).get("privileged"):
        notes.append(
            "task pods run privileged, as the source template says; the chart's hardening defaults yield to it"
        )


def queue_profile_values(
    install: AgentInstall,
    options: ProjectOptions,
    hosts: HostRewriter,
    warnings: list[str],
    notes: list[str],
    values: Obj,
) -> None:
    """Sets `queueProfiles` of the values (none without --queue-profiles or an enterprise source's per-queue
    templates); the queues they serve leave agent.queues, and origin records the profiles for `diff`."""
    agent = values["agent"]
    carried = bool(len(install.queue_templates) > 1 and not options.template_queue and not options.queue_profiles)
    profiles = profiles_mod.expand(
        options.queue_profiles or (profiles_mod.enterprise_profiles(install.queue_templates) if carried else ()),
        options.project,
    )
    if not profiles:
        return
    if carried:
        agent["queues"] = []
        notes.append(
            "the source agent's per-queue templates are carried whole: source queue Q is queue "
            f"runai-{options.project}-Q of this project, served by an agent of its own with Q's template "
            "(--template-queue picks one instead)"
        )
    else:
        agent["queues"] = [q for q in agent["queues"] if q not in {p.queue for p in profiles}]

    def base(profile: profiles_mod.QueueProfile) -> Obj:
        source = install.queue_templates.get(profile.source_queue or profile.queue)
        return source if source is not None else _choose_template(install, options, [])

    def task_pod(template: Obj, profile: profiles_mod.QueueProfile) -> Obj:
        one = dataclasses.replace(install, template=template, queue_templates={})
        opts = dataclasses.replace(
            options, template_queue="", gpu_fraction=profile.placement.get("gpuFraction", options.gpu_fraction)
        )
        return task_pod_values(one, opts, hosts, warnings, notes)

    values["queueProfiles"] = profiles_mod.profile_entries(profiles, base, task_pod)
    if options.queue_profiles:
        values["origin"]["queueProfiles"] = profiles_mod.as_file(profiles)


def _extra_args(install: AgentInstall, options: ProjectOptions, notes: list[str]) -> list[str]:
    """The source agent's extra args; its --create-queue goes when queue creation is turned off."""
    if options.create_queue or "--create-queue" not in install.extra_args:
        return install.extra_args
    notes.append("the source agent creates missing queues (--create-queue); --no-create-queue drops it")
    return [a for a in install.extra_args if a != "--create-queue"]


def _command(install: AgentInstall, notes: list[str]) -> list[str]:
    """The source agent's command, when it is not the image's entrypoint that the chart runs by default
    (the chart's own agent.command, read from its values.yaml)."""
    default = [" ".join(str(c).split()) for c in chart.default("agent", "command")]
    if not install.command or [" ".join(c.split()) for c in install.command] == default:
        return []
    notes.append("the source agent runs its own command; it is carried (agent.command)")
    return install.command


def make_plan(install: AgentInstall, options: ProjectOptions) -> Plan:
    """The values of one project's release. A field of the install in another shape than Kubernetes gives
    it (a list where a name belongs) is reported as malformed, never a crash."""
    try:
        return _make_plan(install, options)
    except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
        raise InstallError(
            f"Deployment {install.namespace}/{install.deployment} (the ClearML agent) or an object it refers to is "
            f"malformed ({type(exc).__name__}: {exc}); pass the objects unedited, as `kubectl get ... -o yaml` "
            "prints them, or repair the install"
        ) from None


def _make_plan(install: AgentInstall, options: ProjectOptions) -> Plan:
    warnings: list[str] = list(install.warnings)
    notes = list(install.notes)
    hosts = HostRewriter(install.namespace, options.cluster_domain, install.services)
    clearml = _clearml_values(install, options, hosts, warnings)
    agent = _agent_values(install, options, hosts, warnings, notes)
    task_pod = task_pod_values(install, options, hosts, warnings, notes)
    if install.sessions:
        flags = " ".join(f"--{k} {v}" for k, v in install.sessions.items())
        warnings.append(
            f"the source agent serves clearml-session in ports mode (--ports-mode {flags}): not carried. Its "
            "Services and ports are cluster-wide and stay with the source install; sessions of this project's "
            "tasks run without them (add a Service per project yourself to expose them)"
        )
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
        "clearml": clearml,
        "agent": agent,
        "serviceAccount": {"annotations": install.service_account_annotations},
        "rbac": {"jobs": False},  # choose_task_kind
        "taskPod": task_pod,
        # what shaped these values beyond the install itself: `diff` renders again with exactly this
        "origin": {
            "clearmlNamespace": install.namespace,
            "agent": install.deployment,
            "clusterDomain": options.cluster_domain,
            "agentImage": options.agent_image,
            "templateQueue": options.template_queue,
        },
    }
    queue_profile_values(install, options, hosts, warnings, notes, values)
    task_kind = choose_task_kind(install, options, values, notes)
    if task_kind == "job":
        notes.append("the agent creates a Job per task (CLEARML_K8S_GLUE_KIND=job): its Role may manage Jobs")
    warnings += external_refs(values, install, options)
    if options.pod_security:
        from .podsecurity import refusals

        warnings += refusals(values, options.namespace, options.pod_security)
    validate.check(values, options, install)
    return Plan(options=options, install=install, values=values, warnings=warnings, notes=notes)


# Run:ai's preemptible priorities (below 100): KAI may evict such a task pod for a workload with a better claim
PREEMPTIBLE_PRIORITIES = frozenset({"train", "build-preemptible", "interactive-preemptible"})
GLUE_KIND = "CLEARML_K8S_GLUE_KIND"


def choose_task_kind(install: AgentInstall, options: ProjectOptions, values: Obj, notes: list[str]) -> str:
    """Pod or Job per task. A preempted bare pod is gone, and clearml-agent 3.0.3 leaves its task in
    progress with no pod; a preempted Job's pod is replaced by a pending one, which the agent's pending-pods
    monitor takes back to the queue. So preemptible priorities get Jobs unless --task-kind says otherwise."""
    kind = options.task_kind or install.task_kind
    # every agent of the release (the queue profiles' too) shares the agent's env, so one preemptible
    # priority among them makes them all create Jobs
    profiles = values.get("queueProfiles") or []
    priorities = [options.priority_class, *((p.get("runai") or {}).get("priorityClass") for p in profiles)]
    preemptible = next((p for p in priorities if p in PREEMPTIBLE_PRIORITIES), None)
    if not options.task_kind and kind == "pod" and preemptible:
        kind = "job"
        notes.append(
            f"priority {preemptible} is preemptible: the agent creates a Job per task, so that a task "
            "whose pod the scheduler preempts goes back to its queue and runs again (--task-kind pod turns it off)"
        )
    if kind != install.task_kind:
        env = [e for e in values["agent"]["extraEnv"] if not (isinstance(e, dict) and e.get("name") == GLUE_KIND)]
        values["agent"]["extraEnv"] = [*env, {"name": GLUE_KIND, "value": "job"}] if kind == "job" else env
    values["rbac"]["jobs"] = kind == "job"
    return kind


def _clearml_values(install: AgentInstall, options: ProjectOptions, hosts: HostRewriter, warnings: list[str]) -> Obj:
    """The server's URLs by full Service name, and the agent's credentials."""
    creds = install.credentials
    for var, url in (
        ("CLEARML_API_HOST", install.hosts.api),
        ("CLEARML_WEB_HOST", install.hosts.web),
        ("CLEARML_FILES_HOST", install.hosts.files),
    ):
        host = hosts.unresolved(url)
        if host:
            warnings.append(
                f"the source agent's {var} {without_userinfo(url)} names {host!r}, which is no Service of namespace "
                f"{install.namespace}: it resolves neither there nor from {options.namespace}; set clearml.* "
                "in the values to the server's full name"
            )
    return {
        "apiHost": hosts.value(install.hosts.api, host_var=True),
        "webHost": hosts.value(install.hosts.web, host_var=True),
        "filesHost": hosts.value(install.hosts.files, host_var=True),
        "accessKey": creds.access_key,
        "secretKey": creds.secret_key,
        "conf": creds.conf or "",
    }


def _agent_values(
    install: AgentInstall, options: ProjectOptions, hosts: HostRewriter, warnings: list[str], notes: list[str]
) -> Obj:
    """The agent Deployment: the source agent's image, env, volumes and pod settings, for this project's queues."""
    image = options.agent_image or install.image
    repository, tag, digest = split_image(image)
    if not tag and not digest:
        tag = "latest"
        warnings.append(f"the agent image {image!r} has no tag; pin one with --agent-image")
    agent: Obj = {
        "image": {
            "repository": repository,
            "tag": tag,
            "digest": digest,
            "pullPolicy": install.pull_policy or chart.default("agent", "image", "pullPolicy"),
        },
        "imagePullSecrets": install.image_pull_secrets,
        "queues": list(options.queues),
        "workerId": options.worker_id,
        "maxPods": install.max_pods if install.max_pods is not None else 0,
        "defaultTaskImage": install.default_task_image,
        "noSelfUpdate": options.no_self_update,
        "createQueue": options.create_queue,
        "finishedPodRetentionMinutes": options.finished_pod_minutes,
        "command": _command(install, notes),
        "extraArgs": _extra_args(install, options, notes),
        "extraEnv": hosts.env(install.extra_env),
        "volumes": install.volumes,
        "volumeMounts": install.volume_mounts,
        "fileMounts": install.file_mounts,
        "nodeSelector": install.node_selector,
        "tolerations": install.tolerations,
        "affinity": install.affinity,
        "podAnnotations": install.pod_annotations,
        "podLabels": install.pod_labels,
        "priorityClassName": install.priority_class_name,
        "podSecurityContext": install.pod_security_context,
        "securityContext": install.security_context,
    }
    if install.resources:
        agent["resources"] = install.resources
    return agent
