"""The operator's chart (lint, valid objects, least-privilege RBAC, strict values, the args its Deployment
passes), its CRD, and the agent chart rendered the operator's way: real helm v4 and v3."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import HELM_BINARIES, REPO_ROOT, Helm, assert_valid_kubernetes_objects, load_all

pytestmark = pytest.mark.chart

OPERATOR_CHART = REPO_ROOT / "charts" / "clearml-runai-operator"
CRD_FILE = OPERATOR_CHART / "crds" / "clearmlagents.clearml-runai.io.yaml"
CI_FILES = sorted((OPERATOR_CHART / "ci").glob("*-values.yaml"))
NAMESPACE = "clearml-runai-system"


def render(helm: Helm, data: dict[str, Any] | None = None, files: tuple[Path, ...] = ()) -> list[dict[str, Any]]:
    proc = helm.template_proc(data, files=files, release="op", namespace=NAMESPACE, chart=OPERATOR_CHART)
    return load_all(proc.stdout)


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind]
    return found


@pytest.mark.parametrize("ci_file", [None, *CI_FILES], ids=lambda p: p.name if p else "defaults")
def test_lint_strict(helm: Helm, ci_file: Path | None) -> None:
    proc = helm.lint(files=[ci_file] if ci_file else [], chart=OPERATOR_CHART, namespace=NAMESPACE)
    assert "0 chart(s) failed" in proc.stdout
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout


@pytest.mark.parametrize("ci_file", [None, *CI_FILES], ids=lambda p: p.name if p else "defaults")
def test_renders_valid_objects_with_the_crd(helm: Helm, ci_file: Path | None) -> None:
    docs = render(helm, files=(ci_file,) if ci_file else ())
    assert {d["kind"] for d in docs} >= {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
    }
    assert_valid_kubernetes_objects([*docs, *load_all(CRD_FILE.read_text())])


def test_cluster_role_has_no_wildcard_and_every_rule_its_reason(helm: Helm) -> None:
    rules = one(render(helm), "ClusterRole")["rules"]
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
    text = (OPERATOR_CHART / "templates" / "clusterrole.yaml").read_text()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            before = lines[i - 1].strip()
            # a rule follows its reason, or the rule before it that the same reason covers
            assert before.startswith(("#", "verbs:", "{{-")), f"rule at line {i + 1} has no reason above it"
    # the operator never updates a ClearMLAgent's spec: a person's edits stand
    crd_rule = next(r for r in rules if r["resources"] == ["clearmlagents"])
    assert not {"update", "patch"} & set(crd_rule["verbs"])


def test_cluster_role_watches_every_clearml_install_a_spec_may_name(helm: Helm) -> None:
    """spec.clearmlNamespace may name any namespace: the operator lists and watches there what it watches in
    its own (run.py `_watch_clearml`), so the Role of the own namespace cannot be what allows it."""
    rules = one(render(helm), "ClusterRole")["rules"]
    for group, resource in (("apps", "deployments"), ("", "configmaps"), ("", "secrets"), ("", "services")):
        verbs = {v for r in rules if group in r["apiGroups"] and resource in r["resources"] for v in r["verbs"]}
        assert {"get", "list", "watch"} <= verbs, (resource, verbs)


def test_job_rights_only_when_asked(helm: Helm) -> None:
    def batch(docs: list[dict[str, Any]]) -> list[Any]:
        return [r for r in one(docs, "ClusterRole")["rules"] if r["apiGroups"] == ["batch"]]

    assert batch(render(helm)) == []
    assert batch(render(helm, {"rbac": {"jobs": True}}))[0]["resources"] == ["jobs"]


def test_deployment_runs_operate_with_the_values(helm: Helm) -> None:
    docs = render(helm, {"allProjects": False, "clearmlNamespace": "ml", "concurrency": 8})
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][0] == "operate"
    assert "--clearml-namespace=ml" in container["args"] and "--concurrency=8" in container["args"]
    assert "--all-projects" not in container["args"]
    assert "--all-projects" in one(render(helm), "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    (role,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "op-read"]
    assert role["metadata"]["namespace"] == "ml"


def test_replicas_share_one_lease_with_just_the_rights_it_needs(helm: Helm) -> None:
    """Several replicas: each is given the Lease (the release's name, in its namespace) and its own name;
    the Role lets them create that Lease, and read and renew only it."""
    docs = render(helm, {"replicaCount": 3})
    deploy = one(docs, "Deployment")
    assert deploy["spec"]["replicas"] == 3
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert f"--lease={NAMESPACE}/op" in container["args"]
    (pod_name,) = [e for e in container["env"] if e["name"] == "POD_NAME"]
    assert pod_name["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    (role,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "op-lease"]
    assert role["metadata"]["namespace"] == NAMESPACE
    rights = {(tuple(r.get("resourceNames") or ()), v) for r in role["rules"] for v in r["verbs"]}
    assert all(r["apiGroups"] == ["coordination.k8s.io"] and r["resources"] == ["leases"] for r in role["rules"])
    assert rights == {((), "create"), (("op",), "get"), (("op",), "update")}
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding" and d["metadata"]["name"] == "op-lease"]
    assert binding["roleRef"]["name"] == "op-lease" and binding["subjects"][0]["name"] == "op"


def test_the_deployment_args_are_the_clis(helm: Helm) -> None:
    """What the chart passes, the `operate` command parses (its options, their types)."""
    from clearml_runai_gen.cli import cli

    args = one(render(helm), "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    ctx = cli.make_context("clearml-runai-gen", list(args), resilient_parsing=False)
    sub = cli.get_command(ctx, args[0])
    assert sub is not None
    params = sub.make_context("operate", list(args[1:])).params
    assert params["all_projects"] is True and params["concurrency"] == 4 and params["clearml_namespace"] == "clearml"
    assert params["lease"] == f"{NAMESPACE}/op"


@pytest.mark.parametrize(
    "bad",
    [
        {"unknown": 1},
        {"concurrency": 0},
        {"replicaCount": 6},
        {"image": {"pullPolicy": "Sometimes"}},
        {"clearmlNamespace": "Not_A_Name"},
    ],
    ids=["unknown", "concurrency", "replicas", "pullPolicy", "namespace"],
)
def test_values_schema_is_strict(helm: Helm, bad: dict[str, Any]) -> None:
    proc = helm.template_proc(bad, release="op", namespace=NAMESPACE, chart=OPERATOR_CHART, check=False)
    assert proc.returncode != 0 and "values" in proc.stderr.lower()


def test_every_value_is_documented() -> None:
    """Each value has a `# --` comment, or sits under a section that has one (documented as a whole)."""
    lines = (OPERATOR_CHART / "values.yaml").read_text().splitlines()
    documented_above: list[int] = []  # indents of the sections a `# --` covers
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z]+):\s*(\S.*)?$", line)
        if not m:
            continue
        indent = len(m.group(1))
        documented_above = [d for d in documented_above if d < indent]
        comments = []
        for above in reversed(lines[:i]):
            if not above.strip().startswith("#"):
                break
            comments.append(above.strip())
        has_doc = any(c.startswith("# --") for c in comments)
        is_section = not m.group(3) and i + 1 < len(lines) and lines[i + 1].startswith(m.group(1) + "  ")
        if has_doc:
            documented_above.append(indent)
        elif not is_section:
            assert documented_above, f"values.yaml:{i + 1} {line.strip()} has no # -- comment"


def test_crd_names_and_printer_columns() -> None:
    (crd,) = load_all(CRD_FILE.read_text())
    assert crd["metadata"]["name"] == "clearmlagents.clearml-runai.io"
    assert (crd["spec"]["group"], crd["spec"]["scope"], crd["spec"]["names"]["kind"]) == (
        "clearml-runai.io",
        "Namespaced",
        "ClearMLAgent",
    )
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Project", "Queues", "Ready", "Reason", "Age"]
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    from clearml_runai_gen.operator.spec import parse_spec

    # every field the operator reads is in the schema (the API server would prune the others)
    source = (REPO_ROOT / "generator" / "clearml_runai_gen" / "operator" / "spec.py").read_text()
    read = set(re.findall(r'_str\(spec, "(\w+)"\)', source)) | {"queues", "selfUpdate", "paused"}
    assert read <= set(spec), read - set(spec)
    assert parse_spec({"project": "p"}, "ns", "clearml").options.project == "p"


def test_operator_renders_the_agent_chart_as_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """render_chart runs the real helm on the packaged agent chart; owned() marks each object as the operator's."""
    from clearml_runai_gen.detect import read_install
    from clearml_runai_gen.models import ProjectOptions
    from clearml_runai_gen.operator.objects import owned, render_chart
    from clearml_runai_gen.plan import make_plan
    from clearml_runai_gen.source import FileSource

    from sandbox.fixtures.installs import ACCESS_KEY, dump, flavour_a

    binary = HELM_BINARIES["helm4"]
    if not binary.is_file():
        pytest.skip("helm v4 is missing: run ci/tools.sh")
    monkeypatch.setenv("HOME", str(tmp_path))
    plan = make_plan(
        read_install(FileSource(dump(flavour_a()), "dump")), ProjectOptions.build("team-a", namespace="ml-a")
    )
    objects = render_chart("clearml-runai-team-a", "ml-a", plan.values, helm=os.fspath(binary))
    owner = {
        "apiVersion": "clearml-runai.io/v1alpha1",
        "kind": "ClearMLAgent",
        "metadata": {"name": "team-a", "namespace": "ml-a", "uid": "u"},
    }
    mine = owned(objects, owner)
    assert {o["kind"] for o in mine} >= {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret", "Deployment"}
    for obj in mine:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "clearml-runai-agent"
        assert labels["app.kubernetes.io/instance"] == "clearml-runai-team-a"
        assert labels["app.kubernetes.io/managed-by"] == "clearml-runai-operator"
        assert obj["metadata"]["ownerReferences"][0]["uid"] == "u" and obj["metadata"]["namespace"] == "ml-a"
    secret = next(o for o in mine if o["kind"] == "Secret")
    import base64

    assert ACCESS_KEY in {base64.b64decode(v).decode() for v in secret["data"].values()}
    assert_valid_kubernetes_objects(mine)


def test_checkov_passes_with_only_reasoned_skips(helm: Helm, tmp_path: Path) -> None:
    """checkov's Kubernetes policies (ci/checkov.sh, pinned): nothing fails; each skip names its reason."""
    import json
    import subprocess

    if helm.name != "helm4":
        pytest.skip("one checkov run covers what both helm versions render alike")
    docs = render(helm, {"image": {"digest": ""}})
    manifest = tmp_path / "operator.yaml"
    manifest.write_text("".join(f"---\n{json.dumps(d)}\n" for d in docs))
    proc = subprocess.run(
        [str(REPO_ROOT / "ci" / "checkov.sh"), "--json", str(manifest)], capture_output=True, text=True, timeout=600
    )
    report = json.loads(proc.stdout)
    results = report["results"]
    assert results["failed_checks"] == [], [c["check_id"] for c in results["failed_checks"]]
    skipped = {c["check_id"] for c in results["skipped_checks"]}
    assert skipped == {"CKV_K8S_15", "CKV_K8S_38", "CKV_K8S_43"}
    pinned = render(helm, {"image": {"digest": "sha256:" + "a" * 64}})
    annotations = one(pinned, "Deployment")["metadata"]["annotations"]
    assert "checkov.io/skip-ckv-k8s-43" not in annotations
    assert one(pinned, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        "@sha256:" + "a" * 64
    )
