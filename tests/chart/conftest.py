"""Shared fixtures of the chart tests: real helm binaries, rendering, and parsed output.

The tests run `helm template` (and `helm lint`) with the pinned helm v4 and helm v3 that
`ci/tools.sh` unpacks into `.cache/tools`, and assert on the parsed objects.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from clearml_runai_gen.objects import deep_merge  # values overlaid as helm merges them
from ruamel.yaml import YAML

from sandbox.names import names
from sandbox.paths import TOOLS, missing_tools

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "clearml-runai-agent"
CI_DIR = CHART_DIR / "ci"
TOOLS_DIR = TOOLS
HELM_BINARIES = {"helm4": TOOLS_DIR / "helm", "helm3": TOOLS_DIR / "helm3"}

RELEASE = "agent"
PROJECT = "team-a"
NAMESPACE = names(PROJECT).namespace

# The least a hand-written install needs; tests overlay what they exercise.
BASE_VALUES: dict[str, Any] = {
    "runai": {"project": PROJECT},
    "clearml": {
        "apiHost": "http://clearml-apiserver.clearml.svc.cluster.local:8008",
        "webHost": "http://clearml-webserver.clearml.svc.cluster.local:8080",
        "filesHost": "http://clearml-fileserver.clearml.svc.cluster.local:8081",
        "accessKey": "ACCESSKEY",
        "secretKey": "SECRETKEY",
    },
    "agent": {"queues": ["runai-team-a"]},
}

# Kinds that live outside any namespace; the chart must never render one.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "StorageClass",
        "IngressClass",
        "RuntimeClass",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "CertificateSigningRequest",
        "FlowSchema",
        "PriorityLevelConfiguration",
        "Queue",  # KAI scheduler queues (scheduling.run.ai) are cluster-scoped
    }
)

_yaml = YAML(typ="safe", pure=True)


def load_all(text: str) -> list[dict[str, Any]]:
    """Parse a multi-document YAML stream, dropping empty documents."""
    return [doc for doc in _yaml.load_all(io.StringIO(text)) if doc]


def load_one(text: str) -> Any:
    return _yaml.load(io.StringIO(text))


def values(**overlay: Any) -> dict[str, Any]:
    """BASE_VALUES with an overlay, e.g. values(runai={"scheduler": "kai-scheduler"})."""
    return deep_merge(BASE_VALUES, overlay)


def ci_values_files() -> list[Path]:
    return sorted(CI_DIR.glob("*-values.yaml"))


def ci_namespace(path: Path) -> str:
    """Namespace a ci/ values file installs into: the one it pins (runai.namespace, as the generator
    writes it), else its project's runai-<project>."""
    runai = (load_one(path.read_text()) or {}).get("runai") or {}
    return str(runai.get("namespace") or names(runai.get('project') or PROJECT).namespace)


# clearml-agent's own default task image (agent.default_docker.image), for tasks that name none
AGENT_DEFAULT_TASK_IMAGE = "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu20.04"
TASK_POD_NAME = "clearml-id-0123456789abcdef0123456789abcdef"


def own_annotations(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Annotations of an object other than the checkov skips the chart marks (test_policies checks those)."""
    return {k: v for k, v in (metadata.get("annotations") or {}).items() if not k.startswith("checkov.io/skip")}


# Every Kubernetes minor from the oldest the chart supports (Chart.yaml kubeVersion) to 1.35.
KUBE_VERSIONS = tuple(f"1.{minor}.0" for minor in range(29, 36))


@functools.cache
def _problem(obj_json: str, version: str) -> str | None:
    """What the strict upstream schema of `version` says against an object; None when it is valid.
    Cached: the same object rendered by helm v4 and v3, or by several values files, is checked once."""
    obj = json.loads(obj_json)
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = f"{obj['kind']} {obj['metadata'].get('name')} (Kubernetes {version})"
        return f"{where}: {error.message} at {list(error.path)}"
    return None


def assert_valid_kubernetes_objects(objects: list[dict[str, Any]], versions: tuple[str, ...] = KUBE_VERSIONS) -> None:
    problems = [
        problem
        for version in versions
        for obj in objects
        if (problem := _problem(json.dumps(obj, sort_keys=True), version)) is not None
    ]
    assert not problems, "\n".join(problems)


@dataclass
class Rendered:
    """The objects of one `helm template`, with accessors for what the tests look at."""

    docs: list[dict[str, Any]]

    def kinds(self) -> set[str]:
        return {doc["kind"] for doc in self.docs}

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def maybe(self, kind: str) -> dict[str, Any] | None:
        found = self.all(kind)
        assert len(found) <= 1, f"expected at most one {kind}, got {len(found)}"
        return found[0] if found else None

    def one(self, kind: str) -> dict[str, Any]:
        found = self.all(kind)
        assert len(found) == 1, f"expected exactly one {kind}, got {[d['metadata']['name'] for d in found]}"
        return found[0]

    @property
    def deployment(self) -> dict[str, Any]:
        return self.one("Deployment")

    @property
    def pod_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.deployment["spec"]["template"]["spec"]
        return spec

    @property
    def agent_container(self) -> dict[str, Any]:
        containers: list[dict[str, Any]] = [c for c in self.pod_spec["containers"] if c["name"] == "k8s-glue"]
        assert len(containers) == 1
        return containers[0]

    @property
    def agent_env(self) -> dict[str, dict[str, Any]]:
        """Agent env by name; asserts no name is set twice."""
        env = self.agent_container["env"]
        names = [e["name"] for e in env]
        assert len(names) == len(set(names)), f"duplicate agent env: {names}"
        return {e["name"]: e for e in env}

    def agent_env_value(self, name: str) -> str:
        return str(self.agent_env[name]["value"])

    @property
    def template_configmap(self) -> dict[str, Any]:
        (cm,) = [c for c in self.all("ConfigMap") if c["metadata"]["name"].endswith("-pod-template")]
        return cm

    @property
    def task_template(self) -> dict[str, Any]:
        """template.yaml of the pod template ConfigMap, parsed."""
        text = self.template_configmap["data"]["template.yaml"]
        docs = load_all(text)
        assert len(docs) == 1, f"template.yaml must hold one document, got {len(docs)}"
        return docs[0]

    def task_as_created(self, namespace: str) -> dict[str, Any]:
        """The task template completed as the agent completes it for a task that names no image: a
        name, the container's name and image (agent.defaultTaskImage, else the agent's default), in
        the namespace the agent applies it to (kubectl apply --namespace)."""
        task = copy.deepcopy(self.task_template)
        task["metadata"].update(name=TASK_POD_NAME, namespace=namespace)
        spec = task["spec"]["template"]["spec"] if task["kind"] == "Job" else task["spec"]
        image = self.agent_env.get("CLEARML_DOCKER_IMAGE", {}).get("value") or AGENT_DEFAULT_TASK_IMAGE
        spec["containers"][0].update(name=TASK_POD_NAME, image=image)
        return task

    @property
    def task_pod_spec(self) -> dict[str, Any]:
        template = self.task_template
        spec: dict[str, Any] = template["spec"]["template"]["spec"] if template["kind"] == "Job" else template["spec"]
        return spec

    @property
    def task_container(self) -> dict[str, Any]:
        containers: list[dict[str, Any]] = self.task_pod_spec["containers"]
        assert len(containers) == 1, "the template holds exactly one container, which the agent completes"
        return containers[0]

    @property
    def task_env(self) -> list[dict[str, Any]]:
        env: list[dict[str, Any]] = self.task_container["env"]
        return env

    def secret_data(self, name: str) -> dict[str, str]:
        (secret,) = [s for s in self.all("Secret") if s["metadata"]["name"] == name]
        return dict(secret.get("data") or {})

    @property
    def pod_annotations(self) -> dict[str, str]:
        return self.deployment["spec"]["template"]["metadata"].get("annotations") or {}


@dataclass
class Helm:
    """One helm binary, run against the chart."""

    name: str
    binary: Path
    tmp_path: Path
    files_written: int = 0

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.binary), *map(str, args)],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            timeout=120,
            env={
                "HOME": str(self.tmp_path),
                "PATH": "/usr/bin:/bin",
                "HELM_CACHE_HOME": str(self.tmp_path / "c"),
                "HELM_CONFIG_HOME": str(self.tmp_path / "cfg"),
                "HELM_DATA_HOME": str(self.tmp_path / "d"),
            },
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def values_file(self, data: Mapping[str, Any]) -> Path:
        # JSON, not YAML: helm reads values as YAML 1.1, where a YAML 1.2 dumper's plain `y`,
        # `on` or `no` would turn into booleans.
        self.files_written += 1
        path = self.tmp_path / f"values-{self.files_written}.json"
        path.write_text(json.dumps(data, indent=2))
        return path

    def _value_args(
        self, data: Mapping[str, Any] | None, files: Iterable[Path], sets: Iterable[str]
    ) -> list[str | Path]:
        args: list[str | Path] = []
        for path in files:
            args += ["-f", path]
        if data is not None:
            args += ["-f", self.values_file(data)]
        for item in sets:
            args += ["--set", item]
        return args

    def template_proc(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        files: Iterable[Path] = (),
        sets: Iterable[str] = (),
        release: str = RELEASE,
        namespace: str = NAMESPACE,
        chart: Path = CHART_DIR,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            "template",
            release,
            chart,
            "--namespace",
            namespace,
            *self._value_args(data, files, sets),
            check=check,
        )

    def template(self, data: Mapping[str, Any] | None = None, **kwargs: Any) -> Rendered:
        return Rendered(load_all(self.template_proc(data, **kwargs).stdout))

    def template_error(self, data: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        """Render values the chart must refuse; return helm's error text."""
        proc = self.template_proc(data, check=False, **kwargs)
        assert proc.returncode != 0, f"{self.name} rendered values it should refuse:\n{proc.stdout}"
        return proc.stderr

    def lint(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        files: Iterable[Path] = (),
        chart: Path = CHART_DIR,
        namespace: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        where = ["--namespace", namespace] if namespace else []
        return self.run("lint", "--strict", *where, chart, *self._value_args(data, files, ()), check=check)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Every chart test runs with the pinned tools: when one is missing the run stops before any test,
    with one line, instead of skipping the tests that need it (or a test installing it part-way)."""
    here = Path(__file__).parent
    problem = missing_tools()
    if problem and any(Path(str(item.path)).is_relative_to(here) for item in session.items):
        pytest.exit(f"chart tests: {problem}", returncode=1)


def _helm(name: str, tmp_path: Path) -> Helm:
    return Helm(name=name, binary=HELM_BINARIES[name], tmp_path=tmp_path)


@pytest.fixture(params=sorted(HELM_BINARIES))
def helm(request: pytest.FixtureRequest, tmp_path: Path) -> Helm:
    """Each helm version the chart supports, in turn."""
    return _helm(request.param, tmp_path)


@pytest.fixture
def helm4(tmp_path: Path) -> Helm:
    """helm v4 alone, for what helm v3 cannot do without a cluster (client-side dry-run)."""
    return _helm("helm4", tmp_path)
