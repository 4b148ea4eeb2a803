"""What is measured, where the tools are, and the targets of the issue (as data: the report reads them)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = Path(sys.executable)
CLI = PY.parent / "clearml-runai-gen"
TOOLS = ROOT / ".cache" / "tools"
HELM = {"helm v4": TOOLS / "helm", "helm v3": TOOLS / "helm3"}
KUBECTL = TOOLS / "kubectl"
SEED = ROOT / "benchmarks" / "seed.sh"
CLUSTER = ROOT / "ci" / "cluster.sh"
CHART = ROOT / "charts" / "clearml-runai-agent"
DOC = ROOT / "docs" / "benchmarks.md"
UPSTREAM = ROOT / "sandbox" / "fixtures" / "upstream-charts"
DUMPS = ROOT / ".cache" / "bench" / "dumps"  # dumps of the real installs, kept for --offline runs

# the fixture install: the seed's own era and names
SRC_NS = "clearml"
RELEASE = "clearml"
CHART_VERSION = "3.5.0"  # queue aws-instances, tolerations `{}` in the pod template
PROJECT = "clearml"  # the seed's project (namespace runai-clearml)
BENCH_LABEL = "clearml-runai-bench"  # on every namespace this script creates, for the clean-up

REPEATS = 15  # the one-invocation benchmarks
SCALE = (1, 10, 100, 200, 1000)
SCALE_REPEATS = {1: 15, 10: 11, 100: 7, 200: 9, 1000: 5}
HISTORY = (10, 500)  # helm release revisions kept in the namespace, for the live memory case
READ_RESOURCES = {
    "deployments", "configmaps", "secrets", "services", "serviceaccounts", "roles", "rolebindings", "namespaces"
}  # fmt: skip
# the kinds render lists live, one call each: deployments, configmaps, secrets, services, serviceaccounts
KINDS_READ = 5
HEAVY_MODULES = ("kubernetes", "urllib3", "jinja2", "yaml", "requests", "certifi", "google", "oauthlib", "websocket")


@dataclass(frozen=True)
class Upstream:
    """A real upstream chart, installed with helm on the local control plane and dumped as the README says."""

    label: str
    archive: str
    release: str
    namespace: str
    sets: tuple[str, ...] = ()
    lift_kube_version: bool = False  # the clearml-agent charts cap kubeVersion below the control plane's
    seed: bool = False  # the seed's object names (release `clearml` of the clearml chart)
    seed_objects: tuple[tuple[str, str], ...] = field(default=())


UPSTREAMS = (
    Upstream(
        "clearml 3.10.5",
        "clearml-3.10.5.tgz",
        "clearml",
        "clearml-up",
        ("elasticsearch.enabled=false", "mongodb.enabled=false", "redis.enabled=false"),
        seed=True,
        seed_objects=(
            ("role", "k8sagent-pods-access"),
            ("rolebinding", "k8sagent-pods-access"),
            ("secret", "clearml-conf"),
            ("configmap", "k8sagent-pod-template"),
            ("deployment", "clearml-k8sagent"),
        ),
    ),
    Upstream("clearml-agent 5.3.2", "clearml-agent-5.3.2.tgz", "agent", "clearml-agent-up", lift_kube_version=True),
)
SEED_INSTALL = UPSTREAMS[0]


@dataclass(frozen=True)
class Goal:
    key: str
    text: str
    limit: float  # a ratio (ours/seed) or milliseconds
    unit: str  # "ratio" or "ms"


GOALS = {
    "offline": Goal("offline", "render --from-file on a real install's dump ≤ ½ the seed pipeline", 0.5, "ratio"),
    "live": Goal("live", "live render ≤ ⅔ of the seed's kubectl pipeline", 2 / 3, "ratio"),
    "per-project": Goal("per-project", "each further project (offline, --output-dir) ≤ 1 ms", 1.0, "ms"),
    "help": Goal("help", "`--help` under 100 ms", 100.0, "ms"),
}

# the README's dump command (the generator's source.DUMP_KINDS)
DUMP_KINDS = "deploy,configmap,secret,service,serviceaccount"
