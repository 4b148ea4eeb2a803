"""The agent container of an installed release, and the same process on this host (pure: no I/O).

Our chart's agent container runs the clearml-agent k8s glue image's entrypoint (``/root/entrypoint.sh``;
clearml-agent repository, ``docker/k8s-glue/build-resources/entrypoint.sh`` and
``examples/k8s_glue_example.py``, at v3.0.3). With the env the chart sets, that entrypoint:

1. defaults ``CLEARML_FILES_HOST``/``CLEARML_WEB_HOST``/``CLEARML_API_HOST`` from the host's public IP
   (``curl ifconfig.me``) when ``CLEARML_FILES_HOST`` is empty;
2. runs ``pip install -U clearml-agent`` unless ``CLEARML_AGENT_NO_UPDATE`` is set;
3. appends the credentials and the three hosts to ``~/clearml.conf`` (which fails, leaving the file as
   it is, when the chart mounts ``clearml.conf`` read-only from the Secret there);
4. runs ``python3 k8s_glue_example.py --queue ${K8S_GLUE_QUEUE:-k8s_glue}`` plus
   ``--max-pods ${K8S_GLUE_MAX_PODS}`` when that is set, plus ``${K8S_GLUE_EXTRA_ARGS}`` split on
   blanks; the example builds ``K8sIntegration`` from those flags and runs ``k8s_daemon`` (here:
   ``k8s_glue.py``, the same flags and calls).

``plan_launch`` turns the release's Deployment (and the ConfigMaps and Secrets it references, as the
API server holds them) into that same process on this host. Where the host cannot be the pod, it
substitutes, and says so in ``Launch.substitutions``:

* the container's ``/root`` (its HOME) and ``/tmp`` are directories of the run; every volume the
  Deployment mounts there (the task-pod template ConfigMap at ``/root/template``, ``clearml.conf`` from
  the Secret) is written there from the API server's objects, and ``/root/...`` paths in
  ``K8S_GLUE_EXTRA_ARGS``/``CLEARML_CONFIG_FILE`` point there; a mount elsewhere (a CA bundle at
  ``/etc/ssl/corp``, files at ``/mnt/python``) lands under the run's ``fs/`` directory, env values that
  point into it follow, and a volume the host cannot provide (a claim, NFS) is an empty directory;
* the ClearML hosts are in-cluster service names that do not resolve on the host: all three point at
  the ClearML stand-in (the public-IP lookup of step 1 is not made: 127.0.0.1 stands for it);
* the image's ``python3`` is the pinned clearml-agent's venv; its ``kubectl`` is ``.cache/tools/kubectl``;
* the pod's mounted ServiceAccount token (in-cluster config) is a kubeconfig holding a token of the
  same ServiceAccount, pointing at the local API server, namespace = the release's;
* step 2 is never run (the pinned agent stays pinned): ``Launch.self_update`` says whether the
  container would have run it;
* the image's ``en_US.UTF-8`` locale is ``C.UTF-8``; output is unbuffered so that a test can follow
  the log; the proxy variables point at a closed local port (loopback excepted), so the agent's daily
  version check (updates.clear.ml) fails at once, as in an air-gapped cluster, and no test reaches
  the internet; a proxy the release sets is replaced the same way, and ``NO_PROXY`` keeps loopback.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

CONTAINER_HOME = PurePosixPath("/root")
CONTAINER_TMP = PurePosixPath("/tmp")
STOCK_ENTRYPOINT = "/root/entrypoint.sh"
# a local port nothing listens on: what the proxy variables point at
CLOSED_PROXY = "http://127.0.0.1:9"


class AgentHarnessError(RuntimeError):
    """The release cannot be run as the stock agent container runs it, or the agent misbehaved."""


@dataclass(frozen=True)
class HostSide:
    """Where the pieces of the container are on this host."""

    home: Path  # the container's /root
    tmp: Path  # the container's /tmp
    bin: Path  # holds `kubectl`, first on PATH
    kubeconfig: Path  # a token of the agent's ServiceAccount
    python: str  # the pinned clearml-agent's interpreter
    glue: Path  # k8s_glue.py, the image's k8s_glue_example.py
    root: Path | None = None  # the container's / for mounts outside /root and /tmp (None: refuse them)


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    files: dict[Path, str]  # host path -> content: mounted volumes and ~/clearml.conf
    dirs: list[Path]  # emptyDir mounts and the container's writable directories
    queues: list[str]
    self_update: bool  # the container would `pip install -U clearml-agent` before starting
    in_cluster_api_host: str
    substitutions: list[str] = field(default_factory=list)


def _b64(text: str) -> str:
    return base64.b64decode(text).decode("utf-8")


def _host_path(path: str, host: HostSide) -> Path:
    p = PurePosixPath(path)
    for root, there in ((CONTAINER_HOME, host.home), (CONTAINER_TMP, host.tmp)):
        if p == root or root in p.parents:
            return there.joinpath(*p.relative_to(root).parts)
    if host.root is not None and p.is_absolute():
        return host.root.joinpath(*p.parts[1:])
    raise AgentHarnessError(f"the agent container mounts {path}: only /root and /tmp are mapped to the host")


def resolve_env(
    container: Mapping[str, Any], namespace: str, configmaps: Mapping[str, Any], secrets: Mapping[str, Any]
) -> dict[str, str]:
    """The container's environment as the kubelet builds it from the API server's objects."""
    if container.get("envFrom"):
        raise AgentHarnessError("the agent container uses envFrom, which the harness does not resolve")
    env: dict[str, str] = {}
    for entry in container.get("env") or []:
        name = str(entry["name"])
        if "value" in entry or "valueFrom" not in entry:
            env[name] = str(entry.get("value") or "")
            continue
        source = entry["valueFrom"]
        if "secretKeyRef" in source or "configMapKeyRef" in source:
            kind, ref = (
                ("Secret", source["secretKeyRef"])
                if "secretKeyRef" in source
                else ("ConfigMap", source["configMapKeyRef"])
            )
            objects = secrets if kind == "Secret" else configmaps
            obj = objects.get(ref["name"])
            data = (obj or {}).get("data") or {}
            if ref["key"] not in data:
                if ref.get("optional"):
                    continue
                # the kubelet refuses to start the container (CreateContainerConfigError)
                raise AgentHarnessError(f"env {name}: {kind} {namespace}/{ref['name']} has no key {ref['key']}")
            env[name] = _b64(data[ref["key"]]) if kind == "Secret" else str(data[ref["key"]])
        elif source.get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[name] = namespace
        else:
            raise AgentHarnessError(f"env {name}: valueFrom {sorted(source)} is not resolved by the harness")
    return env


def _volume_files(
    volume: Mapping[str, Any], configmaps: Mapping[str, Any], secrets: Mapping[str, Any], namespace: str
) -> dict[str, str] | None:
    """key path -> content of a configMap or secret volume; None for an emptyDir."""
    if "emptyDir" in volume:
        return None
    if "configMap" in volume:
        src, obj = volume["configMap"], configmaps.get(volume["configMap"]["name"])
        data = {k: str(v) for k, v in ((obj or {}).get("data") or {}).items()}
        what = f"ConfigMap {namespace}/{src['name']}"
    elif "secret" in volume:
        src, obj = volume["secret"], secrets.get(volume["secret"]["secretName"])
        data = {k: _b64(v) for k, v in ((obj or {}).get("data") or {}).items()}
        what = f"Secret {namespace}/{src['secretName']}"
    else:
        return None  # a claim, NFS, a host path: storage the host cannot provide, an empty directory here
    if obj is None:
        raise AgentHarnessError(f"volume {volume['name']}: {what} does not exist")  # the pod would not start
    items = src.get("items") or []
    missing = [item["key"] for item in items if item["key"] not in data]
    if missing:  # the kubelet cannot mount the volume; the pod does not start
        raise AgentHarnessError(f"volume {volume['name']}: {what} has no key {', '.join(missing)}")
    return {item["path"]: data[item["key"]] for item in items} if items else data


def plan_launch(
    deployment: Mapping[str, Any],
    configmaps: Mapping[str, Any],
    secrets: Mapping[str, Any],
    host: HostSide,
    clearml_url: str,
    extra_env: Mapping[str, str] | None = None,
) -> Launch:
    """The agent container of ``deployment``, as a process of this host talking to ``clearml_url``."""
    namespace = str(deployment["metadata"]["namespace"])
    spec = deployment["spec"]["template"]["spec"]
    container = spec["containers"][0]
    command = " ".join(container.get("command") or []) + " " + " ".join(container.get("args") or [])
    if STOCK_ENTRYPOINT not in command:
        raise AgentHarnessError(
            f"the agent container runs {command.strip()!r}; only the k8s glue image's {STOCK_ENTRYPOINT} is reproduced"
        )
    if spec.get("automountServiceAccountToken") is False:
        raise AgentHarnessError("the agent pod mounts no ServiceAccount token: its kubectl could not authenticate")
    notes = [
        "/root (HOME) and /tmp of the container are directories of this run",
        f"the pinned clearml-agent runs from {host.python}, kubectl from {host.bin}",
        f"in-cluster credentials: a kubeconfig with a token of ServiceAccount "
        f"{namespace}/{spec.get('serviceAccountName') or 'default'}",
        "locale C.UTF-8 for en_US.UTF-8; output unbuffered; proxies point at a closed local port",
    ]

    # volumes mounted into the container, from the API server's objects
    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    files: dict[Path, str] = {}
    dirs = [host.home, host.tmp, host.bin]
    mounted_conf = False
    for mount in container.get("volumeMounts") or []:
        target = _host_path(mount["mountPath"], host)
        volume = volumes[mount["name"]]
        content = _volume_files(volume, configmaps, secrets, namespace)
        if content is None and "emptyDir" not in volume:
            notes.append(
                f"volume {mount['name']} ({', '.join(k for k in volume if k != 'name')}) is an empty directory"
            )
        if content is None:
            dirs.append(target)
        elif mount.get("subPath"):
            files[target] = content[mount["subPath"]]
        else:
            files.update({target / key: text for key, text in content.items()})
        mounted_conf |= target == host.home / "clearml.conf"
        notes.append(f"volume {mount['name']} at {mount['mountPath']} -> {target}")

    env = resolve_env(container, namespace, configmaps, secrets)
    # env that points into a mount (REQUESTS_CA_BUNDLE=/etc/ssl/corp/ca.crt) follows it to the host
    mount_paths = sorted((m["mountPath"] for m in container.get("volumeMounts") or []), key=len, reverse=True)
    for name, value in list(env.items()):
        if name != "CLEARML_CONFIG_FILE" and any(
            value == m or value.startswith(m.rstrip("/") + "/") for m in mount_paths
        ):
            env[name] = str(_host_path(value, host))
            notes.append(f"{name} {value} -> {env[name]}")

    # step 1: the hosts (the entrypoint exports all three, defaulted from the host's public IP)
    in_cluster_api = env.get("CLEARML_API_HOST", "")
    host_ip = ""
    if not env.get("CLEARML_FILES_HOST"):
        host_ip = "127.0.0.1"
        notes.append("the entrypoint's public-IP lookup (curl ifconfig.me) is 127.0.0.1")
    for var, port in (("CLEARML_FILES_HOST", 8081), ("CLEARML_WEB_HOST", 8080), ("CLEARML_API_HOST", 8008)):
        notes.append(f"{var} {env.get(var) or f'http://{host_ip}:{port}'} -> the ClearML stand-in {clearml_url}")
        env[var] = clearml_url

    # step 2: never run here
    self_update = not env.get("CLEARML_AGENT_NO_UPDATE")

    # step 3: ~/clearml.conf
    conf = host.home / "clearml.conf"
    if not mounted_conf:
        files[conf] = "\n".join(
            [
                "# the image's clearml.conf holds defaults only; the entrypoint appends:",
                f"api.credentials.access_key: {env.get('CLEARML_API_ACCESS_KEY', '')}",
                f"api.credentials.secret_key: {env.get('CLEARML_API_SECRET_KEY', '')}",
                f"api.api_server: {env['CLEARML_API_HOST']}",
                f"api.web_server: {env['CLEARML_WEB_HOST']}",
                f"api.files_server: {env['CLEARML_FILES_HOST']}",
                "",
            ]
        )
    if env.get("CLEARML_CONFIG_FILE"):
        env["CLEARML_CONFIG_FILE"] = str(_host_path(env["CLEARML_CONFIG_FILE"], host))

    # step 4: the glue
    queue = env.get("K8S_GLUE_QUEUE") or "k8s_glue"
    argv = [host.python, str(host.glue), "--queue", *queue.split()]
    if env.get("K8S_GLUE_MAX_PODS"):
        argv += ["--max-pods", *env["K8S_GLUE_MAX_PODS"].split()]
    for word in (env.get("K8S_GLUE_EXTRA_ARGS") or "").split():
        argv.append(str(_host_path(word, host)) if word.startswith(f"{CONTAINER_HOME}/") else word)

    process_env = {
        "HOME": str(host.home),
        "TMPDIR": str(host.tmp),
        "PATH": f"{host.bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LC_ALL": "C.UTF-8",
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "KUBECONFIG": str(host.kubeconfig),
        **env,
    }
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        if env.get(proxy):
            notes.append(f"{proxy} {env[proxy]} -> a closed local port")
        process_env[proxy] = CLOSED_PROXY
    for name in ("no_proxy", "NO_PROXY"):
        process_env[name] = ",".join(filter(None, [env.get(name, ""), "127.0.0.1,localhost"]))
    for name, value in (extra_env or {}).items():
        notes.append(f"{name}={value} (set by the harness)")
        process_env[name] = value
    return Launch(
        argv=argv,
        env=process_env,
        files=files,
        dirs=dirs,
        queues=[q for q in queue.split(",") if q],
        self_update=self_update,
        in_cluster_api_host=in_cluster_api,
        substitutions=notes,
    )
