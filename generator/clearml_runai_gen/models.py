"""Typed models that flow between the stages (source -> detect -> neat -> plan -> emit)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import __version__
from .errors import UsageError

if TYPE_CHECKING:
    from .profiles import QueueProfile

Obj = dict[str, Any]
Flavour = Literal["A", "B"]
TaskKind = Literal["pod", "job"]

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
RUNAI_NAMESPACE_PREFIX = "runai-"
RELEASE_PREFIX = "clearml-runai-"
HELM_RELEASE_NAME_MAX = 53

KAI_SCHEDULER = "kai-scheduler"
SCHEDULER_ALIASES = {"kai": KAI_SCHEDULER, "runai": "runai-scheduler"}


@dataclass(frozen=True)
class Credentials:
    """The agent's own ClearML credentials. Never printed: repr and str are redacted."""

    access_key: str
    secret_key: str
    conf: str | None = None
    source: str = ""  # where they came from, e.g. "Secret clearml/clearml-conf"

    def __repr__(self) -> str:
        return f"Credentials(source={self.source!r}, access_key=<redacted>, secret_key=<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class Hosts:
    api: str
    web: str = ""
    files: str = ""


@dataclass
class AgentInstall:
    """One ClearML k8s agent found in a namespace, already cleaned of server and helm marks."""

    flavour: Flavour
    namespace: str
    deployment: str
    template_configmap: str
    chart_hint: str
    image: str
    pull_policy: str
    hosts: Hosts
    credentials: Credentials
    queues: list[str]
    worker_id: str
    max_pods: int | None
    default_task_image: str
    extra_args: list[str]
    extra_env: list[Obj]
    resources: Obj
    node_selector: Obj
    tolerations: list[Obj]
    affinity: Obj
    image_pull_secrets: list[Obj]
    priority_class_name: str
    pod_annotations: Obj
    pod_labels: Obj
    template: Obj  # the task-pod template, a partial Pod, neat ({} when queue_templates holds them)
    notes: list[str] = field(default_factory=list)  # facts about quirks found and mended
    warnings: list[str] = field(default_factory=list)  # what the source holds that cannot be carried
    task_kind: TaskKind = "pod"  # what the agent creates per task (CLEARML_K8S_GLUE_KIND)
    queue_templates: dict[str, Obj] = field(default_factory=dict)  # enterprise: queue -> pod template
    template_namespace: str = ""  # the namespace the source template names, if any
    # Services of the ClearML namespace; None when not known (a dump without Services)
    services: frozenset[str] | None = None
    command: list[str] = field(default_factory=list)
    volumes: list[Obj] = field(default_factory=list)  # the agent's own, besides template and clearml.conf
    volume_mounts: list[Obj] = field(default_factory=list)
    file_mounts: list[Obj] = field(default_factory=list)  # {name, folderPath, content}
    pod_security_context: Obj = field(default_factory=dict)
    security_context: Obj = field(default_factory=dict)
    service_account: str = ""  # the source agent's ServiceAccount
    service_account_annotations: Obj = field(default_factory=dict)
    sessions: Obj = field(default_factory=dict)  # ports mode arguments of clearml-session, when on
    # names of the Secrets and ConfigMaps of the ClearML namespace, for the kinds the source lists whole
    source_objects: dict[str, frozenset[str]] = field(default_factory=dict)
    # every secret string found (credentials, clearml.conf, secret-looking env values, Secret data read):
    # never printed by discover or diff
    sensitive: frozenset[str] = frozenset()

    @property
    def description(self) -> str:
        return f"flavour {self.flavour} ({self.chart_hint}), Deployment {self.namespace}/{self.deployment}"


@dataclass(frozen=True)
class ProjectOptions:
    """What the user asked for one Run:ai project."""

    project: str
    namespace: str
    queues: tuple[str, ...]
    worker_id: str
    scheduler: str = "runai-scheduler"
    gpu_fraction: str = ""
    priority_class: str = ""
    node_pool: str = ""
    cluster_domain: str = "cluster.local"
    agent_image: str = ""
    no_self_update: bool = False
    template_queue: str = ""  # enterprise per-queue templates: whose template task pods get
    pod_security: str = ""  # the Pod Security level the live namespace enforces; "" when not read
    task_kind: str = ""  # "pod" or "job" per task; "" chooses (plan.choose_task_kind)
    queue_profiles: tuple[QueueProfile, ...] = ()  # --queue-profiles, `{project}` not yet expanded
    create_queue: bool = True  # the agent creates its missing queues
    finished_pod_minutes: int = 0  # how long finished task pods stay (0: deleted at once)

    @property
    def release(self) -> str:
        return RELEASE_PREFIX + self.project

    @classmethod
    def build(
        cls,
        project: str,
        *,
        namespace: str | None = None,
        queues: tuple[str, ...] | list[str] | str | None = None,
        worker_id: str | None = None,
        scheduler: str | None = None,
        gpu_fraction: str | None = None,
        priority_class: str | None = None,
        node_pool: str | None = None,
        cluster_domain: str = "cluster.local",
        agent_image: str | None = None,
        no_self_update: bool = False,
        template_queue: str | None = None,
        task_kind: str | None = None,
        queue_profiles: tuple[QueueProfile, ...] = (),
        create_queue: bool = True,
        finished_pod_minutes: int = 0,
    ) -> ProjectOptions:
        """Apply the defaults that derive from the project, and validate everything."""
        validate_project(project)
        ns = namespace or RUNAI_NAMESPACE_PREFIX + project
        if not DNS_LABEL.match(ns) or len(ns) > 63:
            raise UsageError(f"--namespace {ns!r} is not a valid namespace name (a DNS label of at most 63 characters)")
        if isinstance(queues, str):
            queues = [queues]
        qs: list[str] = []
        for item in queues or []:
            qs.extend(q.strip() for q in item.split(",") if q.strip())
        if not qs:
            qs = [RUNAI_NAMESPACE_PREFIX + project]
        for i, q in enumerate(qs):
            if any(c.isspace() for c in q):
                raise UsageError(f"--queue {q!r}: a queue name holds no blanks (separate queues with commas)")
            if q in qs[:i]:
                raise UsageError(f"--queue {q} is named twice: name each queue once")
        if scheduler is None:
            from .chart import default  # the chart's own runai.scheduler, not a copy of it

            scheduler = str(default("runai", "scheduler"))
        sched = SCHEDULER_ALIASES.get(scheduler, scheduler)
        if not sched or not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", sched):
            raise UsageError(f"--scheduler {scheduler!r} is not a valid scheduler name")
        frac = (gpu_fraction or "").strip()
        if frac and (not re.fullmatch(r"\d*\.?\d+", frac) or not 0 < float(frac) <= 1):
            raise UsageError(f"--gpu-fraction {frac!r} must be a decimal in (0, 1], for example 0.5")
        domain = cluster_domain.strip().strip(".")
        if not domain or not all(DNS_LABEL.match(p) for p in domain.split(".")):
            raise UsageError(f"--cluster-domain {cluster_domain!r} is not a DNS name")
        for opt, val in (("--priority-class", priority_class), ("--node-pool", node_pool)):
            if val and not re.match(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", val):
                raise UsageError(f"{opt} {val!r} is not a valid label value")
        wid = worker_id or RELEASE_PREFIX + project
        return cls(
            project=project,
            namespace=ns,
            queues=tuple(qs),
            worker_id=wid,
            scheduler=sched,
            gpu_fraction=frac,
            priority_class=priority_class or "",
            node_pool=node_pool or "",
            cluster_domain=domain,
            agent_image=agent_image or "",
            no_self_update=no_self_update,
            template_queue=template_queue or "",
            task_kind="" if task_kind in (None, "auto") else str(task_kind),
            queue_profiles=queue_profiles,
            create_queue=create_queue,
            finished_pod_minutes=finished_pod_minutes,
        )


def validate_project(project: str) -> None:
    if not project or not DNS_LABEL.match(project):
        raise UsageError(
            f"--project {project!r} is not a Run:ai project name: use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    ns = RUNAI_NAMESPACE_PREFIX + project
    if len(ns) > 63:
        raise UsageError(
            f"--project {project!r} is too long: its namespace {ns!r} has {len(ns)} characters, "
            "Kubernetes allows 63 (use a project name of at most 57 characters)"
        )


@dataclass
class Plan:
    """The values of one release, with where they came from."""

    options: ProjectOptions
    install: AgentInstall
    values: Obj
    warnings: list[str] = field(default_factory=list)  # what the user should act on
    notes: list[str] = field(default_factory=list)  # what was mended, for the record


# Where the project publishes its chart (`helm push` of `make package`); --chart-repo names another.
DEFAULT_CHART_REPO = "oci://ghcr.io/clearml-runai/charts"
FORMATS = ("values", "argocd", "flux")
_CHART_REPO = re.compile(
    r"^(?P<scheme>oci|https?)://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:\d+)?(/[-._~A-Za-z0-9]+)*$"
)
_CHART_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


@dataclass(frozen=True)
class DeliveryOptions:
    """How each project's release is shipped: a values file, an Argo CD Application or a Flux HelmRelease,
    with the credentials inline or in a Secret manifest of their own."""

    format: str = "values"
    separate_secret: bool = False  # values reference a Secret; its manifest is written apart
    chart_repo: str = DEFAULT_CHART_REPO
    chart_version: str = __version__  # the chart this tool ships is of the tool's own version
    argocd_namespace: str = "argocd"
    argocd_project: str = "default"

    @property
    def is_oci(self) -> bool:
        return self.chart_repo.startswith("oci://")

    @classmethod
    def build(
        cls,
        format: str = "values",
        *,
        separate_secret: bool = False,
        chart_repo: str | None = None,
        chart_version: str | None = None,
        argocd_namespace: str | None = None,
        argocd_project: str | None = None,
    ) -> DeliveryOptions:
        """Validate the options; each one that does not fit the format is refused, not ignored."""
        if format not in FORMATS:
            raise UsageError(f"--format {format!r} is not one of {', '.join(FORMATS)}")
        if format != "values" and not separate_secret:
            raise UsageError(
                f"--format {format} puts the values into an object meant for git, so the credentials must stay "
                "out of it: add --credentials-out PATH (their Secret manifest, to seal or encrypt)"
            )
        for opt, val in (("--chart-repo", chart_repo), ("--chart-version", chart_version)):
            if val is not None and format == "values":
                raise UsageError(f"{opt} names the chart of --format argocd or flux; a values file names none")
        for opt, val in (("--argocd-namespace", argocd_namespace), ("--argocd-project", argocd_project)):
            if val is not None and format != "argocd":
                raise UsageError(f"{opt} applies to --format argocd only")
        repo = (chart_repo or DEFAULT_CHART_REPO).rstrip("/")
        if not _CHART_REPO.match(repo):
            raise UsageError(
                f"--chart-repo {chart_repo!r} is not a chart repository: use oci://HOST/PATH (an OCI registry, as "
                "`helm push` takes it) or https://HOST/PATH (a Helm repository with an index.yaml)"
            )
        version = (chart_version or __version__).removeprefix("v")
        if not _CHART_VERSION.match(version):
            raise UsageError(f"--chart-version {chart_version!r} is not a chart version (SemVer, for example 0.1.0)")
        ns = argocd_namespace or "argocd"
        if not DNS_LABEL.match(ns) or len(ns) > 63:
            raise UsageError(f"--argocd-namespace {ns!r} is not a valid namespace name")
        project = argocd_project or "default"
        if not _DNS_SUBDOMAIN.match(project) or len(project) > 253:
            raise UsageError(f"--argocd-project {project!r} is not a valid Argo CD project name")
        return cls(format, separate_secret, repo, version, ns, project)


@dataclass(frozen=True)
class Check:
    """One line of `verify` (and of the operator's status): ok True/False, None when not checked."""

    name: str
    ok: bool | None
    detail: str
