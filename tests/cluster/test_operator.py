"""The operator on the local control plane: a real API server, its garbage collector and namespace
controller, and the operator as its chart runs it (tests/cluster/operators.py says how and what differs
from the pod). Its ClearML install is the operator's own (--clearml-namespace); the sources a spec names
apart, and an upgrade of the install with helm, are in test_operator_sources.py.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.agent_harness import task_pod_name
from sandbox.endpoints import metrics_of
from sandbox.kai import Kai
from sandbox.names import names
from tests.conftest import ROOT

from .conftest import Kube, clearml_for, get_pod, install_clearml, run_agent, unique
from .operators import (
    CREATED_NAMESPACES,
    SYSTEM_NS,
    Operator,
    agent_objects,
    checksum_of,
    project_namespace,
    rolled_with,
    rotate_source_keys,
    running_operator,
    source_keys,
    spawn,
    versions,
    wait_for,
)

RESYNC = 5  # seconds: short, so that the idle test sees several resyncs that must write nothing


@pytest.fixture(scope="module")
def clearml(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> str:
    workdir = tmp_path_factory.mktemp("clearml")
    ns, _ = install_clearml(kube, workdir, access_key="AKOPERATOR1", secret_key="SK-operator-1")
    return ns


@pytest.fixture(scope="module")
def operator(kube: Kube, clearml: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    with running_operator(kube, clearml, tmp_path_factory.mktemp("operator"), RESYNC) as op:
        yield op


def test_new_project_namespace_gets_its_agent_and_ready(kube: Kube, operator: Operator) -> None:
    project = unique("p")
    ns = project_namespace(kube, project)
    wait_for("the ClearMLAgent of the namespace", lambda: operator.agent(ns, project))
    ready = wait_for("Ready=True", lambda: (r := operator.ready(ns, project)).get("status") == "True" and r, timeout=90)
    assert ready["reason"] == "Applied" and ready["observed"] == ready["generation"]
    objects = agent_objects(kube, ns, project)
    assert {k.split("/")[0] for k in objects} == {
        "serviceaccount",
        "role",
        "rolebinding",
        "configmap",
        "secret",
        "deployment",
    }
    for obj in objects.values():
        assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == "clearml-runai-agent"
        assert obj["metadata"]["ownerReferences"][0]["kind"] == "ClearMLAgent"
    template = "".join(
        v for k, o in objects.items() if k.startswith("configmap/") for v in (o.get("data") or {}).values()
    )
    assert "schedulerName: runai-scheduler" in template and f"runai/queue: {project}" in template
    status = operator.agent(ns, project)["status"]
    assert status["origin"]["clearmlNamespace"] == operator.clearml_ns
    assert {c["name"] for c in status["checks"]} >= {"source read", "objects applied", "agent available", "task pods"}
    printed = kube.kubectl("get", "clearmlagents", "-n", ns).stdout
    assert printed.split("\n")[0].split() == ["NAME", "PROJECT", "QUEUES", "READY", "REASON", "AGE"]


def test_the_agent_the_operator_applied_takes_a_task_kai_binds_in_the_projects_queue(
    kube: Kube, kai: Kai, operator: Operator, tmp_path: Path
) -> None:
    """Scenario 1's tail: the real agent daemon, started from the objects the operator applied (not a helm
    release), registers, takes a task, and its pod is bound by KAI in the project's queue; Ready stays True."""
    # an install whose task template needs nothing the project lacks (the module's mounts a PVC and a CA)
    source, _ = install_clearml(
        kube, tmp_path, "b-5.3.2-internal-multiqueue", access_key="AKOPERATOR9", secret_key="SK-operator-9"
    )
    CREATED_NAMESPACES.append(source)
    project = unique("p")
    ns = kai.project(project)  # runai-<project>, labelled, and its queue in KAI
    CREATED_NAMESPACES.append(ns)
    wait_for("the ClearMLAgent of the namespace", lambda: operator.agent(ns, project))
    assert not operator.agent(ns, project)["spec"].get("queues")  # the default spec: render's default queue
    patch = json.dumps({"spec": {"clearmlNamespace": source}})  # a person's edit, which the operator keeps
    kube.kubectl("patch", "clearmlagent", project, "-n", ns, "--type=merge", "-p", patch)
    wait_for(
        "Ready=True on the edited spec",
        lambda: (r := operator.ready(ns, project)).get("status") == "True" and r["observed"] == r["generation"],
        timeout=90,
    )
    made = names(project)
    release, queue = made.release, made.queue
    with (
        clearml_for("AKOPERATOR9", "SK-operator-9", queue) as clearml,
        run_agent(kube, ns, release, clearml, tmp_path / "agent") as agent,
    ):
        assert clearml.workers() == {release: [queue]}
        task = clearml.enqueue("train-from-the-operator", queue)
        created = agent.wait_for(lambda: get_pod(kube, ns, task_pod_name(task)), f"the pod of task {task}")
        assert created["spec"]["schedulerName"] == "runai-scheduler"
        placed = kai.placement(ns, task_pod_name(task))
        assert placed.queue == project, "the PodGroup is not in the project's queue"
        assert placed.bind_request["status"]["phase"] == "Succeeded"
        assert placed.bind_request["spec"]["selectedNode"] == placed.node
    ready = wait_for("Ready=True", lambda: (r := operator.ready(ns, project)).get("status") == "True" and r)
    assert ready["observed"] == ready["generation"]
    # off again, so that this agent (and the install it reads, which the operator watches for it) leaves the idle
    # test alone
    kube.kubectl("annotate", "namespace", ns, "clearml-runai.io/agent=off")
    wait_for("the ClearMLAgent turned off", lambda: operator.agent(ns, project) is None)


def test_drift_is_restored(kube: Kube, operator: Operator) -> None:
    project = unique("p")
    ns = project_namespace(kube, project)
    wait_for("Ready", lambda: operator.ready(ns, project).get("status") == "True", timeout=90)
    release = f"clearml-runai-{project}"
    kube.kubectl("delete", "deployment", release, "-n", ns)
    kube.kubectl("delete", "role", release, "-n", ns)
    wait_for(
        "the Deployment and Role back",
        lambda: kube.kubectl("get", "deployment,role", release, "-n", ns, check=False).returncode == 0,
    )
    # a hand edit of what the chart sets: the agent's image, and the task pods' scheduler in their template
    container = kube.get("deployment", ns, release)["spec"]["template"]["spec"]["containers"][0]
    kube.kubectl("set", "image", f"deployment/{release}", f"{container['name']}=edited:1", "-n", ns)
    template = kube.get("configmap", ns, f"{release}-pod-template")
    key = next(iter(template["data"]))
    edited = template["data"][key].replace("schedulerName: runai-scheduler", "schedulerName: default-scheduler")
    assert edited != template["data"][key]
    kube.kubectl(
        "patch",
        "configmap",
        f"{release}-pod-template",
        "-n",
        ns,
        "--type=merge",
        "-p",
        json.dumps({"data": {key: edited}}),
    )
    wait_for(
        "the agent's image and the task pods' schedulerName restored",
        lambda: (
            kube.get("deployment", ns, release)["spec"]["template"]["spec"]["containers"][0]["image"]
            == container["image"]
            and "schedulerName: runai-scheduler" in kube.get("configmap", ns, f"{release}-pod-template")["data"][key]
        ),
    )


def test_source_gone_says_why_and_leaves_agents_untouched(kube: Kube, operator: Operator) -> None:
    project = unique("p")
    ns = project_namespace(kube, project)
    wait_for("Ready", lambda: operator.ready(ns, project).get("status") == "True", timeout=90)
    before = versions(agent_objects(kube, ns, project))
    mounted = {
        v["configMap"]["name"]
        for d in kube.get("deployment", operator.clearml_ns)["items"]
        for v in d["spec"]["template"]["spec"].get("volumes") or []
        if "configMap" in v
    }
    (template,) = [c for c in kube.get("configmap", operator.clearml_ns)["items"] if c["metadata"]["name"] in mounted]
    name = template["metadata"]["name"]
    kube.kubectl("delete", "configmap", name, "-n", operator.clearml_ns)
    try:
        ready = wait_for(
            "Ready=False naming the ConfigMap",
            lambda: (r := operator.ready(ns, project)).get("status") == "False" and r,
        )
        assert ready["reason"] == "SourceUnreadable" and name in ready["message"], ready
        assert versions(agent_objects(kube, ns, project)) == before
    finally:
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            template["metadata"].pop(key, None)
        kube.apply([template])
    wait_for("Ready again", lambda: operator.ready(ns, project).get("status") == "True")


def test_spec_change_applied_and_bad_spec_stays_alone(kube: Kube, operator: Operator) -> None:
    a, b = unique("p"), unique("p")
    ns_a, ns_b = project_namespace(kube, a), project_namespace(kube, b)
    for ns, p in ((ns_a, a), (ns_b, b)):
        wait_for("Ready", lambda ns=ns, p=p: operator.ready(ns, p).get("status") == "True", timeout=90)
    patch = json.dumps({"spec": {"gpuFraction": "0.5", "priorityClass": "train"}})
    kube.kubectl("patch", "clearmlagent", a, "-n", ns_a, "--type=merge", "-p", patch)

    def template_of(ns: str, p: str) -> str:
        cms = [o for k, o in agent_objects(kube, ns, p).items() if k.startswith("configmap/")]
        return "".join(v for cm in cms for v in (cm.get("data") or {}).values())

    wait_for(
        "the gpu fraction in the task template",
        lambda: "gpu-fraction" in template_of(ns_a, a) and "train" in template_of(ns_a, a),
    )
    wait_for("observedGeneration caught up", lambda: (r := operator.ready(ns_a, a))["observed"] == r["generation"])
    b_before = versions(agent_objects(kube, ns_b, b))
    kube.kubectl(
        "patch", "clearmlagent", a, "-n", ns_a, "--type=merge", "-p", json.dumps({"spec": {"gpuFraction": "7"}})
    )
    ready = wait_for(
        "Ready=False for the bad spec", lambda: (r := operator.ready(ns_a, a)).get("status") == "False" and r
    )
    assert ready["reason"] == "SpecInvalid" and "spec.gpuFraction" in ready["message"]
    assert "gpu-fraction" in template_of(ns_a, a)  # what was applied stays
    assert operator.ready(ns_b, b)["status"] == "True" and versions(agent_objects(kube, ns_b, b)) == b_before


def test_off_deleted_and_namespace_gone_leave_nothing(kube: Kube, operator: Operator) -> None:
    a, b, c = unique("p"), unique("p"), unique("p")
    ns_a, ns_b, ns_c = project_namespace(kube, a), project_namespace(kube, b), project_namespace(kube, c)
    for ns, p in ((ns_a, a), (ns_b, b), (ns_c, c)):
        wait_for("Ready", lambda ns=ns, p=p: operator.ready(ns, p).get("status") == "True", timeout=90)
    kube.kubectl("annotate", "namespace", ns_a, "clearml-runai.io/agent=off")
    wait_for(
        "no ClearMLAgent and no objects in the namespace turned off",
        lambda: operator.agent(ns_a, a) is None and not agent_objects(kube, ns_a, a),
    )
    time.sleep(RESYNC + 1)
    assert operator.agent(ns_a, a) is None, "auto mode brought back an agent turned off"
    kube.kubectl("delete", "clearmlagent", b, "-n", ns_b)
    wait_for("the objects of a deleted ClearMLAgent gone", lambda: not agent_objects(kube, ns_b, b))
    kube.kubectl("delete", "namespace", ns_c, "--wait=true", "--timeout=90s")
    assert kube.kubectl("get", "namespace", ns_c, check=False).returncode != 0


def test_hand_installed_release_is_left_alone(kube: Kube, operator: Operator, tmp_path: Path) -> None:
    project = unique("p")
    ns = f"runai-{project}"
    kube.create_namespace(ns)  # not yet a project: the release first, as a person would install it
    values = tmp_path / "values.yaml"
    kube.gen("render", "--project", project, "--clearml-namespace", operator.clearml_ns, "-o", str(values))
    kube.helm(
        "v4",
        "install",
        f"clearml-runai-{project}",
        str(ROOT / "charts" / "clearml-runai-agent"),
        "-n",
        ns,
        "-f",
        str(values),
    )
    before = versions(agent_objects(kube, ns, project))
    project_namespace(kube, project, name=ns)
    ready = wait_for(
        "HelmReleaseExists", lambda: (r := operator.ready(ns, project)).get("reason") == "HelmReleaseExists" and r
    )
    assert "installed with helm" in ready["message"]
    time.sleep(RESYNC + 1)
    assert versions(agent_objects(kube, ns, project)) == before
    kube.helm("v4", "uninstall", f"clearml-runai-{project}", "-n", ns, check=False)


def test_idle_operator_writes_nothing(kube: Kube, operator: Operator) -> None:
    projects = [unique("p") for _ in range(3)]
    namespaces = [project_namespace(kube, p) for p in projects]
    for ns, p in zip(namespaces, projects, strict=True):
        wait_for("Ready", lambda ns=ns, p=p: operator.ready(ns, p).get("status") == "True", timeout=120)
    # idle: what earlier tests set going (other projects' re-plans) has settled: no write over a whole resync
    writes = operator.metrics()["clearml_runai_api_writes_total"]
    for _ in range(30):
        time.sleep(RESYNC + 1)
        now = operator.metrics()["clearml_runai_api_writes_total"]
        if now == writes:
            break
        writes = now
    else:
        raise AssertionError("the operator never stopped writing")
    before = {p: versions(agent_objects(kube, ns, p)) for ns, p in zip(namespaces, projects, strict=True)}
    agents = {
        p: operator.agent(ns, p)["metadata"]["resourceVersion"] for ns, p in zip(namespaces, projects, strict=True)
    }
    steady = operator.metrics()
    reconciles = sum(v for k, v in steady.items() if k.startswith("clearml_runai_reconciles_total"))
    time.sleep(4 * RESYNC)
    after = operator.metrics()
    # reads are the informers' watches: a resync's reconciles send the API server no GET or LIST
    assert after["clearml_runai_api_reads_total"] == steady["clearml_runai_api_reads_total"]
    lists = {k: v for k, v in after.items() if k.startswith("clearml_runai_informer_lists_total")}
    assert len(lists) >= 8 and lists == {k: steady[k] for k in lists}
    assert sum(v for k, v in after.items() if k.startswith("clearml_runai_reconciles_total")) > reconciles, (
        "no resync ran"
    )
    assert after["clearml_runai_api_writes_total"] == writes
    assert {p: versions(agent_objects(kube, ns, p)) for ns, p in zip(namespaces, projects, strict=True)} == before
    assert {
        p: operator.agent(ns, p)["metadata"]["resourceVersion"] for ns, p in zip(namespaces, projects, strict=True)
    } == agents


def test_rotation_rolls_every_agent(kube: Kube, operator: Operator, tmp_path: Path) -> None:
    """Scenario 2: the source's key pair rotated -> every agent rolls with it, and the real agent daemon started
    from the rolled objects logs in to ClearML with the new pair (the stand-in, rotated too, refuses the old)."""
    projects = [unique("p"), unique("p")]
    namespaces = [project_namespace(kube, p) for p in projects]
    for ns, p in zip(namespaces, projects, strict=True):
        wait_for("Ready", lambda ns=ns, p=p: operator.ready(ns, p).get("status") == "True", timeout=90)

    before = {p: checksum_of(kube, ns, p) for ns, p in zip(namespaces, projects, strict=True)}
    old, new = source_keys(kube, operator.clearml_ns), ("AKROTATED2", "SK-rotated-2")
    made = names(projects[0])
    with clearml_for(*old, made.queue) as clearml:
        with run_agent(kube, namespaces[0], made.release, clearml, tmp_path / "before"):
            assert clearml.workers() == {made.release: [made.queue]}
        assert clearml.workers() == {}, "the agent did not unregister on SIGTERM"
        assert {k for k, _ in clearml.logins()} == {old[0]}
        clearml.rotate(*new)  # the admin's new key pair, which the old one no longer opens
        rotate_source_keys(kube, operator.clearml_ns, new)
        for ns, p in zip(namespaces, projects, strict=True):
            wait_for(
                f"agent {p} rolled with the new key pair",
                lambda ns=ns, p=p: rolled_with(kube, ns, p, before[p], new),
                timeout=30,
            )
        seen = len(clearml.logins())
        # the rolled agent: a new pod of the Deployment, started from what the operator applied now
        with run_agent(kube, namespaces[0], made.release, clearml, tmp_path / "after"):
            assert clearml.workers() == {made.release: [made.queue]}
        logins = clearml.logins()[seen:]
    assert logins and all(login == (new[0], 200) for login in logins), logins
    events = kube.kubectl(
        "get", "events", "-n", namespaces[0], "--field-selector", "reason=RotationSeen", "-o", "name"
    ).stdout
    assert events.strip(), "no RotationSeen Event on the ClearMLAgent"


def lease_holder(kube: Kube) -> str:
    proc = kube.kubectl("get", "lease", "clearml-runai-operator", "-n", SYSTEM_NS, "-o", "json", check=False)
    return str(json.loads(proc.stdout)["spec"].get("holderIdentity") or "") if proc.returncode == 0 else ""


def test_killed_mid_reconcile_converges_and_one_replica_writes(kube: Kube, operator: Operator) -> None:
    """Scenario 9: a second replica stands by (writes nothing) while the first holds the Lease; the first
    SIGKILLed while it reconciles 50 new projects -> the second takes the Lease and converges, one
    ClearMLAgent and one set of objects each; the first restarted stands by; the second stopped gives the
    Lease up and the first takes it at once. Last in the module: it leaves operator-a leading again."""
    wait_for("operator-a holding the Lease", lambda: lease_holder(kube) == "operator-a")
    proc_b, log_b, metrics_b, _ = spawn(
        operator.container, operator.kubeconfig, operator.workdir, "operator-b", operator.rendering
    )
    try:
        wait_for("operator-b standing by", lambda: metrics_of(metrics_b)["clearml_runai_leader"] == 0)
        assert operator.metrics()["clearml_runai_leader"] == 1
        projects = [unique("p") for _ in range(50)]
        writes = operator.metrics()["clearml_runai_api_writes_total"]
        namespaces = [project_namespace(kube, p) for p in projects]
        wait_for(
            "operator-a reconciling the new projects",
            lambda: operator.metrics()["clearml_runai_api_writes_total"] >= writes + 5,
            timeout=30,
        )
        operator.proc.send_signal(signal.SIGKILL)
        operator.proc.wait(timeout=10)
        assert metrics_of(metrics_b)["clearml_runai_api_writes_total"] == 0, "the standby wrote"
        ready = sum(operator.ready(ns, p).get("status") == "True" for ns, p in zip(namespaces, projects, strict=True))
        assert ready < len(projects), "operator-a finished before it was killed: the kill proves nothing"
        wait_for("operator-b taking the Lease", lambda: lease_holder(kube) == "operator-b", timeout=40)
        for ns, p in zip(namespaces, projects, strict=True):
            wait_for(f"{p} Ready", lambda ns=ns, p=p: operator.ready(ns, p).get("status") == "True", timeout=120)
        kinds = []
        for ns, p in zip(namespaces, projects, strict=True):
            assert len(kube.get("clearmlagent", ns)["items"]) == 1
            kinds.append(sorted(k.split("/")[0] for k in agent_objects(kube, ns, p)))
        assert all(k == kinds[0] for k in kinds) and len(set(kinds[0])) == len(kinds[0]), kinds
        # restarted, operator-a stands by: it writes nothing while operator-b holds the Lease
        operator.proc, operator.log, operator.metrics_port, _ = spawn(
            operator.container, operator.kubeconfig, operator.workdir, "operator-a", operator.rendering
        )
        wait_for("operator-a standing by", lambda: operator.metrics()["clearml_runai_leader"] == 0)
        time.sleep(RESYNC + 1)
        assert operator.metrics()["clearml_runai_api_writes_total"] == 0
        assert metrics_of(metrics_b)["clearml_runai_leader"] == 1
    finally:
        proc_b.send_signal(signal.SIGTERM)
        code_b = proc_b.wait(timeout=10)
    assert code_b == 0 and "Traceback" not in log_b.read_text(), log_b.read_text()[-3000:]
    # operator-b gave the Lease up when it stopped: operator-a takes it in a round or two, not after 15 s
    wait_for("operator-a leading again", lambda: operator.metrics()["clearml_runai_leader"] == 1, timeout=8)
    assert lease_holder(kube) == "operator-a"
