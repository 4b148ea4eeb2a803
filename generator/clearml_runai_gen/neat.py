"""Strip what the API server and the source helm release own from objects. Pure functions.

Goes further than kubectl-neat: it also drops helm's ownership marks, the source chart's checksum
annotations, defaulted fields of every kind we read (not only core/v1), service-account token volumes,
and the empty or wrongly typed leftovers that old ClearML charts render (`tolerations: {}`,
`volumes: null`, `namespace: ""`). Every function is idempotent: neat(neat(x)) == neat(x).
"""

from __future__ import annotations

import copy
from typing import Any

from .models import Obj
from .objects import as_list, scalar_text

KEEP_METADATA = ("name", "namespace", "labels", "annotations")

# labels and annotations written by helm, kubectl or controllers, never by the user
OWNED_LABELS = frozenset(
    {
        "app.kubernetes.io/managed-by",
        "helm.sh/chart",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
        "pod-template-hash",
        "controller-revision-hash",
        "pod-template-generation",
    }
)
OWNED_ANNOTATION_PREFIXES = (
    "meta.helm.sh/",
    "helm.sh/",
    "deployment.kubernetes.io/",
    "kubectl.kubernetes.io/",
    "checksum/",
    "control-plane.alpha.kubernetes.io/",
    "kubernetes.io/change-cause",
)

# (field, default value) the API server fills in when a manifest leaves it out
POD_SPEC_DEFAULTS: dict[str, Any] = {
    "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
    "securityContext": {},
    "terminationGracePeriodSeconds": 30,
    "enableServiceLinks": True,
    "priority": 0,
    "preemptionPolicy": "PreemptLowerPriority",
}
CONTAINER_DEFAULTS: dict[str, Any] = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
    "securityContext": {},
}
PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
# a Deployment's restartPolicy can only be Always; a bare pod template's default is Always too
DEFAULT_MODE = 420  # 0644, the default of configMap/secret/projected volumes

TOKEN_VOLUME_PREFIX = "kube-api-access-"


def is_owned_label(key: str) -> bool:
    return key in OWNED_LABELS


def is_owned_annotation(key: str) -> bool:
    return key.startswith(OWNED_ANNOTATION_PREFIXES)


def clean_labels(labels: Any) -> Obj:
    if not isinstance(labels, dict):
        return {}
    return {str(k): scalar_text(v) for k, v in labels.items() if not is_owned_label(str(k))}


def clean_annotations(annotations: Any) -> Obj:
    if not isinstance(annotations, dict):
        return {}
    return {str(k): scalar_text(v) for k, v in annotations.items() if not is_owned_annotation(str(k))}


def neat_metadata(meta: Any) -> Obj:
    if not isinstance(meta, dict):
        return {}
    out: Obj = {}
    for key in KEEP_METADATA:
        value = meta.get(key)
        if key == "labels":
            value = clean_labels(value)
        elif key == "annotations":
            value = clean_annotations(value)
        if value not in (None, "", {}, []):
            out[key] = value
    return out


def canonical(value: Any) -> Any:
    """Keys in sorted order at every level, as `kubectl get -o yaml` prints them: an object read live (in
    the API server's field order) and the same object read from a dump give the same values, byte for byte."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def _drop_defaults(d: Obj, defaults: dict[str, Any]) -> None:
    for key, default in defaults.items():
        if key in d and d[key] == default:
            del d[key]


def _prune_empty(d: Obj) -> None:
    """Drop keys whose value is null or an empty map/list/string (old charts render many)."""
    for key in [k for k, v in d.items() if v in (None, "", {}, [])]:
        del d[key]


def neat_probe(probe: Any) -> Any:
    if isinstance(probe, dict):
        probe = dict(probe)
        _drop_defaults(probe, PROBE_DEFAULTS)
    return probe


def neat_container(container: Any) -> Obj:
    if not isinstance(container, dict):
        return {}
    c = copy.deepcopy(container)
    _drop_defaults(c, CONTAINER_DEFAULTS)
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in c:
            c[probe] = neat_probe(c[probe])
    mounts = [
        m
        for m in as_list(c.get("volumeMounts"))
        if isinstance(m, dict) and not str(m.get("name", "")).startswith(TOKEN_VOLUME_PREFIX)
    ]
    c["volumeMounts"] = mounts
    ports = []
    for port in as_list(c.get("ports")):
        if isinstance(port, dict):
            port = dict(port)
            if port.get("protocol") == "TCP":
                del port["protocol"]
        ports.append(port)
    c["ports"] = ports
    env = []
    for var in as_list(c.get("env")):
        if isinstance(var, dict):
            var = dict(var)
            ref = (var.get("valueFrom") or {}).get("fieldRef")
            if isinstance(ref, dict) and ref.get("apiVersion") == "v1":
                var["valueFrom"] = {**var["valueFrom"], "fieldRef": {k: v for k, v in ref.items() if k != "apiVersion"}}
        env.append(var)
    c["env"] = env
    for key in ("resources", "securityContext"):
        if isinstance(c.get(key), dict):
            c[key] = {k: v for k, v in c[key].items() if v not in (None, {}, [])}
    _prune_empty(c)
    return dict(canonical(c))


def neat_volume(volume: Any) -> Any:
    if not isinstance(volume, dict):
        return volume
    v = copy.deepcopy(volume)
    for source in ("configMap", "secret", "projected", "downwardAPI"):
        body = v.get(source)
        if isinstance(body, dict) and body.get("defaultMode") == DEFAULT_MODE:
            del body["defaultMode"]
    return v


def neat_pod_spec(spec: Any) -> Obj:
    if not isinstance(spec, dict):
        return {}
    s = copy.deepcopy(spec)
    _drop_defaults(s, POD_SPEC_DEFAULTS)
    if s.get("restartPolicy") == "Always":
        del s["restartPolicy"]
    s.pop("serviceAccount", None)  # deprecated alias the server copies from serviceAccountName
    for key in ("containers", "initContainers"):
        if key in s:
            s[key] = [neat_container(c) for c in as_list(s[key])]
    s["volumes"] = [
        neat_volume(v)
        for v in as_list(s.get("volumes"))
        if not (isinstance(v, dict) and str(v.get("name", "")).startswith(TOKEN_VOLUME_PREFIX))
    ]
    for key in ("tolerations", "imagePullSecrets", "hostAliases", "topologySpreadConstraints"):
        if key in s:
            s[key] = as_list(s[key])
    if isinstance(s.get("securityContext"), dict):
        s["securityContext"] = {k: v for k, v in s["securityContext"].items() if v not in (None, {}, [])}
    _prune_empty(s)
    return dict(canonical(s))


def neat_pod_template(template: Any) -> Obj:
    """A pod template (Deployment spec.template, or a task-pod template.yaml)."""
    if not isinstance(template, dict):
        return {}
    out: Obj = {}
    for key in ("apiVersion", "kind"):
        if template.get(key):
            out[key] = template[key]
    meta = canonical(neat_metadata(template.get("metadata")))
    if meta:
        out["metadata"] = meta
    spec = neat_pod_spec(template.get("spec"))
    if spec:
        out["spec"] = spec
    return out
