"""The test corpus: every upstream ClearML chart archive x the values its users set.

Each value set is read from the chart's own values.yaml (the keys, and the examples in its comments):
private registries and pull secrets, existing secrets, external https URLs, base pod templates with
GPUs, volumes of every kind, privileged and capability security contexts, job mode, sessions ports
mode, enterprise per-queue templates, CA bundles, ServiceAccount annotations, and env values that
look like host:port but are not hosts. A case is one archive installed with one value set, as a real
helm release; `objects` are what the user keeps beside it (Secrets they made, the server's Services).

Strings may hold `{full}` (the chart's full name for the release: `<release>` when it contains the chart
name, else `<release>-<chart>`) and `{ns}` (the release namespace); `expand` fills them in.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARCHIVES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream-charts"

A_VERSIONS = ("3.4.0", "3.4.1", "3.5.1", "3.6.0", "3.7.1", "3.8.0", "3.8.2", "3.9.0", "3.10.0", "3.10.5")
B_VERSIONS = ("4.0.0", "4.0.10", "5.0.0", "5.3.2")

# Every secret value a case puts into the install: none may ever appear in `diff` or `discover` output.
SECRETS = {
    "agent-access": "AGENTACCESSKEY7Q2W",
    "agent-secret": "agent-secret-V9x2mQ7pL4",
    "git-pass": "git-pass-Zk81fPq",
    "git-token": "ghp_tokenHb27Xq90",
    "registry-pass": "registry-pass-Lr6Tz",
    "conf-secret": "conf-secret-Yw3Nd",
    "server-session": "http-session-Fq8Vb",
}


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


@dataclass(frozen=True)
class ValueSet:
    """Values users set, for the chart versions that know them."""

    name: str
    values: dict[str, Any]
    objects: tuple[dict[str, Any], ...] = ()  # created in the namespace before the install
    since: str = "0"
    until: str = "99"
    # what render must do: "" = render; else a fragment of the one-line refusal
    refuse: str = ""
    render_args: tuple[str, ...] = ()

    def applies(self, version: str) -> bool:
        return _version(self.since) <= _version(version) <= _version(self.until)


@dataclass(frozen=True)
class Case:
    id: str
    chart: str  # clearml | clearml-agent
    version: str
    value_set: ValueSet
    release: str

    @property
    def archive(self) -> Path:
        return ARCHIVES / f"{self.chart}-{self.version}.tgz"

    @property
    def flavour(self) -> str:
        return "A" if self.chart == "clearml" else "B"

    def full_name(self) -> str:
        return self.release if self.chart in self.release else f"{self.release}-{self.chart}"

    def values(self, namespace: str) -> dict[str, Any]:
        base: dict[str, Any] = copy.deepcopy(A_BASE if self.chart == "clearml" else {})
        if self.chart == "clearml" and _version(self.version) < (3, 4, 1):
            # 3.4.0 reads the ports from clearml.apiserver/fileserver: it renders only with them set
            base["clearml"] = {"apiserver": {"service": {"port": 8008}}, "fileserver": {"service": {"port": 8081}}}
        return expand(merge(base, self.value_set.values), self.full_name(), namespace)

    def objects(self, namespace: str) -> list[dict[str, Any]]:
        return [expand(o, self.full_name(), namespace) for o in self.value_set.objects]


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def expand(value: Any, full: str, namespace: str) -> Any:
    if isinstance(value, dict):
        return {expand(k, full, namespace): expand(v, full, namespace) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, full, namespace) for v in value]
    if isinstance(value, str):
        return value.replace("{full}", full).replace("{ns}", namespace)
    return value


def secret(name: str, data: dict[str, str], type_: str = "Opaque") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": type_, "stringData": data}


def configmap(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def service(name: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": port, "targetPort": port}]},
    }


def dockerconfig(registry: str) -> str:
    import base64
    import json

    auth = base64.b64encode(f"robot:{SECRETS['registry-pass']}".encode()).decode()
    return json.dumps({"auths": {registry: {"username": "robot", "password": SECRETS["registry-pass"], "auth": auth}}})


# the clearml chart with only what the agent needs: its databases do not install on 1.35 (elasticsearch)
# and are not what this tool reads
A_BASE: dict[str, Any] = {
    # NodePorts are cluster-wide: the servers' fixed ones would collide between installs
    **{server: {"service": {"type": "ClusterIP"}} for server in ("apiserver", "fileserver", "webserver")},
    "elasticsearch": {"enabled": False},
    "mongodb": {"enabled": False},
    "redis": {"enabled": False},
    "secret": {
        "httpSession": SECRETS["server-session"],
        "credentials": {"apiserver": {"accessKey": SECRETS["agent-access"], "secretKey": SECRETS["agent-secret"]}},
    },
    # off by default up to 3.9
    "agentk8sglue": {"enabled": True},
}

# env values that look like host:port (or a host) and are not hosts, and a NO_PROXY of bare service names
LOOKALIKE_ENV = [
    {"name": "CLEARML_AGENT_DEFAULT_BASE_DOCKER", "value": "python:3"},
    {"name": "SIDECAR_IMAGE", "value": "busybox:1"},
    {"name": "BACKUP_WINDOW", "value": "02:00"},
    {"name": "CLEARML_AGENT_GIT_USER", "value": "ci-bot"},
    # as the chart's values.yaml example does: a password as a plain value
    {"name": "CLEARML_AGENT_GIT_PASS", "value": SECRETS["git-pass"]},
    {"name": "GIT_TOKEN", "valueFrom": {"secretKeyRef": {"name": "git-credentials", "key": "token"}}},
]
GIT_SECRET = secret("git-credentials", {"token": SECRETS["git-token"]})
CA_BUNDLE = configmap("corp-ca", {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIBcorpCA\n-----END CERTIFICATE-----\n"})
# the ClearML server's Services, as its chart names them, when the agent chart sits beside the server
SERVER_SERVICES = (
    service("clearml-apiserver", 8008),
    service("clearml-fileserver", 8081),
    service("clearml-webserver", 80),
)

A_SETS = (
    ValueSet("defaults", {}),
    # no agent at all: the tool says so in one line
    ValueSet("no-agent", {"agentk8sglue": {"enabled": False}}, refuse="no ClearML k8s agent", since="3.9.0"),
    ValueSet(
        "gpu-volumes-env",
        {
            "agentk8sglue": {
                "queue": "gpu",
                "id": "k8s-gpu-agent",
                "maxPods": 4,
                "defaultDockerImage": "python:3",
                "image": {"repository": "registry.example.com/clearml/clearml-agent-k8s", "tag": "base-1.21"},
                "podTemplate": {
                    "resources": {"limits": {"nvidia.com/gpu": 1}},
                    "volumes": [{"name": "datasets", "path": "/datasets"}],
                    "env": [
                        *LOOKALIKE_ENV,
                        {"name": "NO_PROXY", "value": "{full}-apiserver,{full}-fileserver,localhost"},
                    ],
                    "nodeSelector": {"fleet": "gpu-nodes"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                },
            }
        },
        objects=(GIT_SECRET,),
    ),
)

B_INTERNAL = {
    "apiServerUrlReference": "http://clearml-apiserver:8008",
    "fileServerUrlReference": "http://clearml-fileserver:8081",
    "webServerUrlReference": "http://clearml-webserver:80",
}
B_CREDS = {"clearml": {"agentk8sglueKey": SECRETS["agent-access"], "agentk8sglueSecret": SECRETS["agent-secret"]}}

B_SETS = (
    # the chart's defaults: the hosted ClearML (external https URLs)
    ValueSet("defaults", B_CREDS),
    ValueSet(
        "internal-multiqueue",
        merge(
            B_CREDS,
            {
                "clearml": {"clearmlConfig": "sdk {\n  aws { s3 { secret: " + SECRETS["conf-secret"] + " } }\n}"},
                "agentk8sglue": {**B_INTERNAL, "queue": "gpu,cpu", "createQueueIfNotExists": True},
            },
        ),
        objects=SERVER_SERVICES,
    ),
    ValueSet(
        "gpu-template",
        merge(
            B_CREDS,
            {
                "agentk8sglue": {
                    **B_INTERNAL,
                    "basePodTemplate": {
                        "labels": {"team": "vision"},
                        "annotations": {"cost-center": "ml-42"},
                        "volumes": [
                            {"name": "datasets", "persistentVolumeClaim": {"claimName": "datasets"}},
                            {"name": "nfs", "nfs": {"server": "192.168.0.1", "path": "/var/nfs/mount"}},
                            {"name": "ca", "configMap": {"name": "corp-ca"}},
                            {"name": "git", "secret": {"secretName": "git-credentials"}},
                            {"name": "scratch", "emptyDir": {}},
                            {"name": "models", "hostPath": {"path": "/mnt/models"}},
                        ],
                        "volumeMounts": [
                            {"name": "datasets", "mountPath": "/datasets"},
                            {"name": "nfs", "mountPath": "/nfs", "subPath": "userfolder"},
                            {"name": "ca", "mountPath": "/etc/ssl/corp"},
                            {"name": "git", "mountPath": "/etc/git", "readOnly": True},
                            {"name": "scratch", "mountPath": "/scratch"},
                            {"name": "models", "mountPath": "/models"},
                        ],
                        "env": [
                            *LOOKALIKE_ENV,
                            {"name": "NO_PROXY", "value": "clearml-apiserver,clearml-fileserver,.internal"},
                            {"name": "REQUESTS_CA_BUNDLE", "value": "/etc/ssl/corp/ca.crt"},
                        ],
                        "resources": {"limits": {"nvidia.com/gpu": 1}},
                        "priorityClassName": "",
                        "nodeSelector": {"fleet": "gpu-nodes"},
                        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                        "affinity": {
                            "nodeAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": {
                                    "nodeSelectorTerms": [
                                        {"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["a100"]}]}
                                    ]
                                }
                            }
                        },
                        "podSecurityContext": {"fsGroup": 10001},
                        "containerSecurityContext": {"allowPrivilegeEscalation": False},
                    },
                }
            },
        ),
        objects=(*SERVER_SERVICES, GIT_SECRET, CA_BUNDLE),
    ),
    ValueSet(
        "init-capabilities",
        merge(
            B_CREDS,
            {
                "agentk8sglue": {
                    "basePodTemplate": {
                        "initContainers": [
                            {"name": "volume-dirs-init-cntr", "image": "busybox:1.35", "command": ["sh", "-c", "true"]}
                        ],
                        # as the chart's values.yaml example shows it: fsGroup, a pod-level field, in the container
                        "containerSecurityContext": {
                            "runAsUser": 1001,
                            "fsGroup": 1001,
                            "capabilities": {"add": ["SYS_PTRACE", "NET_RAW"]},
                        },
                    }
                }
            },
        ),
    ),
    ValueSet(
        "privileged",
        merge(B_CREDS, {"agentk8sglue": {"basePodTemplate": {"containerSecurityContext": {"privileged": True}}}}),
    ),
    ValueSet(
        "private-registry",
        merge(
            B_CREDS,
            {
                "global": {"imageRegistry": "registry.example.com"},
                "imageCredentials": {
                    "enabled": True,
                    "registry": "registry.example.com",
                    "username": "robot",
                    "password": SECRETS["registry-pass"],
                },
            },
        ),
        # 4.0.x render the task template's pull secret as `name: name: ...`, which is no YAML
        until="99",
    ),
    ValueSet(
        "existing-secrets",
        {
            "imageCredentials": {"enabled": True, "existingSecret": "regcred"},
            "clearml": {"existingAgentk8sglueSecret": "agent-creds", "existingClearmlConfigSecret": "agent-conf"},
        },
        objects=(
            secret(
                "agent-creds",
                {"agentk8sglue_key": SECRETS["agent-access"], "agentk8sglue_secret": SECRETS["agent-secret"]},
            ),
            secret("agent-conf", {"clearml.conf": "sdk { aws { s3 { secret: " + SECRETS["conf-secret"] + " } } }"}),
            secret("regcred", {".dockerconfigjson": dockerconfig("docker.io")}, "kubernetes.io/dockerconfigjson"),
        ),
    ),
    ValueSet(
        "agent-extras",
        merge(
            B_CREDS,
            {
                "agentk8sglue": {
                    **B_INTERNAL,
                    "clearmlcheckCertificate": False,
                    "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}},
                    "serviceAccountAnnotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/ml"},
                    "extraEnvs": [
                        {"name": "REQUESTS_CA_BUNDLE", "value": "/etc/ssl/corp/ca.crt"},
                        {"name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"},
                        {"name": "NO_PROXY", "value": "clearml-apiserver,clearml-fileserver,clearml-webserver"},
                    ],
                    "podSecurityContext": {"runAsUser": 0, "fsGroup": 0},
                    "containerSecurityContext": {"readOnlyRootFilesystem": False},
                    "nodeSelector": {"node-role": "ml-control"},
                    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
                    "volumes": [{"name": "corp-ca", "configMap": {"name": "corp-ca"}}],
                    "volumeMounts": [{"name": "corp-ca", "mountPath": "/etc/ssl/corp", "readOnly": True}],
                    "fileMounts": [
                        {
                            "name": "integration.py",
                            "folderPath": "/mnt/python",
                            "fileContent": "def get_template(*args, **kwargs):\n    return {'template': {}}\n",
                        }
                    ],
                }
            },
        ),
        objects=(*SERVER_SERVICES, CA_BUNDLE),
        # up to 5.0.0 the chart indents agentk8sglue.volumeMounts wrongly (no YAML); ServiceAccount
        # annotations come with 5.3
        since="5.3.2",
    ),
    ValueSet(
        "agent-env-files",
        merge(
            B_CREDS,
            {
                "agentk8sglue": {
                    **B_INTERNAL,
                    "clearmlcheckCertificate": False,
                    "extraEnvs": [{"name": "HTTPS_PROXY", "value": "http://proxy.corp:3128"}],
                    "containerSecurityContext": {"runAsUser": 0},
                    "fileMounts": [{"name": "ca.crt", "folderPath": "/etc/ssl/corp", "fileContent": "CORP CA\n"}],
                }
            },
        ),
        objects=SERVER_SERVICES,
        until="5.0.0",
    ),
    ValueSet("job", merge(B_CREDS, {"agentk8sglue": {"taskAsJob": True}}), until="5.0.0"),
    ValueSet(
        "sessions",
        merge(
            B_CREDS,
            {"sessions": {"portModeEnabled": True, "maxServices": 2, "svcType": "ClusterIP", "startingPort": 30100}},
        ),
    ),
    ValueSet(
        "enterprise",
        merge(
            B_CREDS,
            {
                "enterpriseFeatures": {
                    "enabled": True,
                    "queues": {
                        "default": {"templateOverrides": {}},
                        "default-gpu": {"templateOverrides": {"resources": {"limits": {"nvidia.com/gpu": 1}}}},
                    },
                }
            },
        ),
        since="4.0.0",
        until="4.0.10",
        render_args=("--template-queue", "default-gpu"),
    ),
)

# other release names than the charts' own: the tool follows references, never fixed names
RELEASES = ("clearml", "ml-platform", "acme")


def find(case_id: str) -> Case:
    for case in all_cases():
        if case.id == case_id:
            return case
    raise KeyError(f"no corpus case {case_id}")


def credentials(case: Case, access_key: str, secret_key: str, queue: str) -> dict[str, Any]:
    """Values that give the case's agent this key pair and queue."""
    if case.chart == "clearml":
        return {
            "secret": {"credentials": {"apiserver": {"accessKey": access_key, "secretKey": secret_key}}},
            "agentk8sglue": {"queue": queue},
        }
    return {
        "clearml": {"agentk8sglueKey": access_key, "agentk8sglueSecret": secret_key},
        "agentk8sglue": {"queue": queue},
    }


def _case_id(chart: str, version: str, name: str) -> str:
    return f"{'a' if chart == 'clearml' else 'b'}-{version}-{name}"


def all_cases() -> list[Case]:
    out = []
    i = 0
    for chart, versions, sets in (("clearml", A_VERSIONS, A_SETS), ("clearml-agent", B_VERSIONS, B_SETS)):
        for version in versions:
            for value_set in sets:
                if not value_set.applies(version):
                    continue
                out.append(Case(_case_id(chart, version, value_set.name), chart, version, value_set, RELEASES[i % 3]))
                i += 1
    return out
