"""Pod Security Standards against the pods a release makes (pure: no client, no cluster).

A namespace labelled `pod-security.kubernetes.io/enforce: baseline|restricted` has the API server refuse
every pod that breaks the level: the agent's (its ReplicaSet then makes none) and every task pod the agent
creates. `violations` follows the checks of the Kubernetes Pod Security Standards (level `latest`) as the
admission names them; `pods_from_values` builds the agent pod and the task pod the chart makes from a
release's values, so `render` can say what a namespace would refuse before anything is installed.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from .models import Obj

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
LEVELS = ("privileged", "baseline", "restricted")

# baseline: capabilities a container may add (the container runtime's defaults)
BASELINE_CAPABILITIES = frozenset(
    [
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ]
)
SAFE_SYSCTLS = frozenset(
    [
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    ]
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
# restricted: the only volume types allowed
RESTRICTED_VOLUMES = frozenset(
    [
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    ]
)


def namespace_level(namespace: Obj | None) -> str:
    """The level a namespace enforces (`privileged` when it says none)."""
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    level = str(labels.get(ENFORCE_LABEL) or "privileged")
    return level if level in LEVELS else "privileged"


def _containers(spec: Obj) -> list[Obj]:
    return [
        c
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in (spec.get(key) or [])
        if isinstance(c, dict)
    ]


def _d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _caps(value: Any) -> set[str]:
    return {str(c).upper().removeprefix("CAP_") for c in (value or []) if c is not None}


class _Findings:
    """What one pod spec breaks, gathered check by check, worded as the admission words it."""

    def __init__(self, spec: Obj) -> None:
        self.spec = spec
        self.pod_sc = _d(spec.get("securityContext"))
        self.containers = _containers(spec)
        self.out: list[str] = []

    def names(self, pred: Any) -> str:
        found = [str(c.get("name") or "?") for c in self.containers if pred(c, _d(c.get("securityContext")))]
        return ", ".join(f'"{n}"' for n in found)

    def add(self, check: str, who: str, what: str) -> None:
        if who:
            self.out.append(f"{check} (container{'s' if ', ' in who else ''} {who} {what})")


def violations(spec: Obj, level: str) -> list[str]:
    """What in a pod spec the level forbids, one entry per check, worded as the admission words it."""
    if level not in ("baseline", "restricted"):
        return []
    found = _Findings(spec)
    _baseline(found)
    if level == "restricted":
        _restricted(found)
    return found.out


def _baseline(f: _Findings) -> None:
    host = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if f.spec.get(k) is True]
    if host:
        f.out.append(f"host namespaces ({', '.join(host)})")
    privileged = f.names(lambda c, sc: sc.get("privileged") is True)
    f.add("privileged", privileged, "must not set securityContext.privileged=true")
    f.add(
        "non-default capabilities",
        f.names(lambda c, sc: _caps(_d(sc.get("capabilities")).get("add")) - BASELINE_CAPABILITIES),
        "must not include capabilities beyond the default set in securityContext.capabilities.add",
    )
    host_path = [str(v.get("name")) for v in f.spec.get("volumes") or [] if isinstance(v, dict) and "hostPath" in v]
    if host_path:
        f.out.append(f"hostPath volumes ({', '.join(host_path)})")
    f.add(
        "hostPort",
        f.names(lambda c, sc: any(_d(p).get("hostPort") for p in c.get("ports") or [])),
        "must not set hostPort",
    )

    def selinux_bad(sc: Obj) -> bool:
        se = _d(sc.get("seLinuxOptions"))
        return str(se.get("type") or "") not in SELINUX_TYPES or bool(se.get("user")) or bool(se.get("role"))

    if selinux_bad(f.pod_sc) or any(selinux_bad(_d(c.get("securityContext"))) for c in f.containers):
        f.out.append("seLinuxOptions (pod and containers must not set a forbidden type, user or role)")
    f.add(
        "procMount",
        f.names(lambda c, sc: sc.get("procMount") not in (None, "Default")),
        "must not set securityContext.procMount",
    )
    pod_seccomp = _d(f.pod_sc.get("seccompProfile")).get("type")
    if pod_seccomp == "Unconfined" or any(
        _d(_d(c.get("securityContext")).get("seccompProfile")).get("type") == "Unconfined" for c in f.containers
    ):
        f.out.append("seccompProfile (pod and containers must not set seccompProfile.type to Unconfined)")
    sysctls = [str(_d(s).get("name")) for s in f.pod_sc.get("sysctls") or [] if _d(s).get("name") not in SAFE_SYSCTLS]
    if sysctls:
        f.out.append(f"forbidden sysctls ({', '.join(sysctls)})")


def _restricted(f: _Findings) -> None:
    bad_volumes = [
        f"{v.get('name')}: {next((k for k in v if k != 'name'), '?')}"
        for v in f.spec.get("volumes") or []
        if isinstance(v, dict) and not any(k in RESTRICTED_VOLUMES for k in v if k != "name")
    ]
    if bad_volumes:
        f.out.append(f"restricted volume types ({', '.join(bad_volumes)})")
    f.add(
        "allowPrivilegeEscalation != false",
        f.names(lambda c, sc: sc.get("allowPrivilegeEscalation") is not False),
        "must set securityContext.allowPrivilegeEscalation=false",
    )
    f.add(
        "unrestricted capabilities",
        f.names(
            lambda c, sc: (
                "ALL" not in _caps(_d(sc.get("capabilities")).get("drop"))
                or bool(_caps(_d(sc.get("capabilities")).get("add")) - {"NET_BIND_SERVICE"})
            )
        ),
        'must set securityContext.capabilities.drop=["ALL"] and add at most NET_BIND_SERVICE',
    )
    pod_non_root = f.pod_sc.get("runAsNonRoot")
    f.add(
        "runAsNonRoot != true",
        f.names(lambda c, sc: sc.get("runAsNonRoot", pod_non_root) is not True),
        "must set securityContext.runAsNonRoot=true (or the pod's)",
    )
    pod_user = f.pod_sc.get("runAsUser")
    f.add("runAsUser=0", f.names(lambda c, sc: sc.get("runAsUser", pod_user) == 0), "must not run as user 0")
    f.add(
        "seccompProfile",
        f.names(
            lambda c, sc: (
                _d(sc.get("seccompProfile") or f.pod_sc.get("seccompProfile")).get("type")
                not in ("RuntimeDefault", "Localhost")
            )
        ),
        "must set securityContext.seccompProfile.type to RuntimeDefault or Localhost (or the pod's)",
    )


def container_security_context(settings: Obj) -> Obj:
    """The chart's `clearml-runai-agent.securityContext`: the user's settings win over the hardening
    defaults where Kubernetes refuses both together."""
    sc = copy.deepcopy(settings)
    caps = _d(sc.get("capabilities"))
    add = [str(c) for c in caps.get("add") or []]
    escalates = sc.get("privileged") or {"SYS_ADMIN", "CAP_SYS_ADMIN"} & set(add)
    if escalates and sc.get("allowPrivilegeEscalation") is False:
        del sc["allowPrivilegeEscalation"]
    if add and caps.get("drop"):
        caps = dict(caps)
        drop = [c for c in caps["drop"] if c not in add]
        if drop:
            caps["drop"] = drop
        else:
            del caps["drop"]
        sc["capabilities"] = caps
    return sc


HARDENED_AGENT = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "runAsUser": 10001, "runAsGroup": 10001}


def pods_from_values(values: Obj) -> dict[str, Obj]:
    """The pod specs the chart makes from `values` (as its templates build them), by what they are:
    "agent" (the Deployment's pod) and "task pods" (the template every task pod starts from)."""
    agent = _d(values.get("agent"))
    settings = dict(HARDENED_AGENT) if agent.get("hardened") else {}
    settings.update(_d(agent.get("securityContext")))
    agent_spec: Obj = {
        "containers": [{"name": "k8s-glue", "securityContext": container_security_context(settings)}],
        "volumes": list(agent.get("volumes") or []),
    }
    if agent.get("podSecurityContext"):
        agent_spec["securityContext"] = agent["podSecurityContext"]

    task = _d(values.get("taskPod"))
    container: Obj = {"name": "task"}
    if task.get("securityContext"):
        container["securityContext"] = container_security_context(_d(task["securityContext"]))
    container.update(_d(task.get("extraContainerSpec")))
    task_spec: Obj = {"containers": [container]}
    for key, field in (("podSecurityContext", "securityContext"), ("initContainers", ""), ("volumes", "")):
        if task.get(key):
            task_spec[field or key] = task[key]
    task_spec.update({k: v for k, v in _d(task.get("extraPodSpec")).items() if k != "containers"})
    return {"agent": agent_spec, "task pods": task_spec}


# what each pod needs to meet `restricted`, where its image allows: the values that say so
RESTRICTED_HINTS = {
    "agent": "agent.hardened: true with an agent image built to run as non-root (the chart's ci/hardened-values.yaml)",
    "task pods": "taskPod.podSecurityContext.runAsNonRoot: true (with runAsUser) and "
    'taskPod.securityContext.capabilities.drop: ["ALL"], for task images that run as non-root '
    "(the chart's ci/hardened-values.yaml)",
}


def merged_values(defaults: Obj, values: Obj) -> Obj:
    """`values` over the chart's defaults, as helm merges them: maps key by key, a null drops the default."""
    out = copy.deepcopy(defaults)
    for key, value in values.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged_values(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@functools.cache
def chart_defaults() -> Obj:
    """The chart's own values.yaml (it travels inside the tool)."""
    from .chart import chart_path
    from .parse import load_document

    path = chart_path() / "values.yaml"
    data = load_document(path.read_text(encoding="utf-8"), str(path), "reinstall clearml-runai")
    return data if isinstance(data, dict) else {}


def refusals(values: Obj, namespace: str, level: str, defaults: Obj | None = None) -> list[str]:
    """One warning per pod of the release that a namespace enforcing `level` would refuse, with what to set.

    `values` are a release's own; `defaults` the chart's values.yaml they are merged over."""
    out = []
    effective = merged_values(chart_defaults() if defaults is None else defaults, values)
    for what, spec in pods_from_values(effective).items():
        found = violations(spec, level)
        if not found:
            continue
        message = (
            f"namespace {namespace} enforces Pod Security {level!r} ({ENFORCE_LABEL}), which refuses the "
            f"{what}: {'; '.join(found)}"
        )
        if level == "restricted":
            message += f"; set {RESTRICTED_HINTS[what]}"
        else:
            message += "; remove these settings from the values, or ask for a namespace that allows them"
        out.append(message)
    return out
