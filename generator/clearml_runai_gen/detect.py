"""Which ClearML agent install a namespace holds, read into a typed model.

Flavour A: the k8sagent of the `clearml` chart (3.4 to 3.10). Flavour B: the `clearml-agent` chart (4.x/5.x).
Both are recognised from the objects themselves (any release name), never from fixed names: the agent
Deployment is the one whose container runs the k8s glue, and every other object is found by following
its references (template ConfigMap by volume, credentials by secretKeyRef).
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from . import template
from .errors import InstallError, UsageError
from .models import AgentInstall, Credentials, Hosts, Obj
from .neat import as_list, clean_annotations, clean_labels, neat_container, neat_pod_spec
from .redact import is_secret_name, secret_env_value
from .source import DUMP_KINDS, Source

GLUE_ENV = ("K8S_GLUE_QUEUE", "K8S_GLUE_EXTRA_ARGS")
GLUE_CONTAINERS = {"k8s-glue-container": "A", "k8s-glue": "B"}
DEFAULT_TEMPLATE_PATH = "/root/template/template.yaml"
DEFAULT_CONF_PATH = "/root/clearml.conf"

# env of the agent container that the chart sets itself; everything else is carried over as extraEnv
MANAGED_AGENT_ENV = frozenset(
    {
        "CLEARML_API_HOST",
        "CLEARML_WEB_HOST",
        "CLEARML_FILES_HOST",
        "CLEARML_API_ACCESS_KEY",
        "CLEARML_API_SECRET_KEY",
        "K8S_GLUE_QUEUE",
        "K8S_GLUE_MAX_PODS",
        "K8S_GLUE_EXTRA_ARGS",
        "K8S_DEFAULT_NAMESPACE",
        "CLEARML_WORKER_ID",
        "CLEARML_DOCKER_IMAGE",
        "CLEARML_AGENT_NO_UPDATE",
        "CLEARML_CONFIG_FILE",
    }
)


# env that only the enterprise agent reads, and what for
ENTERPRISE_ENV = {
    "CLEARML_K8S_SECRETS_LIST_FILE": "per-queue Secret lists in the template ConfigMap",
    "CLEARML_K8S_GLUE_APPLY_VAULT_ENV_VARS": "ClearML Vault",
    "CLEARML_K8S_GLUE_POD_MIN_RES_FIELD": "resource counting",
    "CLEARML_K8S_GLUE_POD_MAX_RES_FIELD": "resource counting",
    "CLEARML_K8S_GLUE_MAX_RESOURCES": "resource counting",
}
# env of clearml-session's ports mode: Services per pod, applied from the template ConfigMap
PORTS_MODE_ENV = frozenset(
    {
        "CLEARML_K8S_GLUE_POD_POST_APPLY_CMD",
        "CLEARML_K8S_GLUE_POD_POST_DELETE_CMD",
        "CLEARML_K8S_GLUE_LIMIT_POD_LABEL",
        "CLEARML_K8S_GLUE_SET_QUEUE_SYSTEM_TAGS",
    }
)
FILE_MOUNTS_VOLUME = "filemounts"  # the clearml-agent chart's volume of agentk8sglue.fileMounts
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


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


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


class _Resolver:
    """Reads Secrets and ConfigMaps of the namespace that the agent refers to."""

    def __init__(self, source: Source, deploy: str) -> None:
        self.source = source
        self.deploy = deploy
        self.ns = source.namespace
        self.read_secrets: set[str] = set()  # every secret value read: never printed

    def _find(self, kind: str, name: str, purpose: str) -> Obj:
        for obj in self.source.objects(kind):
            if _name(obj) == name:
                return obj
        raise InstallError(
            f"{kind} {self.ns}/{name} ({purpose}, used by Deployment {self.ns}/{self.deploy}) is missing; "
            f"include it (kubectl get {DUMP_KINDS} -n {self.ns} -o yaml) or repair the install"
        )

    def secret_value(self, name: str, key: str, purpose: str) -> str:
        secret = self._find("Secret", name, purpose)
        string_data = secret.get("stringData") or {}
        if isinstance(string_data, dict) and key in string_data:
            self.read_secrets.add(str(string_data[key]))
            return str(string_data[key])
        data = secret.get("data") or {}
        if not isinstance(data, dict) or key not in data:
            keys = (
                sorted(set(data) | set(string_data)) if isinstance(data, dict) and isinstance(string_data, dict) else []
            )
            raise InstallError(
                f"Secret {self.ns}/{name} has no key {key!r} ({purpose}; it has: {', '.join(keys) or 'none'}); "
                "repair the install's secret"
            )
        raw = data[key]
        try:
            value = base64.b64decode(str(raw), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InstallError(
                f"Secret {self.ns}/{name} key {key!r} is not base64-encoded UTF-8 text; "
                "repair the secret (kubectl get secret -o yaml prints data base64-encoded)"
            ) from None
        self.read_secrets.add(value)
        return value

    def configmap_value(self, name: str, key: str, purpose: str) -> str:
        cm = self._find("ConfigMap", name, purpose)
        data = cm.get("data") or {}
        if not isinstance(data, dict) or key not in data:
            keys = sorted(data) if isinstance(data, dict) else []
            raise InstallError(
                f"ConfigMap {self.ns}/{name} has no key {key!r} ({purpose}; it has: {', '.join(keys) or 'none'}); "
                "repair the install's ConfigMap"
            )
        return str(data[key])

    def env_value(self, env: dict[str, Obj], name: str, purpose: str) -> str | None:
        entry = env.get(name)
        if entry is None:
            return None
        if "value" in entry:
            return "" if entry["value"] is None else str(entry["value"])
        ref = entry.get("valueFrom") or {}
        if isinstance(ref.get("secretKeyRef"), dict):
            r = ref["secretKeyRef"]
            return self.secret_value(str(r.get("name")), str(r.get("key")), purpose)
        if isinstance(ref.get("configMapKeyRef"), dict):
            r = ref["configMapKeyRef"]
            return self.configmap_value(str(r.get("name")), str(r.get("key")), purpose)
        return ""


@dataclass
class GlueArgs:
    """K8S_GLUE_EXTRA_ARGS, parsed as the shell does (so `--namespace` inside another value is never touched)."""

    rest: list[str]
    namespace: str | None = None
    template_yaml: str | None = None
    max_pods: str | None = None
    # clearml-session ports mode: --ports-mode and the flags that go with it
    ports: dict[str, str] = field(default_factory=dict)


_VALUE_FLAGS = ("--namespace", "--template-yaml", "--max-pods")
_PORTS_FLAGS = ("--num-of-services", "--base-port", "--gateway-address", "--base-pod-num")


def split_extra_args(raw: str) -> GlueArgs:
    try:
        words = shlex.split(raw)
    except ValueError as exc:
        raise InstallError(f"K8S_GLUE_EXTRA_ARGS {raw!r} cannot be parsed as shell words: {exc}") from None
    taken: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        flag, eq, value = word.partition("=")
        if flag in _VALUE_FLAGS or flag in _PORTS_FLAGS:
            if eq:
                taken[flag] = value
            elif i + 1 < len(words):
                taken[flag] = words[i + 1]
                i += 1
            i += 1
            continue
        if word == "--ports-mode":
            taken[word] = ""
        else:
            rest.append(word)
        i += 1
    ports = {k: v for k, v in taken.items() if k == "--ports-mode" or k in _PORTS_FLAGS}
    return GlueArgs(
        rest,
        namespace=taken.get("--namespace"),
        template_yaml=taken.get("--template-yaml"),
        max_pods=taken.get("--max-pods"),
        ports=ports if "--ports-mode" in ports else {},
    )


def split_image(image: str) -> tuple[str, str, str]:
    """image -> (repository, tag, digest)."""
    digest = ""
    if "@" in image:
        image, digest = image.split("@", 1)
    repo, tag = image, ""
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        repo, tag = image[:colon], image[colon + 1 :]
    return repo, tag, digest


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


def _volume_for_path(spec: Obj, container: Obj, path: str) -> tuple[Obj, Obj] | None:
    """The (volume, mount) that provides file `path` in the container."""
    volumes = {str(v.get("name")): v for v in as_list(spec.get("volumes")) if isinstance(v, dict)}
    best: tuple[Obj, Obj] | None = None
    for mount in as_list(container.get("volumeMounts")):
        if not isinstance(mount, dict):
            continue
        mpath = str(mount.get("mountPath", "")).rstrip("/")
        if path == mpath or path.startswith(mpath + "/"):
            vol = volumes.get(str(mount.get("name")))
            if vol is not None and (best is None or len(mpath) > len(str(best[1].get("mountPath", "")))):
                best = (vol, mount)
    return best


def _file_key(volume: Obj, mount: Obj, path: str) -> str:
    """Which key of a configMap/secret volume appears at `path`."""
    mpath = str(mount.get("mountPath", "")).rstrip("/")
    rel = str(mount.get("subPath") or "") if path == mpath else path[len(mpath) + 1 :]
    if path == mpath and not rel:
        rel = posixpath.basename(path)
    body = volume.get("configMap") or volume.get("secret") or {}
    for item in as_list(body.get("items")):
        if isinstance(item, dict) and item.get("path") == rel:
            return str(item.get("key"))
    return rel


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


def _read_agent(source: Source, deploy: Obj) -> AgentInstall:
    ns, name = source.namespace, _name(deploy)
    container = _glue_container(deploy)
    assert container is not None
    spec = _pod_spec(deploy)
    env = _env_map(container)
    res = _Resolver(source, name)
    notes: list[str] = []
    warnings: list[str] = []

    # credentials: follow the references instead of assuming secret names
    cred_keys: set[str] = set()
    cred_sources: set[str] = set()
    for var in ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY"):
        ref = ((env.get(var) or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
        if ref:
            cred_keys.add(str(ref.get("key")))
            cred_sources.add(f"Secret {ns}/{ref.get('name')}")
    access = res.env_value(env, "CLEARML_API_ACCESS_KEY", "the agent's access key")
    secret = res.env_value(env, "CLEARML_API_SECRET_KEY", "the agent's secret key")
    if not access or not secret:
        raise InstallError(
            f"Deployment {ns}/{name} sets no CLEARML_API_ACCESS_KEY/CLEARML_API_SECRET_KEY for its agent; "
            "repair the install or write the values by hand (clearml.accessKey/secretKey)"
        )

    flavour, chart_hint = _flavour(deploy, container, cred_keys)

    raw_args = res.env_value(env, "K8S_GLUE_EXTRA_ARGS", "agent arguments") or ""
    args = split_extra_args(raw_args)
    if args.namespace:
        notes.append(f"the source agent ran with --namespace {args.namespace}; the new one uses the Run:ai namespace")

    # the task-pod template, found through the volume mounted where --template-yaml points
    template_path = args.template_yaml or DEFAULT_TEMPLATE_PATH
    found = _volume_for_path(spec, container, template_path)
    if found is None or not isinstance(found[0].get("configMap"), dict):
        raise InstallError(
            f"Deployment {ns}/{name} mounts no ConfigMap at {posixpath.dirname(template_path)} where its "
            f"--template-yaml {template_path} points; repair the agent Deployment"
        )
    volume, mount = found
    cm_name = _required_str(
        volume["configMap"].get("name"), f"Deployment {ns}/{name}: template volume names no ConfigMap"
    )
    key = _file_key(volume, mount, template_path)
    text = res.configmap_value(cm_name, key, "the task-pod template")
    parsed = template.parse(text, f"ConfigMap {ns}/{cm_name} key {key!r}")
    notes += parsed.notes
    warnings += parsed.warnings

    # clearml.conf, when the agent mounts one (flavour B)
    conf_path = res.env_value(env, "CLEARML_CONFIG_FILE", "the clearml.conf path") or DEFAULT_CONF_PATH
    conf: str | None = None
    conf_found = _volume_for_path(spec, container, conf_path)
    if conf_found is not None:
        cvol, cmount = conf_found
        ckey = _file_key(cvol, cmount, conf_path)
        if isinstance(cvol.get("secret"), dict):
            conf = res.secret_value(str(cvol["secret"].get("secretName")), ckey, "the agent's clearml.conf")
        elif isinstance(cvol.get("configMap"), dict):
            conf = res.configmap_value(str(cvol["configMap"].get("name")), ckey, "the agent's clearml.conf")

    api_host = res.env_value(env, "CLEARML_API_HOST", "the ClearML API URL")
    if not api_host:
        raise InstallError(f"Deployment {ns}/{name} sets no CLEARML_API_HOST; repair the agent Deployment")
    hosts = Hosts(
        api=api_host,
        web=res.env_value(env, "CLEARML_WEB_HOST", "the ClearML web URL") or "",
        files=res.env_value(env, "CLEARML_FILES_HOST", "the ClearML files URL") or "",
    )

    queue_raw = res.env_value(env, "K8S_GLUE_QUEUE", "the agent's queue") or ""
    # a comma list; the enterprise chart joins its per-queue templates' names with spaces
    queues = [q for q in re.split(r"[,\s]+", queue_raw) if q]
    max_raw = res.env_value(env, "K8S_GLUE_MAX_PODS", "the agent's max pods") or args.max_pods
    max_pods: int | None = None
    if max_raw:
        try:
            max_pods = int(str(max_raw).strip())
        except ValueError:
            raise InstallError(
                f"Deployment {ns}/{name}: K8S_GLUE_MAX_PODS {max_raw!r} is not a whole number; repair it"
            ) from None

    image = _required_str(container.get("image"), f"Deployment {ns}/{name}: the agent container has no image")
    neat_c = neat_container(container)
    selector = ((deploy.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    pod_meta = ((deploy.get("spec") or {}).get("template") or {}).get("metadata") or {}
    pod_labels = {
        k: v
        for k, v in clean_labels(pod_meta.get("labels")).items()
        if k not in selector and not k.startswith("app.kubernetes.io/")
    }
    neat_spec = neat_pod_spec(spec)

    extra_env: list[Obj] = []
    for var in as_list(neat_c.get("env")):
        vname = str(var.get("name", ""))
        if vname in MANAGED_AGENT_ENV:
            continue
        if "valueFrom" not in var and not var.get("value"):
            continue  # the charts set CLEARML_AGENT_UPDATE_REPO="" and the like: empty means unset
        if vname in ENTERPRISE_ENV:
            warnings.append(
                f"the source agent sets {vname}, which only the enterprise agent reads "
                f"({ENTERPRISE_ENV[vname]}): not carried"
            )
            continue
        if args.ports and vname in PORTS_MODE_ENV:
            continue  # said with the ports mode below
        extra_env.append(var)
    task_kind = next(
        (str(v.get("value") or "").strip().lower() for v in extra_env if v.get("name") == "CLEARML_K8S_GLUE_KIND"),
        "pod",
    )
    if task_kind not in ("pod", "job"):
        raise InstallError(
            f"Deployment {ns}/{name} sets CLEARML_K8S_GLUE_KIND={task_kind!r}; the agent knows pod or job: repair it"
        )
    kinds = set(parsed.queue_kinds.values()) | ({parsed.kind} if not parsed.queues else set())
    if kinds - {task_kind}:
        notes.append(
            f"the source template is a {'/'.join(sorted(kinds))} template while the agent creates "
            f"{task_kind}s (CLEARML_K8S_GLUE_KIND): the chart writes a {task_kind} template"
        )

    own_volumes = {str(volume.get("name"))} | ({str(conf_found[0].get("name"))} if conf_found else set())
    volumes, mounts, file_mounts = _agent_volumes(res, neat_spec, neat_c, own_volumes, warnings)
    sa_name = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")
    sa_annotations: Obj = {}
    for sa in source.objects("ServiceAccount"):
        if _name(sa) == sa_name:
            sa_annotations = clean_annotations((sa.get("metadata") or {}).get("annotations"))
    for other in as_list(spec.get("containers")):
        if isinstance(other, dict) and other is not container:
            warnings.append(f"the source agent pod runs container {other.get('name')!r} beside the agent: not carried")
    for init in as_list(spec.get("initContainers")):
        if isinstance(init, dict):
            notes.append(
                f"the source agent's init container {init.get('name')!r} (it waits for the ClearML servers) is "
                "not carried: the agent itself retries until ClearML answers"
            )
    for extra in sorted(set(neat_spec) - AGENT_POD_FIELDS):
        warnings.append(f"the source agent pod sets spec.{extra}, which the chart does not carry")
    sessions: Obj = {}
    if args.ports:
        sessions = {k.lstrip("-"): v for k, v in args.ports.items() if k != "--ports-mode"}
    conf_sensitive = {conf} if conf else set()
    sensitive = (
        {access, secret}
        | conf_sensitive
        | res.read_secrets
        | _secret_env_values(as_list(neat_c.get("env")))
        | {v for t in [parsed.pod, *parsed.queues.values()] for v in _secret_env_values(_task_env(t))}
    )

    return AgentInstall(
        flavour=flavour,  # type: ignore[arg-type]
        namespace=ns,
        deployment=name,
        template_configmap=cm_name,
        chart_hint=chart_hint,
        image=image,
        pull_policy=str(container.get("imagePullPolicy") or ""),
        hosts=hosts,
        credentials=Credentials(access, secret, conf, ", ".join(sorted(cred_sources)) or f"Deployment {ns}/{name}"),
        queues=queues,
        worker_id=res.env_value(env, "CLEARML_WORKER_ID", "the worker id") or "",
        max_pods=max_pods,
        default_task_image=res.env_value(env, "CLEARML_DOCKER_IMAGE", "the default task image") or "",
        extra_args=args.rest,
        extra_env=extra_env,
        resources=neat_c.get("resources") or {},
        node_selector=neat_spec.get("nodeSelector") or {},
        tolerations=neat_spec.get("tolerations") or [],
        affinity=neat_spec.get("affinity") or {},
        image_pull_secrets=neat_spec.get("imagePullSecrets") or [],
        priority_class_name=str(neat_spec.get("priorityClassName") or ""),
        pod_annotations=clean_annotations(pod_meta.get("annotations")),
        pod_labels=pod_labels,
        template=parsed.pod,
        notes=notes,
        warnings=warnings,
        task_kind=task_kind,  # type: ignore[arg-type]
        queue_templates=parsed.queues,
        template_namespace=parsed.namespace,
        services=_services(source),
        source_objects={
            kind: frozenset(_name(o) for o in source.objects(kind))
            for kind in ("Secret", "ConfigMap")
            if source.lists(kind)
        },
        command=[str(c) for c in as_list(neat_c.get("command"))],
        volumes=volumes,
        volume_mounts=mounts,
        file_mounts=file_mounts,
        pod_security_context=neat_spec.get("securityContext") or {},
        security_context=neat_c.get("securityContext") or {},
        service_account=sa_name,
        service_account_annotations=sa_annotations,
        sessions=sessions,
        sensitive=frozenset(v for v in sensitive if v),
    )


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


def _agent_volumes(
    res: _Resolver, spec: Obj, container: Obj, own: set[str], warnings: list[str]
) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """The agent's own volumes and mounts, besides the template and clearml.conf the chart mounts itself.

    The clearml-agent chart's `fileMounts` (files from its Secret `<release>-afm`, each mounted by subPath)
    come back as files with their content, so the chart can carry them in a Secret of its own.
    """
    volumes = [v for v in as_list(spec.get("volumes")) if isinstance(v, dict) and v.get("name") not in own]
    mounts = [m for m in as_list(container.get("volumeMounts")) if isinstance(m, dict) and m.get("name") not in own]
    files: list[Obj] = []
    for vol in list(volumes):
        body = vol.get("secret")
        vmounts = [m for m in mounts if m.get("name") == vol.get("name")]
        if vol.get("name") != FILE_MOUNTS_VOLUME or not isinstance(body, dict) or not vmounts:
            continue
        if not all(m.get("subPath") for m in vmounts):
            continue
        for m in vmounts:
            content = res.secret_value(str(body.get("secretName")), str(m["subPath"]), "a file the agent mounts")
            files.append(
                {"name": str(m["subPath"]), "folderPath": posixpath.dirname(str(m["mountPath"])), "content": content}
            )
        volumes.remove(vol)
        mounts = [m for m in mounts if m not in vmounts]
    names = {str(v.get("name")) for v in volumes}
    for m in mounts:
        if m.get("name") not in names:
            warnings.append(f"the source agent mounts volume {m.get('name')!r}, which its pod does not define: dropped")
    return volumes, [m for m in mounts if m.get("name") in names], files


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
