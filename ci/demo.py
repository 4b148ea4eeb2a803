"""The demo behind `make demo`: a sample ClearML install, render, helm install, a task run by the real agent.

Runs against $KUBECONFIG (the local control plane started by ci/demo.sh) with the pinned tools first
on PATH. Every command it runs is printed, so a reader can do the same on their own cluster.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.agent_harness import AgentDaemon, ClearMLStandIn, task_pod_name  # noqa: E402
from tests.fixtures.installs import ACCESS_KEY, SECRET_KEY, flavour_a, json_to_yaml  # noqa: E402

CLEARML_NS = "clearml"
PROJECT = "team-a"
NAMESPACE = f"runai-{PROJECT}"
RELEASE = f"clearml-runai-{PROJECT}"


def step(title: str) -> None:
    print(f"\n\033[1m==> {title}\033[0m", flush=True)


def sh(*argv: str, stdin: str | None = None, show: bool = True, check: bool = True) -> str:
    if show:
        print("$ " + " ".join(shlex.quote(a) for a in argv), flush=True)
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.exit(f"demo: {argv[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


def sample_chart(directory: Path) -> Path:
    """The k8sagent objects of the clearml chart 3.10.5, as a chart, so helm owns them as it would."""
    chart = directory / "clearml"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(json_to_yaml({"apiVersion": "v2", "name": "clearml", "version": "3.10.5"}))
    objs = flavour_a(release="clearml", namespace=CLEARML_NS, version="3.10.5")
    (chart / "templates" / "k8sagent.yaml").write_text("---\n".join(json_to_yaml(o) for o in objs))
    return chart


def cleanup() -> None:
    sh("helm", "uninstall", RELEASE, "-n", NAMESPACE, show=False, check=False)
    sh("helm", "uninstall", "clearml", "-n", CLEARML_NS, show=False, check=False)
    sh("kubectl", "delete", "namespace", NAMESPACE, CLEARML_NS, "--wait=false", show=False, check=False)


def main() -> None:
    if "--cleanup" in sys.argv:
        cleanup()
        return
    with tempfile.TemporaryDirectory(prefix="clearml-runai-demo-") as tmp:
        work = Path(tmp)
        step("The control plane (a real kube-apiserver, built from Go modules)")
        print(sh("kubectl", "version").strip())

        step("A sample ClearML install: the clearml chart 3.10.5 k8sagent, as helm leaves it in namespace clearml")
        sh("kubectl", "create", "namespace", CLEARML_NS)
        sh("helm", "install", "clearml", str(sample_chart(work)), "-n", CLEARML_NS)
        print(sh("kubectl", "get", "deploy,configmap,secret,role,rolebinding", "-n", CLEARML_NS))

        step(f"The Run:ai project {PROJECT}: namespace {NAMESPACE}, labelled runai/queue={PROJECT}")
        sh("kubectl", "create", "namespace", NAMESPACE)
        sh("kubectl", "label", "namespace", NAMESPACE, f"runai/queue={PROJECT}")

        step("What the tool finds in the ClearML namespace")
        print(sh("clearml-runai-gen", "discover", "--clearml-namespace", CLEARML_NS))

        step("Render the values of the project's release (read live from the API server)")
        values = work / "values.yaml"
        sh("clearml-runai-gen", "render", "--project", PROJECT, "-o", str(values))
        text = values.read_text()
        for secret_line in [ln for ln in text.splitlines() if "accessKey:" in ln or "secretKey:" in ln]:
            text = text.replace(secret_line, secret_line.split(":")[0] + ": <redacted for the demo>")
        print(text)

        step("Install the chart into the Run:ai namespace")
        print(sh("helm", "install", RELEASE, str(ROOT / "charts" / "clearml-runai-agent"), "-n", NAMESPACE,
                 "-f", str(values)))
        print(sh("kubectl", "get", "serviceaccount,role,rolebinding,secret,configmap,deployment,pod", "-n", NAMESPACE,
                 "-l", f"app.kubernetes.io/instance={RELEASE}"))

        step("A ClearML task, taken by the release's real clearml-agent 3.0.3 (its daemon loop, as its container runs)")
        print("Stood in: the ClearML server (a local API that knows only the agent's key pair, from the install's "
              "Secret). Real: the agent, its kubectl and ServiceAccount token, the API server.")
        queue = f"runai-{PROJECT}"
        with ClearMLStandIn(ACCESS_KEY, SECRET_KEY) as clearml:
            clearml.add_queue(queue)
            with AgentDaemon(os.environ["KUBECONFIG"], NAMESPACE, RELEASE, clearml, work / "agent") as agent:
                print("The host stands in for the agent pod where it must:")
                for line in agent.launch.substitutions:
                    print(f"  - {line}")
                agent.wait_for(lambda: clearml.workers(), "the agent's worker registration")
                print(f"worker registered with ClearML: {clearml.workers()}")
                task = clearml.enqueue("demo-task", queue)
                print(f"task {task} enqueued to {queue}")
                agent.wait_for(lambda: sh("kubectl", "get", "pod", task_pod_name(task), "-n", NAMESPACE,
                                          "--ignore-not-found", "-o", "name", show=False), "the task's pod")
            print(sh("kubectl", "get", "pod", task_pod_name(task), "-n", NAMESPACE, "-o",
                     "custom-columns=NAME:.metadata.name,NAMESPACE:.metadata.namespace,SCHEDULER:.spec.schedulerName,"
                     "PROJECT:.metadata.labels.project,PHASE:.status.phase"))
            changes = [f"{c.status} ({c.reason or c.by})" for c in clearml.history(task)]
            print("task status in ClearML: " + " -> ".join(changes))
            print("(Pending: the local control plane has no nodes and no Run:ai scheduler; on a Run:ai cluster the "
                  "runai-scheduler places it.)")

            step("Check the project, as after any install (the ClearML API reached at the stand-in's URL)")
            print(sh("clearml-runai-gen", "verify", "--project", PROJECT, "--clearml-api-host", clearml.url,
                     check=False))

        step("On your own cluster")
        print(f"  clearml-runai-gen render --project {PROJECT} -o values.yaml\n"
              f"  helm install {RELEASE} charts/clearml-runai-agent -n {NAMESPACE} -f values.yaml\n"
              f"  clearml-runai-gen verify --project {PROJECT}\n"
              f"  clearml-runai-gen diff --values values.yaml   # in a scheduled job: exit 1 on drift")

        step("Clean up")
        cleanup()
        print("done")


if __name__ == "__main__":
    os.environ.setdefault("KUBECONFIG", "")
    main()
