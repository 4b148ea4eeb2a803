"""Which ClearML agent install a namespace holds, read into a typed model.

Flavour A: the k8sagent of the `clearml` chart (3.4 to 3.10). Flavour B: the `clearml-agent` chart (4.x/5.x).
Both are recognised from the objects themselves (any release name), never from fixed names: the agent
Deployment is the one whose container runs the k8s glue, and every other object is found by following
its references (template ConfigMap by volume, credentials by secretKeyRef).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from . import template
from .errors import InstallError, UsageError
from .glue import GlueArgs, read_extra_env, split_extra_args
from .models import AgentInstall, Credentials, Hosts, Obj
from .neat import clean_annotations, clean_labels, neat_container, neat_pod_spec
from .objects import as_dict, as_list, name_of
from .redact import is_secret_name, secret_env_value
from .resolve import Resolver, agent_volumes, file_key, volume_for_path
from .source import DUMP_KINDS, Source

GLUE_ENV = ("K8S_GLUE_QUEUE", "K8S_GLUE_EXTRA_ARGS")
GLUE_CONTAINERS = {"k8s-glue-container": "A", "k8s-glue": "B"}
DEFAULT_TEMPLATE_PATH = "/root/template/template.yaml"
DEFAULT_CONF_PATH = "/root/clearml.conf"

# fields of the agent pod the chart carries (others are said in a warning)
AGENT_POD_FIELDS = frozenset(
    {
        "containers",
        "initContainers",
        "volumes",
        "serviceAccountName",
        "securityContext",
        "nodeSelector",
        "tolerations",
        "affinity",
        "imagePullSecrets",
        "priorityClassName",
        "automountServiceAccountToken",
    }
)


_name = name_of


def _pod_spec(deploy: Obj) -> Obj:
    spec = ((deploy.get("spec") or {}).get("template") or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def _env_map(container: Obj) -> dict[str, Obj]:
    return {str(e["name"]): e for e in as_list(container.get("env")) if isinstance(e, dict) and e.get("name")}


def _glue_container(deploy: Obj) -> Obj | None:
    containers = [c for c in as_list(_pod_spec(deploy).get("containers")) if isinstance(c, dict)]
    for c in containers:
        if any(name in _env_map(c) for name in GLUE_ENV):
            return c
    for c in containers:
        if c.get("name") in GLUE_CONTAINERS:
            return c
    return None


def find_agents(source: Source) -> list[Obj]:
    """Deployments in the namespace whose container runs the ClearML k8s glue."""
    return sorted((d for d in source.objects("Deployment") if _glue_container(d) is not None), key=_name)


def select_agent(source: Source, agent: str | None) -> Obj:
    agents = find_agents(source)
    names = [_name(d) for d in agents]
    if agent:
        for d in agents:
            if _name(d) == agent:
                return d
        if any(_name(d) == agent for d in source.objects("Deployment")):
            raise InstallError(
                f"Deployment {source.namespace}/{agent} is not a ClearML k8s agent (no container runs the k8s glue)"
            )
        found = f"agents found: {', '.join(names)}" if names else "no agent found there"
        raise UsageError(f"--agent {agent}: no such Deployment in namespace {source.namespace} ({found})")
    if not agents:
        raise InstallError(
            f"no ClearML k8s agent Deployment in {source.describe()} (none has a container with K8S_GLUE_QUEUE); "
            "point --clearml-namespace at the ClearML install, or include its deployments in the dump"
        )
    if len(agents) > 1:
        raise UsageError(
            f"namespace {source.namespace} holds {len(agents)} ClearML agents ({', '.join(names)}); "
            "choose one with --agent"
        )
    return agents[0]


def _chart_label(deploy: Obj) -> str:
    meta = deploy.get("metadata") or {}
    labels = meta.get("labels") or {}
    return str(labels.get("helm.sh/chart", "")) if isinstance(labels, dict) else ""


def _flavour(deploy: Obj, container: Obj, cred_keys: set[str]) -> tuple[str, str]:
    chart = _chart_label(deploy)
    m = re.match(r"^(clearml-agent|clearml)-(\d[\w.+-]*)$", chart)
    if m:
        return ("B" if m.group(1) == "clearml-agent" else "A"), f"{m.group(1)} chart {m.group(2)}"
    by_container = GLUE_CONTAINERS.get(str(container.get("name")))
    if by_container == "B" or "agentk8sglue_key" in cred_keys:
        return "B", "clearml-agent chart 4.x/5.x"
    if by_container == "A" or "apiserver_key" in cred_keys:
        return "A", "clearml chart 3.x k8sagent"
    return "B", "unrecognised chart (read as clearml-agent)"


def _required_str(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InstallError(what)
    return value


def read_install(source: Source, agent: str | None = None) -> AgentInstall:
    """Find the agent in `source` and read everything the new release needs.

    Objects as an API server serves them are read field by field; an object edited into another shape
    (a map where a list belongs, a string where a map belongs) is reported as malformed, never a crash.
    """
    malformed = (AttributeError, TypeError, ValueError, KeyError, IndexError)
    fix = f"pass the objects unedited, as `kubectl get {DUMP_KINDS} -o yaml` prints them, or repair the install"
    try:
        deploy = select_agent(source, agent)
    except malformed as exc:
        raise InstallError(f"a Deployment in {source.describe()} is malformed ({exc}); {fix}") from None
    try:
        return _read_agent(source, deploy)
    except malformed as exc:
        raise InstallError(
            f"Deployment {source.namespace}/{_name(deploy)} (the ClearML agent) or an object it refers to is "
            f"malformed ({type(exc).__name__}: {exc}); {fix}"
        ) from None


@dataclass
class _Agent:
    """The agent Deployment being read, and what its readers share."""

    source: Source
    deploy: Obj
    container: Obj
    res: Resolver
    notes: list[str]
    warnings: list[str]

    @property
    def where(self) -> str:
        return f"Deployment {self.source.namespace}/{_name(self.deploy)}"

    @property
    def spec(self) -> Obj:
        return _pod_spec(self.deploy)

    @property
    def env(self) -> dict[str, Obj]:
        return _env_map(self.container)

    def value(self, var: str, purpose: str) -> str | None:
        return self.res.env_value(self.env, var, purpose)


def _read_agent(source: Source, deploy: Obj) -> AgentInstall:
    container = _glue_container(deploy)
    assert container is not None
    a = _Agent(source, deploy, container, Resolver(source, _name(deploy)), [], [])
    ns, name = source.namespace, _name(deploy)
    access, secret, cred_keys, cred_source = _read_credentials(a)
    flavour, chart_hint = _flavour(deploy, container, cred_keys)
    args = split_extra_args(a.value("K8S_GLUE_EXTRA_ARGS", "agent arguments") or "")
    if args.namespace:
        a.notes.append(f"the source agent ran with --namespace {args.namespace}; the new one uses the Run:ai namespace")
    template_volume, cm_name, parsed = _read_template(a, args)
    conf, conf_volume = _read_conf(a)
    queues, max_pods = _read_queues(a, args)
    neat_c = neat_container(container)
    neat_spec = neat_pod_spec(a.spec)
    extra_env = read_extra_env(neat_c, args, a.warnings)
    task_kind = _task_kind(a, extra_env, parsed)
    own = {str(template_volume.get("name"))} | ({str(conf_volume.get("name"))} if conf_volume else set())
    volumes, mounts, file_mounts = agent_volumes(a.res, neat_spec, neat_c, own, a.warnings)
    sa_name = str(a.spec.get("serviceAccountName") or a.spec.get("serviceAccount") or "default")
    _pod_notes(a, neat_spec)
    pod_meta = as_dict(as_dict(as_dict(deploy.get("spec")).get("template")).get("metadata"))
    sensitive = {access, secret, conf or ""} | a.res.read_secrets | _secret_env_values(as_list(neat_c.get("env")))
    sensitive |= {v for t in [parsed.pod, *parsed.queues.values()] for v in _secret_env_values(_task_env(t))}
    return AgentInstall(
        flavour=flavour,  # type: ignore[arg-type]
        namespace=ns,
        deployment=name,
        template_configmap=cm_name,
        chart_hint=chart_hint,
        image=_required_str(container.get("image"), f"{a.where}: the agent container has no image"),
        pull_policy=str(container.get("imagePullPolicy") or ""),
        hosts=_read_hosts(a),
        credentials=Credentials(access, secret, conf, cred_source),
        queues=queues,
        worker_id=a.value("CLEARML_WORKER_ID", "the worker id") or "",
        max_pods=max_pods,
        default_task_image=a.value("CLEARML_DOCKER_IMAGE", "the default task image") or "",
        extra_args=args.rest,
        extra_env=extra_env,
        resources=neat_c.get("resources") or {},
        node_selector=neat_spec.get("nodeSelector") or {},
        tolerations=neat_spec.get("tolerations") or [],
        affinity=neat_spec.get("affinity") or {},
        image_pull_secrets=neat_spec.get("imagePullSecrets") or [],
        priority_class_name=str(neat_spec.get("priorityClassName") or ""),
        pod_annotations=clean_annotations(pod_meta.get("annotations")),
        pod_labels=_pod_labels(deploy, pod_meta),
        template=parsed.pod,
        notes=a.notes,
        warnings=a.warnings,
        task_kind=task_kind,  # type: ignore[arg-type]
        queue_templates=parsed.queues,
        template_namespace=parsed.namespace,
        services=_services(source),
        source_objects={
            kind: frozenset(_name(o) for o in source.objects(kind))
            for kind in ("Secret", "ConfigMap")
            if source.lists(kind)
        },
        command=_command(neat_c, a.warnings),
        volumes=volumes,
        volume_mounts=mounts,
        file_mounts=file_mounts,
        pod_security_context=neat_spec.get("securityContext") or {},
        security_context=neat_c.get("securityContext") or {},
        service_account=sa_name,
        service_account_annotations=_service_account_annotations(source, sa_name),
        sessions={k.lstrip("-"): v for k, v in args.ports.items() if k != "--ports-mode"},
        sensitive=frozenset(v for v in sensitive if v),
    )


def _read_credentials(a: _Agent) -> tuple[str, str, set[str], str]:
    """The agent's key pair, by following its env references instead of assuming Secret names."""
    cred_keys: set[str] = set()
    cred_sources: set[str] = set()
    for var in ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY"):
        ref = as_dict(as_dict(as_dict(a.env.get(var)).get("valueFrom")).get("secretKeyRef"))
        if ref:
            cred_keys.add(str(ref.get("key")))
            cred_sources.add(f"Secret {a.source.namespace}/{ref.get('name')}")
    access = a.value("CLEARML_API_ACCESS_KEY", "the agent's access key")
    secret = a.value("CLEARML_API_SECRET_KEY", "the agent's secret key")
    if not access or not secret:
        raise InstallError(
            f"{a.where} sets no CLEARML_API_ACCESS_KEY/CLEARML_API_SECRET_KEY for its agent; "
            "repair the install or write the values by hand (clearml.accessKey/secretKey)"
        )
    return access, secret, cred_keys, ", ".join(sorted(cred_sources)) or a.where


def _read_template(a: _Agent, args: GlueArgs) -> tuple[Obj, str, template.TaskTemplate]:
    """The task-pod template, found through the volume mounted where --template-yaml points."""
    path = args.template_yaml or DEFAULT_TEMPLATE_PATH
    found = volume_for_path(a.spec, a.container, path)
    if found is None or not isinstance(found[0].get("configMap"), dict):
        raise InstallError(
            f"{a.where} mounts no ConfigMap at {posixpath.dirname(path)} where its --template-yaml {path} points; "
            "repair the agent Deployment"
        )
    volume, mount = found
    cm_name = _required_str(volume["configMap"].get("name"), f"{a.where}: template volume names no ConfigMap")
    key = file_key(volume, mount, path)
    text = a.res.configmap_value(cm_name, key, "the task-pod template")
    parsed = template.parse(text, f"ConfigMap {a.source.namespace}/{cm_name} key {key!r}")
    a.notes.extend(parsed.notes)
    a.warnings.extend(parsed.warnings)
    return volume, cm_name, parsed


def _read_conf(a: _Agent) -> tuple[str | None, Obj | None]:
    """clearml.conf and the volume that holds it, when the agent mounts one (flavour B)."""
    path = a.value("CLEARML_CONFIG_FILE", "the clearml.conf path") or DEFAULT_CONF_PATH
    found = volume_for_path(a.spec, a.container, path)
    if found is None:
        return None, None
    volume, mount = found
    key = file_key(volume, mount, path)
    if isinstance(volume.get("secret"), dict):
        return a.res.secret_value(str(volume["secret"].get("secretName")), key, "the agent's clearml.conf"), volume
    if isinstance(volume.get("configMap"), dict):
        return a.res.configmap_value(str(volume["configMap"].get("name")), key, "the agent's clearml.conf"), volume
    return None, volume


def _read_hosts(a: _Agent) -> Hosts:
    api = a.value("CLEARML_API_HOST", "the ClearML API URL")
    if not api:
        raise InstallError(f"{a.where} sets no CLEARML_API_HOST; repair the agent Deployment")
    return Hosts(
        api=api,
        web=a.value("CLEARML_WEB_HOST", "the ClearML web URL") or "",
        files=a.value("CLEARML_FILES_HOST", "the ClearML files URL") or "",
    )


def _read_queues(a: _Agent, args: GlueArgs) -> tuple[list[str], int | None]:
    """The queues the agent serves and the most pods it keeps (None: no limit given)."""
    raw = a.value("K8S_GLUE_QUEUE", "the agent's queue") or ""
    # a comma list; the enterprise chart joins its per-queue templates' names with spaces
    queues = [q for q in re.split(r"[,\s]+", raw) if q]
    max_raw = a.value("K8S_GLUE_MAX_PODS", "the agent's max pods") or args.max_pods
    if not max_raw:
        return queues, None
    try:
        return queues, int(str(max_raw).strip())
    except ValueError:
        raise InstallError(f"{a.where}: K8S_GLUE_MAX_PODS {max_raw!r} is not a whole number; repair it") from None


def _task_kind(a: _Agent, extra_env: list[Obj], parsed: template.TaskTemplate) -> str:
    """What the agent creates per task (CLEARML_K8S_GLUE_KIND): pod or job."""
    kind = next(
        (str(v.get("value") or "").strip().lower() for v in extra_env if v.get("name") == "CLEARML_K8S_GLUE_KIND"),
        "pod",
    )
    if kind not in ("pod", "job"):
        raise InstallError(f"{a.where} sets CLEARML_K8S_GLUE_KIND={kind!r}; the agent knows pod or job: repair it")
    kinds = set(parsed.queue_kinds.values()) | ({parsed.kind} if not parsed.queues else set())
    if kinds - {kind}:
        a.notes.append(
            f"the source template is a {'/'.join(sorted(kinds))} template while the agent creates "
            f"{kind}s (CLEARML_K8S_GLUE_KIND): the chart writes a {kind} template"
        )
    return kind


def _command(neat_c: Obj, warnings: list[str]) -> list[str]:
    """The agent container's command followed by its args: Kubernetes runs exactly that, so one list in the
    chart's agent.command runs the same. Args without a command go to the image's entrypoint, which the
    chart's default command replaces: said in a warning."""
    command = [str(c) for c in as_list(neat_c.get("command"))]
    args = [str(c) for c in as_list(neat_c.get("args"))]
    if args and not command:
        warnings.append(
            "the source agent container passes args to its image's entrypoint, which the chart replaces with its "
            "own agent.command: not carried (set agent.command to the whole command line)"
        )
        return []
    return command + args


def _pod_labels(deploy: Obj, pod_meta: Obj) -> Obj:
    """The agent pod's own labels: not the selector's, which the chart sets, nor app.kubernetes.io/*."""
    selector = as_dict(as_dict(as_dict(deploy.get("spec")).get("selector")).get("matchLabels"))
    return {
        k: v
        for k, v in clean_labels(pod_meta.get("labels")).items()
        if k not in selector and not k.startswith("app.kubernetes.io/")
    }


def _service_account_annotations(source: Source, sa_name: str) -> Obj:
    for sa in source.objects("ServiceAccount"):
        if _name(sa) == sa_name:
            return clean_annotations(as_dict(sa.get("metadata")).get("annotations"))
    return {}


def _pod_notes(a: _Agent, neat_spec: Obj) -> None:
    """What of the agent pod the chart does not carry: other containers, init containers, other fields."""
    for other in as_list(a.spec.get("containers")):
        if isinstance(other, dict) and other is not a.container:
            a.warnings.append(
                f"the source agent pod runs container {other.get('name')!r} beside the agent: not carried"
            )
    for init in as_list(a.spec.get("initContainers")):
        if isinstance(init, dict):
            a.notes.append(
                f"the source agent's init container {init.get('name')!r} (it waits for the ClearML servers) is "
                "not carried: the agent itself retries until ClearML answers"
            )
    for extra in sorted(set(neat_spec) - AGENT_POD_FIELDS):
        a.warnings.append(f"the source agent pod sets spec.{extra}, which the chart does not carry")


def _services(source: Source) -> frozenset[str] | None:
    """Names of the namespace's Services; None when the source does not say (a dump without Services)."""
    services = source.objects("Service")
    if services or source.lists("Service"):
        return frozenset(_name(s) for s in services)
    return None


def _task_env(pod_template: Obj) -> list[Obj]:
    containers = as_list((pod_template.get("spec") or {}).get("containers"))
    first = containers[0] if containers and isinstance(containers[0], dict) else {}
    return [e for e in as_list(first.get("env")) if isinstance(e, dict)]


def _secret_env_values(env: list[Obj]) -> set[str]:
    # by name the whole value; a secret by shape (a URL's password) is blotted out by its shape alone
    return {str(e["value"]) for e in env if secret_env_value(e) and is_secret_name(str(e.get("name", "")))}


def role_verbs(source: Source) -> dict[str, list[str]]:
    """Verbs on pods granted by each Role in the namespace (for discovery and version hints)."""
    out: dict[str, list[str]] = {}
    for role in source.objects("Role"):
        verbs: set[str] = set()
        for rule in as_list(role.get("rules")):
            if isinstance(rule, dict) and "pods" in (rule.get("resources") or []):
                verbs.update(str(v) for v in rule.get("verbs") or [])
        if verbs:
            out[_name(role)] = sorted(verbs)
    return out
