"""How platform teams ship it, on a real kube-apiserver: values without secrets, Argo CD and Flux objects
checked by the API server against the real CRDs of those tools, and the chart installed from a real
OCI registry (CNCF distribution on 127.0.0.1) with helm v4 and v3.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clearml_runai_gen import __version__
from ruamel.yaml import YAML

from sandbox.corpus.cases import SECRETS, credentials, find
from sandbox.corpus.install import install
from sandbox.names import names
from sandbox.registry import oci_registry
from tests.conftest import ROOT

from .conftest import CHART, Kube, decode, unique

pytestmark = pytest.mark.cluster

ACCESS, SECRET, CONF = "AKship42", "SK-ship-8c1f0e", "api {\n  verify_certificate: false\n}"


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in YAML(typ="safe").load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def crds(kube: Kube) -> None:
    """The real CRDs of Argo CD and Flux (ci/gitops-crds.sh), applied to the control plane."""
    proc = subprocess.run([str(ROOT / "ci" / "gitops-crds.sh")], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    directory = Path(proc.stdout.strip().splitlines()[-1])
    files = sorted(directory.glob("*.yaml"))
    assert len(files) == 4, files
    # server-side: the Application CRD is too large for the last-applied annotation of a client-side apply
    for path in files:
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
    for name in (
        "applications.argoproj.io",
        "helmreleases.helm.toolkit.fluxcd.io",
        "ocirepositories.source.toolkit.fluxcd.io",
        "helmrepositories.source.toolkit.fluxcd.io",
    ):
        kube.kubectl("wait", "--for", "condition=Established", f"crd/{name}", "--timeout=60s")


@pytest.fixture(scope="module")
def clearml(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    ns, case = unique("ml"), find("b-5.3.2-internal-multiqueue")
    overrides = {**credentials(case, ACCESS, SECRET, "gpu"), "clearml": {}}
    overrides["clearml"] = {"agentk8sglueKey": ACCESS, "agentk8sglueSecret": SECRET, "clearmlConfig": CONF}
    install(kube, case, ns, tmp_path_factory.mktemp("src"), overrides)
    release = case.release
    yield ns, release
    kube.helm("v4", "uninstall", release, "-n", ns, check=False)
    kube.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with oci_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


def dry_run(kube: Kube, path: Path) -> list[dict[str, Any]]:
    """What the API server makes of a file's objects, validated against their CRDs, without storing them."""
    out = json.loads(kube.kubectl("apply", "--dry-run=server", "-f", str(path), "-o", "json").stdout)
    return list(out["items"]) if out.get("kind") == "List" else [out]


def inline_values(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Application":
        return dict(obj["spec"]["source"]["helm"]["valuesObject"])
    return dict(obj["spec"]["values"])


def assert_no_credential(path: Path) -> None:
    text = path.read_text()
    for value in (ACCESS, SECRET, CONF, *SECRETS.values()):
        assert value not in text, f"{path.name} holds a credential"


def test_api_server_accepts_every_gitops_object_for_one_and_many_projects(
    kube: Kube, crds: None, clearml: tuple[str, str], tmp_path: Path
) -> None:
    ns, _ = clearml
    tag = unique("gx")
    one, many = f"{tag}-solo", [f"{tag}-{i}" for i in range(4)]
    argocd_ns = f"{tag}-argo"
    for name in [argocd_ns, *[names(p).namespace for p in [one, *many]]]:
        kube.create_namespace(name)
    try:
        repo = ["--chart-repo", "https://charts.example.org/clearml", "--chart-version", "0.2.0-rc.1"]
        cases = {
            # one project, the defaults: the tool's own chart from the OCI registry
            "one": ([one], [], ["--argocd-namespace", argocd_ns], []),
            # many projects, KAI, a Helm repository, another version, another Argo CD project
            "many": (many, ["--scheduler", "kai"], ["--argocd-namespace", argocd_ns, "--argocd-project", "ml"], repo),
        }
        for case, (projects, options, argocd_args, chart_args) in cases.items():
            base = ["render", "--clearml-namespace", ns, *[a for p in projects for a in ("--project", p)], *options]
            out = tmp_path / case
            secrets = tmp_path / f"{case}-secrets"
            values_dir = tmp_path / f"{case}-values"
            kube.gen(*base, "--output-dir", str(values_dir), "--credentials-out", str(secrets))
            for fmt, extra in (("argocd", argocd_args + chart_args), ("flux", chart_args)):
                kube.gen(*base, "--format", fmt, *extra, "--output-dir", str(out), "--credentials-out", str(secrets))
            for p in projects:
                values = load(values_dir / f"{p}.values.yaml")[0]
                for fmt, kinds in (("argocd", ["Application"]), ("flux", [None, "HelmRelease"])):
                    path = out / f"{p}.{fmt}.yaml"
                    assert_no_credential(path)
                    accepted = dry_run(kube, path)
                    assert [o["kind"] for o in accepted][-1] == kinds[-1]
                    assert len(accepted) == len(kinds)
                    # what Argo CD or Flux will read back from the API server are render's values
                    assert inline_values(accepted[-1]) == values, f"{p}.{fmt}.yaml"
                (secret,) = dry_run(kube, secrets / f"{p}.secret.yaml")
                assert secret["metadata"]["namespace"] == names(p).namespace
                assert decode(secret, "CLEARML_API_SECRET_KEY") == SECRET
            if case == "one":
                (source,) = [o for o in load(out / f"{one}.flux.yaml") if o["kind"] != "HelmRelease"]
                assert source["kind"] == "OCIRepository" and source["spec"]["ref"]["tag"] == __version__
            else:
                (source,) = [o for o in load(out / f"{many[0]}.flux.yaml") if o["kind"] != "HelmRelease"]
                assert source["kind"] == "HelmRepository"
    finally:
        kube.kubectl(
            "delete", "namespace", argocd_ns, *[names(p).namespace for p in [one, *many]], "--wait=false", check=False
        )


def test_the_crds_really_validate(kube: Kube, crds: None, clearml: tuple[str, str], tmp_path: Path) -> None:
    """A control: objects the real schemas forbid are refused, so acceptance above means something."""
    ns, _ = clearml
    project = unique("bad")
    kube.create_namespace(names(project).namespace)
    try:
        kube.gen(
            "render", "--project", project, "--clearml-namespace", ns, "--format", "flux",
            "-o", str(tmp_path / "flux.yaml"), "--credentials-out", str(tmp_path / "s.yaml"),
        )  # fmt: skip
        source, release = load(tmp_path / "flux.yaml")
        # a HelmRelease must name its chart one way, not both (a CEL rule of the CRD)
        release["spec"]["chart"] = {"spec": {"chart": "x", "sourceRef": {"kind": "HelmRepository", "name": "x"}}}
        (tmp_path / "both.json").write_text(json.dumps(release))
        proc = kube.kubectl("apply", "--dry-run=server", "-f", str(tmp_path / "both.json"), check=False)
        assert proc.returncode != 0 and "either chart or chartRef must be set" in proc.stderr, proc.stderr
        source["spec"]["layerSelector"]["operation"] = "unpack-everything"
        (tmp_path / "source.json").write_text(json.dumps(source))
        proc = kube.kubectl("apply", "--dry-run=server", "-f", str(tmp_path / "source.json"), check=False)
        assert proc.returncode != 0 and "operation" in proc.stderr, proc.stderr
    finally:
        kube.kubectl("delete", "namespace", names(project).namespace, "--wait=false", check=False)


def resolved_agent_env(kube: Kube, namespace: str, release: str) -> dict[str, str]:
    deploy = kube.get("deployment", namespace, release)
    env: dict[str, str] = {}
    for var in deploy["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "valueFrom" not in var:  # the API server leaves out an empty value (`value: ""`)
            env[var["name"]] = var.get("value", "")
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = decode(kube.get("secret", namespace, ref["name"]), ref["key"])
    return env


def manifest_docs(text: str) -> list[dict[str, Any]]:
    return sorted(
        (d for d in YAML(typ="safe").load_all(text) if d),
        key=lambda d: (d["kind"], d["metadata"]["name"]),
    )


@pytest.mark.parametrize("helm", ["v4", "v3"])
def test_chart_from_the_oci_registry_installs_with_the_secret_applied_first(
    kube: Kube, crds: None, clearml: tuple[str, str], registry: str, helm: str, tmp_path: Path
) -> None:
    ns, source_release = clearml
    project = unique(f"oci{helm}")
    namespace, release = names(project).namespace, names(project).release
    kube.create_namespace(namespace, {"runai/queue": project})
    try:
        # make package, then helm push to the registry, as the README tells
        dist = tmp_path / "dist"
        subprocess.run(["make", "-s", "package", f"PACKAGE_DIR={dist}"], cwd=ROOT, check=True, capture_output=True)
        (archive,) = dist.iterdir()
        repo = f"oci://{registry}/charts-{helm}"
        kube.helm(helm, "push", str(archive), repo, "--plain-http")
        chart_ref = f"{repo}/clearml-runai-agent"

        # inline credentials, from the chart directory: the reference env
        render = ["render", "--project", project, "--clearml-namespace", ns]
        kube.gen(*render, "-o", str(tmp_path / "inline.yaml"))
        kube.helm(
            helm, "install", release, str(CHART), "-n", namespace, "-f", str(tmp_path / "inline.yaml"), "--wait=false"
        )
        inline_env = resolved_agent_env(kube, namespace, release)
        kube.helm(helm, "uninstall", release, "-n", namespace, "--wait")

        # the Secret mode: the Secret applied first, then the chart from the registry
        values, secret = tmp_path / "values.yaml", tmp_path / "secret.yaml"
        kube.gen(*render, "-o", str(values), "--credentials-out", str(secret))
        assert_no_credential(values)
        kube.kubectl("apply", "-f", str(secret))
        kube.helm(
            helm, "install", release, chart_ref, "--version", __version__, "--plain-http",
            "-n", namespace, "-f", str(values), "--wait=false",
        )  # fmt: skip
        (listed,) = json.loads(kube.helm(helm, "list", "-n", namespace, "-o", "json").stdout)
        assert listed["chart"] == f"clearml-runai-agent-{__version__}"
        assert resolved_agent_env(kube, namespace, release) == inline_env
        assert not kube.get("secret", namespace, selector=f"app.kubernetes.io/instance={release}")["items"]

        # what Argo CD and Flux would render from their objects, as the API server keeps them, is what
        # helm installed from the registry
        installed = manifest_docs(kube.helm(helm, "get", "manifest", release, "-n", namespace).stdout)
        for fmt in ("argocd", "flux"):
            path = tmp_path / f"{fmt}.yaml"
            where = ["--argocd-namespace", namespace] if fmt == "argocd" else []
            kube.gen(
                *render, "--format", fmt, *where, "-o", str(path), "--credentials-out", str(tmp_path / "again.yaml")
            )
            (tmp_path / f"{fmt}.values.json").write_text(json.dumps(inline_values(dry_run(kube, path)[-1])))
            rendered = kube.helm(
                helm, "template", release, chart_ref, "--version", __version__, "--plain-http",
                "-n", namespace, "-f", str(tmp_path / f"{fmt}.values.json"),
            ).stdout  # fmt: skip
            assert manifest_docs(rendered) == installed, fmt

        # rotation: diff reports it without printing it; rendering again restarts the agent
        before = kube.get("deployment", namespace, release)
        rotated = "rotated-" + SECRET
        patch = {"data": {"agentk8sglue_secret": base64.b64encode(rotated.encode()).decode()}}
        source_secret = f"{find('b-5.3.2-internal-multiqueue').full_name()}-ac"
        kube.kubectl("patch", "secret", source_secret, "-n", ns, "--type", "merge", "-p", json.dumps(patch))
        try:
            drift = kube.gen("diff", "--values", str(values), check=False)
            assert drift.returncode == 1, drift.stdout + drift.stderr
            assert "clearml.existingSecretChecksum: changed" in drift.stdout
            assert rotated not in drift.stdout + drift.stderr and SECRET not in drift.stdout + drift.stderr
            kube.gen(*render, "-o", str(values), "--credentials-out", str(secret))
            kube.kubectl("apply", "-f", str(secret))
            kube.helm(
                helm, "upgrade", release, chart_ref, "--version", __version__, "--plain-http",
                "-n", namespace, "-f", str(values),
            )  # fmt: skip
            after = kube.get("deployment", namespace, release)
            key = "checksum/secret"
            annotations = (before, after)
            old, new = (d["spec"]["template"]["metadata"]["annotations"][key] for d in annotations)
            assert new != old and after["metadata"]["generation"] > before["metadata"]["generation"]
            assert resolved_agent_env(kube, namespace, release)["CLEARML_API_SECRET_KEY"] == rotated
        finally:
            patch = {"data": {"agentk8sglue_secret": base64.b64encode(SECRET.encode()).decode()}}
            kube.kubectl("patch", "secret", source_secret, "-n", ns, "--type", "merge", "-p", json.dumps(patch))
    finally:
        kube.helm(helm, "uninstall", release, "-n", namespace, check=False)
        kube.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
