"""checkov's Kubernetes policies on what the chart renders: no failed check, and no skip the chart does not need.

One run of ci/checkov.sh (checkov pinned, in its own venv) covers every ci/ values file, the hand-written
ones and the generator-written ones: the objects `helm template` renders, and the task pod (or Job, and
the pod it makes) the agent creates from the template ConfigMap, which checkov cannot see inside the
ConfigMap. Where a default cannot meet a policy (the stock agent image runs as root; the agent needs its
ServiceAccount token; tasks install packages as root), the object carries a `checkov.io/skip-*`
annotation with the reason. The same objects without those annotations are scanned in the same run: each
skip must hide a real failure, and each annotation must name a check checkov applies to its object.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import HELM_BINARIES, REPO_ROOT, TASK_POD_NAME, Helm, ci_namespace, ci_values_files, values

pytestmark = pytest.mark.chart

CHECKOV = REPO_ROOT / "ci" / "checkov.sh"
SKIP_PREFIX = "checkov.io/skip"


def annotated_metadata(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The metadata checkov reads skips from: the object's, and its pod template's."""
    yield obj["metadata"]
    template = (obj.get("spec") or {}).get("template")
    if isinstance(template, dict) and "metadata" in template:
        yield template["metadata"]


def own_skips(metadata: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (metadata.get("annotations") or {}).items() if k.startswith(SKIP_PREFIX)}


def skip_ids(metadata: dict[str, Any]) -> set[str]:
    """The check ids of the skips on an object: `checkov.io/skip-...: <ID>=<reason>`."""
    return {value.split("=", 1)[0] for value in own_skips(metadata).values()}


AGENT_ALWAYS = {"CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_35", "CKV_K8S_38"}
TASK_ALWAYS = {"CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_35", "CKV_K8S_43", "CKV2_K8S_6"}
ROOT_AND_SIZE = {"CKV_K8S_10", "CKV_K8S_11", "CKV_K8S_12", "CKV_K8S_13", "CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_40"}


def without_skips(obj: dict[str, Any]) -> dict[str, Any]:
    obj = json.loads(json.dumps(obj))
    for metadata in annotated_metadata(obj):
        annotations = {k: v for k, v in (metadata.get("annotations") or {}).items() if not k.startswith(SKIP_PREFIX)}
        if annotations:
            metadata["annotations"] = annotations
        else:
            metadata.pop("annotations", None)
    return obj


def pods_of(task: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod a task Job makes, as the Job controller creates it from the Job's pod template."""
    if task["kind"] != "Job":
        return []
    template = json.loads(json.dumps(task["spec"]["template"]))
    metadata = {**template["metadata"], "name": f"{task['metadata']['name']}-x7k2q"}
    metadata["namespace"] = task["metadata"]["namespace"]
    return [{"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}]


def write_documents(path: Path, objects: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"---\n{json.dumps(obj, indent=2)}\n" for obj in objects))


@dataclass(frozen=True)
class Finding:
    check_id: str
    check_name: str
    resource: str
    file: str
    comment: str = ""

    def __str__(self) -> str:
        why = f" ({self.comment})" if self.comment else ""
        return f"{self.check_id} {self.check_name}: {self.resource} in {self.file}{why}"


@dataclass
class Scan:
    objects: dict[str, list[dict[str, Any]]]  # by variant: what was scanned, skips included
    report: dict[str, Any]

    @property
    def variants(self) -> list[str]:
        return list(self.objects)

    def findings(self, kind: str, tree: str) -> list[Finding]:
        results = self.report.get("results") or {}
        return [
            Finding(
                r["check_id"],
                r["check_name"],
                r["resource"],
                r["file_path"].removeprefix(f"/{tree}/"),
                (r.get("check_result") or {}).get("suppress_comment") or "",
            )
            for r in results.get(kind, [])
            if r["file_path"].startswith(f"/{tree}/")
        ]


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    helm = Helm(name="helm4", binary=HELM_BINARIES["helm4"], tmp_path=tmp_path_factory.mktemp("helm"))
    root = tmp_path_factory.mktemp("checkov")
    scanned = {}
    for ci_file in ci_values_files():
        variant = ci_file.name.removesuffix("-values.yaml")
        namespace = ci_namespace(ci_file)
        # task pods carry their skips only on request (taskPod.policySkipAnnotations)
        rendered = helm.template(
            files=[ci_file], sets=["taskPod.policySkipAnnotations=true"], namespace=namespace, release=variant
        )
        task = rendered.task_as_created(namespace)
        objects = [*rendered.docs, task, *pods_of(task)]
        write_documents(root / "chart" / f"{variant}.yaml", objects)
        write_documents(root / "no-skips" / f"{variant}.yaml", [without_skips(o) for o in objects])
        scanned[variant] = objects
    proc = subprocess.run(
        [str(CHECKOV), "--json", str(root)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=900
    )
    assert proc.returncode in (0, 1), f"ci/checkov.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout)
    assert isinstance(report, dict) and report.get("check_type") == "kubernetes", proc.stdout[:2000]
    return Scan(scanned, report)


def test_checkov_finds_no_failed_check(scan: Scan) -> None:
    failed = scan.findings("failed_checks", "chart")
    assert not failed, f"{len(failed)} failed checkov check(s):\n" + "\n".join(map(str, failed))
    assert scan.report["summary"]["parsing_errors"] == 0


def test_checkov_scanned_every_variant_and_its_task_pod(scan: Scan) -> None:
    scanned = {
        (f.file, f.resource) for kind in ("passed_checks", "skipped_checks") for f in scan.findings(kind, "chart")
    }
    for variant in scan.variants:
        resources = {resource for file, resource in scanned if file == f"{variant}.yaml"}
        kinds = {resource.split(".")[0] for resource in resources}
        assert {"Deployment", "Role", "RoleBinding", "ConfigMap"} <= kinds, f"{variant}: scanned only {kinds}"
        tasks = {r for r in resources if r.split(".")[0] in ("Pod", "Job") and r.endswith(f".{TASK_POD_NAME}")}
        assert tasks, f"{variant}: the task pod was not scanned"


def test_every_skip_hides_a_real_failure(scan: Scan) -> None:
    without = {(f.check_id, f.resource, f.file) for f in scan.findings("failed_checks", "no-skips")}
    skipped = scan.findings("skipped_checks", "chart")
    assert skipped, "the chart marks no checkov skip at all: check that the annotations reach checkov"
    needless = [f for f in skipped if (f.check_id, f.resource, f.file) not in without]
    assert not needless, "skips of checks that pass without them:\n" + "\n".join(map(str, needless))


def test_every_skip_annotation_is_one_checkov_applies(scan: Scan) -> None:
    skipped: dict[tuple[str, str], set[str]] = {}
    for finding in scan.findings("skipped_checks", "chart"):
        skipped.setdefault((finding.file, finding.resource), set()).add(finding.check_id)
    unused = []
    for variant, objects in scan.objects.items():
        for obj in objects:
            namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
            resource = f"{obj['kind']}.{namespace}.{name}"
            # graph checks (CKV2_K8S_6) see a workload's pods as Pod.<namespace>.<name>.<labels>, and
            # read their skips from the workload's own annotations
            pod = f"Pod.{namespace}.{name}"
            used = set().union(
                *(
                    ids
                    for (file, r), ids in skipped.items()
                    if file == f"{variant}.yaml" and (r in (resource, pod) or r.startswith(f"{pod}."))
                )
            )
            unused += [f"{variant}: {resource} {check}" for check in sorted(skip_ids(obj["metadata"]) - used)]
    assert not unused, "skip annotations no checkov check reads:\n" + "\n".join(unused)


def test_every_skip_gives_its_reason(scan: Scan) -> None:
    for finding in scan.findings("skipped_checks", "chart"):
        assert len(finding.comment) > 20 and finding.comment != "No comment provided", finding


def test_hardened_agent_needs_no_skip_for_root_or_a_writable_root(scan: Scan) -> None:
    skipped = {
        f.check_id
        for f in scan.findings("skipped_checks", "chart")
        if f.file == "hardened.yaml" and f.resource.startswith("Deployment.")
    }
    assert skipped.isdisjoint({"CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_40", "CKV_K8S_43"}), skipped
    default = {
        f.check_id
        for f in scan.findings("skipped_checks", "chart")
        if f.file == "handwritten.yaml" and f.resource.startswith("Deployment.")
    }
    assert {"CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_40", "CKV_K8S_43"} <= default, default


def test_skip_annotations_have_the_form_checkov_reads(scan: Scan) -> None:
    # checkov splits the value `ID=reason` at every "=", so a reason may hold none
    skips = [
        (key, value)
        for objects in scan.objects.values()
        for obj in objects
        for metadata in annotated_metadata(obj)
        for key, value in own_skips(metadata).items()
    ]
    assert skips
    for key, value in skips:
        assert re.fullmatch(r"CKV2?_K8S_\d+=[^=]{20,}", value), value
        check_id = value.split("=", 1)[0]
        assert key == f"checkov.io/skip-{check_id.lower().replace('_', '-')}", key


def test_defaults_carry_a_skip_for_each_policy_they_cannot_meet(helm: Helm) -> None:
    rendered = helm.template(values())
    assert skip_ids(rendered.deployment["metadata"]) == AGENT_ALWAYS | {
        "CKV_K8S_15",
        "CKV_K8S_22",
        "CKV_K8S_23",
        "CKV_K8S_40",
        "CKV_K8S_43",
    }
    assert not own_skips(rendered.task_template["metadata"]), "task pods carry skips only on request"
    assert not own_skips(rendered.deployment["spec"]["template"]["metadata"]), "the agent pod needs none"
    asked = helm.template(values(taskPod={"policySkipAnnotations": True}))
    assert skip_ids(asked.task_template["metadata"]) == TASK_ALWAYS | ROOT_AND_SIZE | {"CKV_K8S_15", "CKV_K8S_37"}


def test_values_that_meet_a_policy_remove_its_skip(helm: Helm) -> None:
    rendered = helm.template(
        values(
            agent={"hardened": True, "image": {"digest": "sha256:" + "0" * 64}},
            taskPod={
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
                "podSecurityContext": {"runAsNonRoot": True, "runAsUser": 10001},
                "securityContext": {"readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
                "extraContainerSpec": {"imagePullPolicy": "Always"},
                "policySkipAnnotations": True,
            },
        )
    )
    assert skip_ids(rendered.deployment["metadata"]) == AGENT_ALWAYS
    assert skip_ids(rendered.task_template["metadata"]) == TASK_ALWAYS


def test_a_setting_the_user_chose_gets_no_skip(helm: Helm) -> None:
    # a low uid fails CKV_K8S_40 by the user's choice: checkov reports it, the chart does not excuse it
    rendered = helm.template(
        values(
            agent={"securityContext": {"runAsUser": 1000}},
            taskPod={"podSecurityContext": {"runAsUser": 1000}, "policySkipAnnotations": True},
        )
    )
    assert "CKV_K8S_40" not in skip_ids(rendered.deployment["metadata"])
    assert "CKV_K8S_40" not in skip_ids(rendered.task_template["metadata"])


def test_job_mode_carries_the_task_skips_on_the_job_and_its_pods(helm: Helm) -> None:
    rendered = helm.template(
        values(
            agent={"extraEnv": [{"name": "CLEARML_K8S_GLUE_KIND", "value": "job"}]},
            rbac={"jobs": True},
            taskPod={"policySkipAnnotations": True},
        )
    )
    job = rendered.task_template
    assert job["kind"] == "Job"
    pod_skips = skip_ids(job["spec"]["template"]["metadata"])
    assert pod_skips == TASK_ALWAYS | ROOT_AND_SIZE | {"CKV_K8S_15", "CKV_K8S_37"}
    # checkov checks no probe on a Job, only on the pods it makes
    assert skip_ids(job["metadata"]) == pod_skips - {"CKV_K8S_8", "CKV_K8S_9"}
