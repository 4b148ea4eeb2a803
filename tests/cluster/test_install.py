"""End to end on a real kube-apiserver: a ClearML install, render live, helm install, and what the agent does.

Each scenario installs a ClearML install as the real charts leave it (a helm release in its own
namespace, so helm's ownership marks are real), renders the values against the live API server, and
installs the chart into `runai-<project>` with helm v4 or v3.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.agent_harness import build_task_pod
from tests.conftest import tool
from tests.fixtures.installs import SERVER_ONLY, flavour_a, flavour_b

from .conftest import CHART, Kube, decode, local_chart, unique

pytestmark = pytest.mark.cluster

SCENARIOS = {
    # name: (flavour objects factory, chart name/version of the source release, helm of our release)
    "a-3.5.1-helm4": ("a", "3.5.1", "v4"),
    "a-3.10.5-helm3": ("a", "3.10.5", "v3"),
    "b-5.3.0-helm4": ("b", "5.3.0", "v4"),
    "b-4.1.0-helm3": ("b", "4.1.0", "v3"),
}


@dataclass
class Installed:
    kube: Kube
    helm: str
    flavour: str
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
    flavour, version, helm = SCENARIOS[request.param]
    workdir = tmp_path_factory.mktemp(request.param)
    clearml_ns = unique("ml")
    source_release = unique("rel")
    project = unique("p")
    access, secret = f"AK{project.upper().replace('-', '')}", f"SK-{project}-secret"
    if flavour == "a":
        objs = flavour_a(
            release=source_release, namespace=clearml_ns, version=version, access_key=access, secret_key=secret
        )
        chart = local_chart(workdir, "clearml", version, objs)
    else:
        objs = flavour_b(
            release=source_release,
            namespace=clearml_ns,
            chart_version=version,
            access_key=access,
            secret_key=secret,
            queue="gpu",
            base_pod_template={
                "labels": {"team": "vision"},
                "tolerations": [{"key": "gpu", "operator": "Exists"}],
                "resources": {"limits": {"nvidia.com/gpu": 1}},
            },
        )
        chart = local_chart(workdir, "clearml-agent", version, objs)
    kube.create_namespace(clearml_ns)
    kube.helm("v4", "install", source_release, str(chart), "-n", clearml_ns, "--wait=false")
    namespace = f"runai-{project}"
    kube.create_namespace(namespace, {"runai/queue": project})
    before = resource_versions(kube, clearml_ns)

    values_path = workdir / "values.yaml"
    kube.gen("render", "--project", project, "--clearml-namespace", clearml_ns, "-o", str(values_path))
    release = f"clearml-runai-{project}"
    kube.helm(helm, "install", release, str(CHART), "-n", namespace, "-f", str(values_path))
    inst = Installed(
        kube,
        helm,
        flavour,
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
        marks = json.dumps({**labels, **ann})
        assert installed.source_release not in marks, f"{obj['kind']} carries the source release's marks"
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
    assert env["K8S_GLUE_QUEUE"]["value"] == f"runai-{installed.project}"
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
    for value in SERVER_ONLY.values():
        assert value not in json.dumps(secret) and value not in {decode(secret, k) for k in secret["data"]}


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
    if installed.flavour == "b":
        assert tpl["metadata"]["labels"]["team"] == "vision"
        assert tpl["spec"]["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
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


def test_real_agent_builds_a_task_pod_the_api_server_accepts(installed: Installed) -> None:
    """The pinned clearml-agent builds the pod from the installed template; kubectl creates it as the agent."""
    kube, ns = installed.kube, installed.namespace
    template_file = installed.workdir / "template.yaml"
    cm = next(o for o in installed.objects() if o["kind"] == "ConfigMap")
    template_file.write_text(cm["data"]["template.yaml"])
    env = agent_env(installed)
    args = env["K8S_GLUE_EXTRA_ARGS"]["value"].split()
    pod, pod_ns = build_task_pod(
        template_file,
        namespace=args[args.index("--namespace") + 1],
        queue_name=env["K8S_GLUE_QUEUE"]["value"],
        worker_id=installed.release,
    )
    assert pod_ns == ns
    sa = installed.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
    sa_kubeconfig = kube.service_account_kubeconfig(ns, sa, installed.workdir)
    manifest = installed.workdir / "pod.yaml"
    manifest.write_text(json.dumps(pod))
    # exactly as the agent runs it: kubectl apply --namespace=<ns> -f <file>, with the agent's own token
    kube.run([tool("kubectl"), "--kubeconfig", sa_kubeconfig, "apply", f"--namespace={pod_ns}", "-f", str(manifest)])
    created = kube.get("pod", ns, pod["metadata"]["name"])
    spec = created["spec"]
    assert spec["schedulerName"] == "runai-scheduler"
    assert created["metadata"]["labels"]["project"] == installed.project
    assert created["metadata"]["namespace"] == ns
    assert spec.get("automountServiceAccountToken") is False
    assert spec.get("serviceAccountName") == "default"
    assert isinstance(spec.get("tolerations", []), list)
    cenv = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert f".{installed.clearml_ns}.svc.cluster.local" in cenv["CLEARML_API_HOST"]["value"]
    assert resolve(installed, cenv["CLEARML_API_ACCESS_KEY"]) == installed.access_key
    assert resolve(installed, cenv["CLEARML_API_SECRET_KEY"]) == installed.secret_key
    # no queue for this project in the local Run:ai scheduler (KAI): the pod stays Pending
    assert created["status"]["phase"] == "Pending"
    # the agent may clean it up again
    kube.run(
        [
            tool("kubectl"),
            "--kubeconfig",
            sa_kubeconfig,
            "delete",
            "pod",
            pod["metadata"]["name"],
            f"--namespace={pod_ns}",
            "--wait=false",
        ]
    )


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
        secret_name = f"{installed.source_release}-clearml-agent-ac"
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
