"""End to end on a real kube-apiserver: a ClearML install, render live, helm install, and what the agent does.

Each scenario installs a ClearML install with a real upstream chart (a corpus case, as a helm release in
its own namespace, so helm's ownership marks are real), renders the values against the live API server,
and installs the chart into `runai-<project>` with helm v4 or v3.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from sandbox.agent_harness import enqueue, task_pod_name
from sandbox.corpus.cases import SECRETS, find
from sandbox.names import names

from .conftest import CHART, Kube, clearml_for, decode, get_pod, install_clearml, run_agent, unique

pytestmark = pytest.mark.cluster

SCENARIOS = {
    # name: (the upstream install, a corpus case; helm of our release)
    "a-3.5.1-helm4": ("a-3.5.1-defaults", "v4"),
    "a-3.10.5-helm3": ("a-3.10.5-gpu-volumes-env", "v3"),
    "b-5.3.2-helm4": ("b-5.3.2-gpu-template", "v4"),
    "b-4.0.10-helm3": ("b-4.0.10-internal-multiqueue", "v3"),
}


@dataclass
class Installed:
    kube: Kube
    helm: str
    case_id: str
    clearml_ns: str
    source_release: str
    project: str
    namespace: str
    release: str
    values_path: Path
    workdir: Path
    source_versions: dict[str, str]
    access_key: str
    secret_key: str

    @property
    def flavour(self) -> str:
        return self.case_id[0]

    def objects(self) -> list[dict[str, Any]]:
        data = self.kube.get(
            "all,configmap,secret,serviceaccount,role,rolebinding",
            self.namespace,
            selector=f"app.kubernetes.io/instance={self.release}",
        )
        return list(data["items"])

    def one(self, kind: str) -> dict[str, Any]:
        items = [o for o in self.objects() if o["kind"] == kind]
        assert len(items) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in items]}"
        return items[0]


def resource_versions(kube: Kube, namespace: str) -> dict[str, str]:
    """A fingerprint of what the ClearML release owns: resourceVersion, or generation for Deployments
    (whose status the controller manager keeps updating)."""
    data = kube.get("deployment,configmap,secret,role,rolebinding,serviceaccount", namespace)
    out = {}
    for o in data["items"]:
        if (o["metadata"].get("annotations") or {}).get("meta.helm.sh/release-name") is None:
            continue  # kube-root-ca.crt, the default ServiceAccount: not the install's
        key = f"{o['kind']}/{o['metadata']['name']}"
        out[key] = str(o["metadata"]["generation"]) if o["kind"] == "Deployment" else o["metadata"]["resourceVersion"]
    return out


@pytest.fixture(scope="module", params=list(SCENARIOS))
def installed(request: pytest.FixtureRequest, kube: Kube, tmp_path_factory: pytest.TempPathFactory):
    case_id, helm = SCENARIOS[request.param]
    workdir = tmp_path_factory.mktemp(request.param)
    project = unique("p")
    access, secret = f"AK{project.upper().replace('-', '')}", f"SK-{project}-secret"
    clearml_ns, source_release = install_clearml(kube, workdir, case_id, access_key=access, secret_key=secret)
    namespace = names(project).namespace
    kube.create_namespace(namespace, {"runai/queue": project})
    before = resource_versions(kube, clearml_ns)

    values_path = workdir / "values.yaml"
    kube.gen("render", "--project", project, "--clearml-namespace", clearml_ns, "-o", str(values_path))
    release = names(project).release
    kube.helm(helm, "install", release, str(CHART), "-n", namespace, "-f", str(values_path))
    inst = Installed(
        kube,
        helm,
        case_id,
        clearml_ns,
        source_release,
        project,
        namespace,
        release,
        values_path,
        workdir,
        before,
        access,
        secret,
    )
    yield inst
    kube.helm(helm, "uninstall", release, "-n", namespace, check=False)
    kube.helm("v4", "uninstall", source_release, "-n", clearml_ns, check=False)
    kube.kubectl("delete", "namespace", namespace, clearml_ns, "--wait=false", check=False)


def test_server_version_is_real(kube: Kube) -> None:
    version = json.loads(kube.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["minor"].startswith("35")


def test_release_objects_carry_only_their_own_helm_metadata(installed: Installed) -> None:
    objs = installed.objects()
    kinds = sorted(o["kind"] for o in objs if o["kind"] not in ("ReplicaSet", "Pod"))
    assert kinds == ["ConfigMap", "Deployment", "Role", "RoleBinding", "Secret", "ServiceAccount"]
    for obj in objs:
        if obj["kind"] in ("ReplicaSet", "Pod"):
            continue
        ann = obj["metadata"].get("annotations") or {}
        assert ann.get("meta.helm.sh/release-name") == installed.release
        assert ann.get("meta.helm.sh/release-namespace") == installed.namespace
        labels = obj["metadata"].get("labels") or {}
        assert labels.get("helm.sh/chart", "").startswith("clearml-runai-agent-"), obj["metadata"]
        assert labels.get("app.kubernetes.io/instance") == installed.release
        # no mark of the source release: only the provenance the generator records names the source
        marks = {k: v for k, v in {**labels, **ann}.items() if k != "clearml-runai.io/origin"}
        assert installed.source_release not in marks.values(), f"{obj['kind']} carries the source release's marks"
        assert not [k for k in marks if k.startswith("checksum/") and k not in ("checksum/template", "checksum/secret")]
        assert "app" not in labels, "the source chart's selector label was copied"
        assert obj["metadata"]["namespace"] == installed.namespace


def agent_env(installed: Installed) -> dict[str, dict[str, Any]]:
    deploy = installed.one("Deployment")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e for e in container["env"]}


def resolve(installed: Installed, entry: dict[str, Any]) -> str:
    if "value" in entry:
        return str(entry["value"])
    ref = entry["valueFrom"]["secretKeyRef"]
    secret = installed.kube.get("secret", installed.namespace, ref["name"])
    return decode(secret, ref["key"])


def test_agent_serves_the_project_by_full_names(installed: Installed) -> None:
    env = agent_env(installed)
    ns = installed.clearml_ns
    assert env["K8S_GLUE_QUEUE"]["value"] == names(installed.project).queue
    assert env["CLEARML_WORKER_ID"]["value"] == installed.release
    args = env["K8S_GLUE_EXTRA_ARGS"]["value"].split()
    assert args.count("--namespace") == 1
    assert args[args.index("--namespace") + 1] == installed.namespace
    template_path = args[args.index("--template-yaml") + 1]
    for var in ("CLEARML_API_HOST", "CLEARML_WEB_HOST", "CLEARML_FILES_HOST"):
        assert f".{ns}.svc.cluster.local" in env[var]["value"], env[var]
    assert resolve(installed, env["CLEARML_API_ACCESS_KEY"]) == installed.access_key
    assert resolve(installed, env["CLEARML_API_SECRET_KEY"]) == installed.secret_key
    assert env["CLEARML_AGENT_NO_UPDATE"]["value"]
    # the template ConfigMap is mounted where --template-yaml points
    deploy = installed.one("Deployment")
    spec = deploy["spec"]["template"]["spec"]
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if template_path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    cm = installed.kube.get("configmap", installed.namespace, volume["configMap"]["name"])
    assert template_path.rsplit("/", 1)[1] in cm["data"]
    # no other secret of the ClearML server was copied
    secret = installed.one("Secret")
    server_only = SECRETS["server-session"]
    assert server_only not in json.dumps(secret) and server_only not in {decode(secret, k) for k in secret["data"]}


def task_template(installed: Installed) -> dict[str, Any]:
    cm = next(o for o in installed.objects() if o["kind"] == "ConfigMap")
    return dict(YAML(typ="safe").load(cm["data"]["template.yaml"]))


def test_task_pod_template_is_wired_for_runai(installed: Installed) -> None:
    tpl = task_template(installed)
    assert tpl["spec"]["schedulerName"] == "runai-scheduler"
    assert tpl["metadata"]["labels"]["project"] == installed.project
    assert not (tpl["metadata"].get("namespace"))
    assert isinstance(tpl["spec"].get("tolerations", []), list)
    env = {e["name"]: e for e in tpl["spec"]["containers"][0]["env"]}
    assert env["CLEARML_API_HOST"]["value"].startswith("http://")
    assert f".{installed.clearml_ns}.svc.cluster.local" in env["CLEARML_API_HOST"]["value"]
    assert resolve(installed, env["CLEARML_API_ACCESS_KEY"]) == installed.access_key
    base = find(installed.case_id).values(installed.clearml_ns).get("agentk8sglue", {}).get("basePodTemplate")
    if base:
        assert tpl["metadata"]["labels"]["team"] == base["labels"]["team"]
        assert tpl["spec"]["tolerations"] == base["tolerations"]
        assert tpl["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1


def can_i(kube: Kube, sa_user: str, verb: str, resource: str, namespace: str) -> bool:
    proc = kube.kubectl("auth", "can-i", verb, resource, "-n", namespace, "--as", sa_user, check=False)
    return proc.stdout.strip() == "yes"


def test_agent_service_account_rbac_is_evaluated_by_the_api_server(installed: Installed) -> None:
    kube, ns = installed.kube, installed.namespace
    sa = installed.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    user = f"system:serviceaccount:{ns}:{sa}"
    for verb in ("get", "list", "watch", "create", "patch", "delete"):
        assert can_i(kube, user, verb, "pods", ns), verb
    assert not can_i(kube, user, "list", "pods", installed.clearml_ns)
    assert not can_i(kube, user, "create", "pods", installed.clearml_ns)
    assert not can_i(kube, user, "get", "secrets", installed.clearml_ns)
    assert not can_i(kube, user, "list", "secrets", ns)
    assert not can_i(kube, user, "list", "pods", "default")
    crbs = json.loads(kube.kubectl("get", "clusterrolebinding", "-o", "json").stdout)["items"]
    assert not [c for c in crbs if installed.release in json.dumps(c)], "the release made cluster-wide RBAC"


def test_real_agent_creates_the_task_pod_as_its_service_account(installed: Installed) -> None:
    """The pinned clearml-agent's daemon loop, started from the installed release as its container starts,
    pulls a task from the project's queue and creates its pod through the API server with its own token."""
    kube, ns = installed.kube, installed.namespace
    queue = names(installed.project).queue
    with (
        clearml_for(installed.access_key, installed.secret_key, queue) as clearml,
        run_agent(kube, ns, installed.release, clearml, installed.workdir / "agent") as agent,
    ):
        task = enqueue(clearml, "train", queue)
        created = agent.wait_for(lambda: get_pod(kube, ns, task_pod_name(task)), f"a pod for task {task}")
    spec = created["spec"]
    assert spec["schedulerName"] == "runai-scheduler"
    assert created["metadata"]["labels"]["project"] == installed.project
    assert created["metadata"]["labels"]["clearml-agent-queue-name"] == queue
    assert created["metadata"]["namespace"] == ns
    assert spec.get("automountServiceAccountToken") is False
    assert spec.get("serviceAccountName") == "default"
    assert isinstance(spec.get("tolerations", []), list)
    cenv = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert f".{installed.clearml_ns}.svc.cluster.local" in cenv["CLEARML_API_HOST"]["value"]
    assert resolve(installed, cenv["CLEARML_API_ACCESS_KEY"]) == installed.access_key
    assert resolve(installed, cenv["CLEARML_API_SECRET_KEY"]) == installed.secret_key
    assert cenv["CLEARML_WORKER_ID"]["value"] == f"{installed.release}:{task}"
    # no queue for this project in the local Run:ai scheduler (KAI): the pod stays Pending
    assert created["status"]["phase"] == "Pending"
    kube.kubectl("delete", "pod", task_pod_name(task), "-n", ns, "--wait=false")


def pod_template_hash(installed: Installed) -> dict[str, str]:
    deploy = installed.one("Deployment")
    return {
        "generation": str(deploy["metadata"]["generation"]),
        **deploy["spec"]["template"]["metadata"].get("annotations", {}),
    }


def test_upgrade_rolls_only_on_change_and_uninstall_leaves_nothing(installed: Installed) -> None:
    kube, helm = installed.kube, installed.helm
    before = pod_template_hash(installed)
    kube.helm(
        helm, "upgrade", installed.release, str(CHART), "-n", installed.namespace, "-f", str(installed.values_path)
    )
    assert pod_template_hash(installed) == before, "an upgrade with the same values rolled the agent"

    # rotate the credentials in the ClearML install, render again, upgrade
    if installed.flavour == "a":
        secret_name, key = "clearml-conf", "apiserver_secret"
    else:
        secret_name = f"{find(installed.case_id).full_name()}-ac"
        key = "agentk8sglue_secret"
    import base64

    new_secret = "rotated-" + installed.secret_key
    patch = {"data": {key: base64.b64encode(new_secret.encode()).decode()}}
    kube.kubectl("patch", "secret", secret_name, "-n", installed.clearml_ns, "--type", "merge", "-p", json.dumps(patch))
    drift = kube.gen("diff", "--values", str(installed.values_path), check=False)
    assert drift.returncode == 1 and "clearml.secretKey: changed" in drift.stdout
    assert new_secret not in drift.stdout + drift.stderr
    kube.gen(
        "render",
        "--project",
        installed.project,
        "--clearml-namespace",
        installed.clearml_ns,
        "-o",
        str(installed.values_path),
    )
    kube.helm(
        helm, "upgrade", installed.release, str(CHART), "-n", installed.namespace, "-f", str(installed.values_path)
    )
    after = pod_template_hash(installed)
    assert after["checksum/secret"] != before["checksum/secret"]
    assert int(after["generation"]) > int(before["generation"])
    env = agent_env(installed)
    assert resolve(installed, env["CLEARML_API_SECRET_KEY"]) == new_secret

    # the ClearML install was only touched by our own rotation
    now = resource_versions(kube, installed.clearml_ns)
    changed = {k for k in now if now[k] != installed.source_versions.get(k)}
    assert changed == {f"Secret/{secret_name}"}, changed
    assert set(now) == set(installed.source_versions)

    kube.helm(helm, "uninstall", installed.release, "-n", installed.namespace, "--wait")
    deadline = time.monotonic() + 60
    left: list[str] = []
    while time.monotonic() < deadline:
        data = kube.get("all,configmap,secret,serviceaccount,role,rolebinding", installed.namespace)
        left = [
            f"{o['kind']}/{o['metadata']['name']}"
            for o in data["items"]
            if not (o["kind"] == "ServiceAccount" and o["metadata"]["name"] == "default")
            and not (o["kind"] == "ConfigMap" and o["metadata"]["name"] == "kube-root-ca.crt")
            and o["kind"] != "Service"
        ]
        if not left:
            break
        time.sleep(1)
    assert not left, f"helm uninstall left {left}"
