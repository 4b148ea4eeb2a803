"""The demo behind `make demo`: a ClearML task from the queue to a pod the Run:ai scheduler binds, to Succeeded.

Runs against $KUBECONFIG (the local control plane started by ci/demo.sh) with the pinned tools first
on PATH. Every command it runs is printed, so a reader can do the same on their own cluster.

Real: kube-apiserver, etcd, kube-controller-manager and kube-scheduler (built from k8s.io/kubernetes),
KAI (v0.16.8 LTS, or the build KAI_VERSION selects; the open-source core of the Run:ai scheduler) as
runai-scheduler, the upstream clearml chart 3.10.5, this tool, helm, kubectl, the pinned clearml-agent
3.0.3's daemon loop, and the clearml SDK 2.1.12 that creates and enqueues the task.
Stood in: the nodes and their container runtime (kwok runs the pods bound to fake GPU nodes), the
ClearML server (a local API that knows only the agent's key pair), and the task's own process.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the sandbox package

from sandbox.agent_harness import AgentDaemon, ClearMLStandIn, enqueue, task_pod_name, task_status  # noqa: E402
from sandbox.corpus.cases import credentials, find, merge  # noqa: E402
from sandbox.corpus.install import install  # noqa: E402
from sandbox.names import names  # noqa: E402

CLEARML_NS = "clearml"
PROJECT = "team-a"
NAMESPACE = names(PROJECT).namespace
RELEASE = names(PROJECT).release
QUEUE = names(PROJECT).queue  # the ClearML queue the project's agent serves
ACCESS_KEY, SECRET_KEY = "DEMOACCESSKEY42", "demo-secret-key-7f3a"
OP_PROJECT = "team-b"  # the project the operator serves in the last act
OP_NAMESPACE, OP_RELEASE, OP_QUEUE = names(OP_PROJECT).namespace, names(OP_PROJECT).release, names(OP_PROJECT).queue
PHASE_ANNOTATION = "testenv.clearml-runai/phase"  # how a test (or this demo) ends a pod kwok runs


def step(title: str) -> None:
    print(f"\n\033[1m==> {title}\033[0m", flush=True)


def sh(*argv: str, stdin: str | None = None, show: bool = True, check: bool = True) -> str:
    if show:
        print("$ " + " ".join(shlex.quote(a) for a in argv), flush=True)
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.exit(f"demo: {argv[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def kubectl_json(*argv: str) -> dict:  # type: ignore[type-arg]
    return json.loads(sh("kubectl", *argv, "-o", "json", show=False))  # type: ignore[no-any-return]


def wait(what: str, probe, timeout: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.5)
    sys.exit(f"demo: no {what} within {timeout:.0f}s")


class Runner:
    """kubectl and helm for sandbox.corpus.install, printing what they run."""

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        print("$ kubectl " + " ".join(shlex.quote(a) for a in args), flush=True)
        return subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, check=check)

    def helm(self, version: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        print("$ helm " + " ".join(shlex.quote(a) for a in args), flush=True)
        return subprocess.run(["helm", *args], capture_output=True, text=True, check=check)


def bound(pod: str, namespace: str = NAMESPACE) -> dict | None:  # type: ignore[type-arg]
    obj = kubectl_json("get", "pod", pod, "-n", namespace)
    conditions = {c["type"]: c["status"] for c in obj["status"].get("conditions") or []}
    return obj if obj["spec"].get("nodeName") and conditions.get("PodBound") == "True" else None


def cleanup() -> None:
    sh("kubectl", "delete", "namespace", OP_NAMESPACE, "--wait=false", "--ignore-not-found", show=False, check=False)
    sh("kubectl", "delete", "queues.scheduling.run.ai", OP_PROJECT, "--ignore-not-found", show=False, check=False)
    sh("helm", "uninstall", RELEASE, "-n", NAMESPACE, show=False, check=False)
    sh("helm", "uninstall", "clearml", "-n", CLEARML_NS, show=False, check=False)
    sh("kubectl", "delete", "queues.scheduling.run.ai", PROJECT, "--ignore-not-found", show=False, check=False)
    sh("kubectl", "delete", "namespace", NAMESPACE, CLEARML_NS, "--wait=false", show=False, check=False)


def runai_queue(project: str) -> str:
    return json.dumps({"apiVersion": "scheduling.run.ai/v2", "kind": "Queue", "metadata": {"name": project},
                       "spec": {"parentQueue": "default", "resources": {
                           "gpu": {"quota": 2, "limit": -1, "overQuotaWeight": 1},
                           "cpu": {"quota": -1, "limit": -1, "overQuotaWeight": 1},
                           "memory": {"quota": -1, "limit": -1, "overQuotaWeight": 1}}}})


def operator_act(work: Path) -> None:
    """The operator: a new Run:ai project gets its agent with no person in the loop."""
    step("The operator: every Run:ai project gets its agent, with nobody running render or helm")
    sh("kubectl", "apply", "--server-side", "-f",
       str(ROOT / "charts" / "clearml-runai-operator" / "crds" / "clearmlagents.clearml-runai.io.yaml"))
    sh("kubectl", "wait", "--for=condition=Established", "crd/clearmlagents.clearml-runai.io", "--timeout=60s")
    argv = ["clearml-runai-gen", "operate", "--all-projects", "--clearml-namespace", CLEARML_NS,
            "--health-address", "off", "--metrics-address", "off"]
    print("$ " + " ".join(argv) + "   # in a cluster: the chart charts/clearml-runai-operator runs it")
    log = work / "operator.log"
    operator = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)
    try:
        step(f"A Run:ai admin creates the project {OP_PROJECT}: namespace {OP_NAMESPACE} labelled runai/queue, "
             "and its queue")
        sh("kubectl", "create", "namespace", OP_NAMESPACE)
        sh("kubectl", "label", "namespace", OP_NAMESPACE, f"runai/queue={OP_PROJECT}")
        sh("kubectl", "apply", "-f", "-", stdin=runai_queue(OP_PROJECT))
        started = time.monotonic()

        def ready() -> bool:
            agent = kubectl_json("get", "clearmlagents", "-n", OP_NAMESPACE)["items"]
            conditions = (agent[0].get("status") or {}).get("conditions") or [] if agent else []
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        wait("the project's ClearMLAgent Ready", ready)
        print(f"its ClearMLAgent Ready {time.monotonic() - started:.1f} s after the namespace was made; "
              f"{NAMESPACE}, installed with helm above, is left alone:")
        print(sh("kubectl", "get", "clearmlagents", "-A"))
        print(sh("kubectl", "get", "deployment,configmap,secret,role,rolebinding,serviceaccount", "-n", OP_NAMESPACE,
                 "-l", "app.kubernetes.io/managed-by=clearml-runai-operator"))

        step("Its agent, started from the objects the operator applied, takes a task; KAI binds the pod")
        with ClearMLStandIn(ACCESS_KEY, SECRET_KEY) as clearml:
            clearml.add_queue(OP_QUEUE)
            with AgentDaemon(os.environ["KUBECONFIG"], OP_NAMESPACE, OP_RELEASE, clearml, work / "op-agent") as agent:
                agent.wait_for(lambda: clearml.workers(), "the agent's worker registration")
                print(f"worker registered with ClearML: {clearml.workers()}")
                task = clearml.enqueue("demo-task-2", OP_QUEUE)
                pod = task_pod_name(task)
                print(f"task {task} enqueued to {OP_QUEUE}")
                placed = wait("KAI's binding of the task pod", lambda: sh(
                    "kubectl", "get", "pod", pod, "-n", OP_NAMESPACE, "--ignore-not-found", "-o", "name", show=False)
                    and bound(pod, OP_NAMESPACE))
                group = kubectl_json("get", "podgroups.scheduling.run.ai", "-n", OP_NAMESPACE,
                                     placed["metadata"]["annotations"]["pod-group-name"])
                print(f"  pod {pod}: node {placed['spec']['nodeName']} (PodBound=True), "
                      f"PodGroup in queue {group['spec']['queue']}")
    finally:
        operator.terminate()
        try:
            operator.wait(timeout=15)
        except subprocess.TimeoutExpired:
            operator.kill()
    print(f"operator stopped (exit {operator.returncode}); its log: {sum(1 for _ in log.open())} lines")


def main() -> None:
    if "--cleanup" in sys.argv:
        cleanup()
        return
    with tempfile.TemporaryDirectory(prefix="clearml-runai-demo-") as tmp:
        work = Path(tmp)
        step("The local cluster: real control plane and Run:ai-lineage scheduler; nodes and runtime stood in")
        print(sh("kubectl", "version").strip())
        kai_version = os.environ.get("KAI_VERSION") or "v0.16.8"  # ci/cluster.sh's default (LTS); or v0.17.0
        print(f"Real: kube-apiserver, etcd, controller manager, kube-scheduler, and KAI {kai_version} (the open-source "
              "Run:ai scheduler) as runai-scheduler. Stood in: the nodes (kwok keeps fake GPU nodes Ready and "
              "runs the pods bound to them), the ClearML server, a task's own process.")
        print(sh("kubectl", "get", "nodes", "-o",
                 "custom-columns=NODE:.metadata.name,GPUS:.status.capacity.nvidia\\.com/gpu,READY:.status.conditions[-1].status"))

        step("A ClearML install: the upstream clearml chart 3.10.5 with its k8s agent, a helm release in 'clearml'")
        case = find("a-3.10.5-defaults")
        gpu = {"agentk8sglue": {"podTemplate": {"resources": {"limits": {"nvidia.com/gpu": 1}}}}}
        install(Runner(), case, CLEARML_NS, work / "clearml",
                merge(credentials(case, ACCESS_KEY, SECRET_KEY, QUEUE), gpu))
        print(sh("kubectl", "get", "deploy,configmap,secret,service", "-n", CLEARML_NS))

        step(f"The Run:ai project {PROJECT}: namespace {NAMESPACE}, and its queue (2 GPUs of department 'default')")
        sh("kubectl", "create", "namespace", NAMESPACE)
        sh("kubectl", "label", "namespace", NAMESPACE, f"runai/queue={PROJECT}")
        queue = {"apiVersion": "scheduling.run.ai/v2", "kind": "Queue", "metadata": {"name": PROJECT},
                 "spec": {"parentQueue": "default", "resources": {
                     "gpu": {"quota": 2, "limit": -1, "overQuotaWeight": 1},
                     "cpu": {"quota": -1, "limit": -1, "overQuotaWeight": 1},
                     "memory": {"quota": -1, "limit": -1, "overQuotaWeight": 1}}}}
        sh("kubectl", "apply", "-f", "-", stdin=json.dumps(queue))

        step("What the tool finds in the ClearML namespace")
        print(sh("clearml-runai-gen", "discover", "--clearml-namespace", CLEARML_NS))

        step("Render the values of the project's release (read live from the API server)")
        values = work / "values.yaml"
        sh("clearml-runai-gen", "render", "--project", PROJECT, "--queue", QUEUE, "-o", str(values))
        text = values.read_text()
        for secret_line in [ln for ln in text.splitlines() if "accessKey:" in ln or "secretKey:" in ln]:
            text = text.replace(secret_line, secret_line.split(":")[0] + ": <redacted for the demo>")
        print(text)

        step("Install the chart into the Run:ai namespace (the agent's own pod: placed by kube-scheduler)")
        print(sh("helm", "install", RELEASE, str(ROOT / "charts" / "clearml-runai-agent"), "-n", NAMESPACE,
                 "-f", str(values), "--wait", "--timeout=120s"))
        print(sh("kubectl", "get", "deployment,pod", "-n", NAMESPACE, "-o", "wide"))

        step("A ClearML task, taken by the release's real clearml-agent 3.0.3 (its daemon loop, as its container runs)")
        with ClearMLStandIn(ACCESS_KEY, SECRET_KEY) as clearml:
            clearml.add_queue(QUEUE)
            with AgentDaemon(os.environ["KUBECONFIG"], NAMESPACE, RELEASE, clearml, work / "agent") as agent:
                print("The host stands in for the agent pod where it must:")
                for line in agent.launch.substitutions:
                    print(f"  - {line}")
                agent.wait_for(lambda: clearml.workers(), "the agent's worker registration")
                print(f"worker registered with ClearML: {clearml.workers()}")
                task = enqueue(clearml, "demo-task", QUEUE)
                pod = task_pod_name(task)
                print(f"task {task} made and enqueued to {QUEUE} by a user's script: the clearml SDK's "
                      "Task.create(project_name=..., task_name=..., docker=...) and Task.enqueue(task, queue_name=...)")
                agent.wait_for(lambda: sh("kubectl", "get", "pod", pod, "-n", NAMESPACE, "--ignore-not-found",
                                          "-o", "name", show=False), "the task's pod")
                print(f"the agent created pod {pod} in {NAMESPACE}, as its ServiceAccount")

                step("The Run:ai scheduler (KAI) groups the pod into the project's queue and binds it to a GPU node")
                placed = wait("KAI's binding of the task pod", lambda: bound(pod))
                group = kubectl_json("get", "podgroups.scheduling.run.ai", "-n", NAMESPACE,
                                     placed["metadata"]["annotations"]["pod-group-name"])
                requests = [r for r in kubectl_json("get", "bindrequests.scheduling.run.ai", "-n", NAMESPACE)["items"]
                            if r["spec"].get("podName") == pod]
                print(f"  node:         {placed['spec']['nodeName']} (PodBound=True)")
                print(f"  PodGroup:     {group['metadata']['name']} in queue {group['spec']['queue']}")
                print(f"  BindRequest:  {requests[0]['metadata']['name']}: {requests[0]['status']['phase']}")
                print(f"  GPUs:         {placed['spec']['containers'][0]['resources']['limits']['nvidia.com/gpu']}")
                wait("the pod Running", lambda: kubectl_json("get", "pod", pod, "-n", NAMESPACE)["status"].get("phase")
                     == "Running")
                print(sh("kubectl", "get", "pod", pod, "-n", NAMESPACE, "-o", "wide"))

                step("The task runs and finishes (its process stood in); the agent cleans up its pod")
                clearml.report_as_task(task, "in_progress")
                clearml.report_as_task(task, "completed")
                sh("kubectl", "annotate", "pod", pod, "-n", NAMESPACE, f"{PHASE_ANNOTATION}=Succeeded")
                wait("the pod Succeeded", lambda: kubectl_json("get", "pod", pod, "-n", NAMESPACE)["status"].get(
                    "phase") == "Succeeded")
                print(f"pod {pod}: Succeeded")
                agent.wait_for(lambda: not sh("kubectl", "get", "pod", pod, "-n", NAMESPACE, "--ignore-not-found",
                                              "-o", "name", show=False), "the agent's cleanup")
                print(f"the agent deleted pod {pod}")
                changes = [f"{c.status} ({c.reason or c.by})" for c in clearml.history(task)]
                print("task status in ClearML: " + " -> ".join(changes))
                seen = task_status(clearml, task)
                print(f"Task.get_task(task_id=...).get_status(), as the user's SDK sees it: {seen}")

                step("If KAI preempts a task (a preemptible priority such as Run:ai's `train`)")
                print("KAI evicts a preemptible task pod for a workload with a better claim. A bare pod is\n"
                      "gone for good and its task stays in_progress with no pod; a Job makes a new pod, the\n"
                      "agent re-enqueues the task and it runs again when a GPU frees (tests/cluster/\n"
                      "test_preemption.py). So for a preemptible --priority-class, render makes the agent\n"
                      "create Jobs (with a note; --task-kind pod keeps bare pods).")

            step("Check the project, as after any install (the ClearML API reached at the stand-in's URL)")
            print(sh("clearml-runai-gen", "verify", "--project", PROJECT, "--clearml-api-host", clearml.url))

        operator_act(work)

        step("On your own cluster")
        print(f"  clearml-runai-gen render --project {PROJECT} -o values.yaml\n"
              f"  helm install {RELEASE} \"$(clearml-runai-gen chart-path)\" -n {NAMESPACE} -f values.yaml\n"
              f"  clearml-runai-gen verify --project {PROJECT}\n"
              f"  clearml-runai-gen diff --values values.yaml   # in a scheduled job: exit 1 on drift\n"
              f"  # or, for every project at once and kept right: the operator\n"
              f"  helm install clearml-runai-operator charts/clearml-runai-operator -n clearml-runai-system "
              f"--create-namespace")

        step("Clean up")
        cleanup()
        print("done")


if __name__ == "__main__":
    os.environ.setdefault("KUBECONFIG", "")
    main()
