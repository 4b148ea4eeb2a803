"""The demo behind `make demo`: a sample ClearML install, render, helm install, a task pod as the agent.

Runs against $KUBECONFIG (the local control plane started by ci/demo.sh) with the pinned tools first
on PATH. Every command it runs is printed, so a reader can do the same on their own cluster.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.agent_harness import build_task_pod  # noqa: E402
from tests.fixtures.installs import flavour_a, json_to_yaml  # noqa: E402

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

        step("A task pod, built by the real clearml-agent code from the installed template, created as the agent")
        cm = json.loads(sh("kubectl", "get", "configmap", f"{RELEASE}-pod-template", "-n", NAMESPACE, "-o", "json",
                           show=False))
        template = work / "template.yaml"
        template.write_text(cm["data"]["template.yaml"])
        pod, ns = build_task_pod(template, namespace=NAMESPACE, queue_name=f"runai-{PROJECT}", worker_id=RELEASE)
        manifest = work / "pod.json"
        manifest.write_text(json.dumps(pod))
        sh("kubectl", "apply", f"--namespace={ns}", "-f", str(manifest),
           f"--as=system:serviceaccount:{NAMESPACE}:{RELEASE}")
        print(sh("kubectl", "get", "pod", pod["metadata"]["name"], "-n", ns, "-o",
                 "custom-columns=NAME:.metadata.name,NAMESPACE:.metadata.namespace,SCHEDULER:.spec.schedulerName,"
                 "PROJECT:.metadata.labels.project,PHASE:.status.phase"))
        print("(Pending: the local Run:ai scheduler, KAI, has no queue for this project yet; given one, it "
              "places the pod on a GPU node.)")

        step("Check the project, as after any install")
        print(sh("clearml-runai-gen", "verify", "--project", PROJECT, check=False))

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
