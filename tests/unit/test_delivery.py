"""Values safe to commit, the Secret apart, and Argo CD / Flux objects: the CLI as a user runs it, on dumps."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path
from typing import Any

import pytest
from clearml_runai_gen import __version__
from clearml_runai_gen.errors import UsageError
from clearml_runai_gen.models import DeliveryOptions
from clearml_runai_gen.secret import credentials_checksum
from ruamel.yaml import YAML

from sandbox.fixtures.installs import SERVER_ONLY, as_served, dump, flavour_a, flavour_b
from sandbox.names import names

from .test_cli import run

ACCESS, SECRET, CONF = "AKunit0x7Q", "SK-unit-9f8e7d-secret", 'api {\n  credentials {"access_key": "AKunit0x7Q"}\n}'


def load(path: Path) -> list[Any]:
    return [d for d in YAML(typ="safe").load_all(path.read_text()) if d is not None]


@pytest.fixture(params=["a", "b"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A dump of each flavour, with credentials (and for B, a clearml.conf) the tests look for."""
    if request.param == "a":
        objs = as_served(flavour_a(version="3.10.5", access_key=ACCESS, secret_key=SECRET), "clearml", "clearml")
    else:
        objs = as_served(flavour_b(access_key=ACCESS, secret_key=SECRET, conf=CONF), "clearml", "agent")
    path = tmp_path / "clearml.yaml"
    path.write_text(dump(objs))
    return path


def secret_values_of_source() -> list[str]:
    return [ACCESS, SECRET, CONF, *CONF.splitlines()[1:2], *SERVER_ONLY.values()]


def render_apart(source: Path, tmp_path: Path, *extra: str) -> tuple[Path, Path, str]:
    """render -o values.yaml --credentials-out secret.yaml for project team-x: (values, secret, stderr)."""
    values, secret = tmp_path / "values.yaml", tmp_path / "secret.yaml"
    code, _, stderr = run(
        ["render", "--project", "team-x", "--from-file", str(source), "-o", str(values)]
        + ["--credentials-out", str(secret), *extra]
    )
    assert code == 0, stderr
    return values, secret, stderr


def test_values_of_the_secret_mode_hold_no_credential(source: Path, tmp_path: Path) -> None:
    values, secret, stderr = render_apart(source, tmp_path)
    text = values.read_text()
    for value in secret_values_of_source():
        assert value not in text, f"the values file holds {value!r}"
        assert value not in stderr
    assert "Holds no credential" in text and "runai-team-x/clearml-runai-team-x-credentials" in text
    clearml = load(values)[0]["clearml"]
    assert "accessKey" not in clearml and "secretKey" not in clearml and "conf" not in clearml
    assert clearml["existingSecret"] == "clearml-runai-team-x-credentials"
    assert clearml["existingSecretChecksum"].startswith("hmac-sha256:")


def test_secret_manifest_holds_the_agent_credentials_in_the_project_namespace(source: Path, tmp_path: Path) -> None:
    values, secret, stderr = render_apart(source, tmp_path)
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (manifest,) = load(secret)
    assert manifest["kind"] == "Secret" and manifest["apiVersion"] == "v1"
    assert manifest["metadata"]["namespace"] == "runai-team-x"
    clearml = load(values)[0]["clearml"]
    assert manifest["metadata"]["name"] == clearml["existingSecret"]
    keys = clearml["existingSecretKeys"]
    data = manifest["stringData"]
    assert data[keys["accessKey"]] == ACCESS and data[keys["secretKey"]] == SECRET
    if "conf" in keys:
        assert data[keys["conf"]] == CONF
    # only the agent's own credentials travel, never the server's other secrets
    assert set(data) <= {keys["accessKey"], keys["secretKey"], keys.get("conf")}
    for value in SERVER_ONLY.values():
        assert value not in secret.read_text()


def test_checksum_follows_every_credential_and_reveals_none() -> None:
    data = {"CLEARML_API_ACCESS_KEY": ACCESS, "CLEARML_API_SECRET_KEY": SECRET}
    base = credentials_checksum(data, "runai-a", "s")
    assert base == credentials_checksum(dict(reversed(data.items())), "runai-a", "s")  # order does not matter
    assert credentials_checksum({**data, "CLEARML_API_SECRET_KEY": SECRET + "x"}, "runai-a", "s") != base
    assert credentials_checksum({**data, "CLEARML_API_ACCESS_KEY": "other"}, "runai-a", "s") != base
    assert credentials_checksum({**data, "clearml.conf": CONF}, "runai-a", "s") != base
    # keyed per Secret: the same credentials in two namespaces do not show as the same
    assert credentials_checksum(data, "runai-b", "s") != base
    # not a plain hash of any credential that a lookup table could reverse
    for value in (ACCESS, SECRET, ACCESS + SECRET):
        for fn in (hashlib.sha256, hashlib.sha1, hashlib.md5):
            assert fn(value.encode()).hexdigest() not in base


def test_secret_mode_values_may_go_to_a_terminal_and_are_deterministic(source: Path, tmp_path: Path) -> None:
    args = ["render", "--project", "p", "--from-file", str(source), "--credentials-out", str(tmp_path / "s.yaml")]
    first, second = run(args), run(args)
    assert first[0] == 0 and first[1] == second[1]
    assert SECRET not in first[1]


def test_output_dir_writes_a_secret_beside_each_values_file(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["render", "--project", "p1", "--project", "p2", "--from-file", str(source), "--output-dir", str(out)]
    code, stdout, stderr = run([*args, "--credentials-out", str(out)])
    assert code == 0 and stdout == "", stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "p1.secret.yaml",
        "p1.values.yaml",
        "p2.secret.yaml",
        "p2.values.yaml",
    ]
    for project in ("p1", "p2"):
        (secret,) = load(out / f"{project}.secret.yaml")
        assert secret["metadata"] == {**secret["metadata"], "namespace": names(project).namespace}
        assert load(out / f"{project}.values.yaml")[0]["clearml"]["existingSecret"] == secret["metadata"]["name"]
        assert SECRET not in (out / f"{project}.values.yaml").read_text()
    assert "wrote 2 Secret manifest(s)" in stderr and SECRET not in stderr


def test_with_output_dir_the_secrets_go_to_a_directory_even_for_one_project(source: Path, tmp_path: Path) -> None:
    out, secrets = tmp_path / "values", tmp_path / "secrets"
    args = ["render", "--project", "p1", "--from-file", str(source), "--output-dir", str(out)]
    code, _, stderr = run([*args, "--credentials-out", str(secrets)])
    assert code == 0, stderr
    assert [p.name for p in secrets.iterdir()] == ["p1.secret.yaml"]
    assert [p.name for p in out.iterdir()] == ["p1.values.yaml"]


def test_one_project_with_a_directory_gets_project_secret_yaml(source: Path, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    code, _, stderr = run(["render", "--project", "p1", "--from-file", str(source), "--credentials-out", str(secrets)])
    assert code == 0, stderr
    assert [p.name for p in secrets.iterdir()] == ["p1.secret.yaml"]


def gitops(source: Path, tmp_path: Path, fmt: str, *extra: str) -> list[Any]:
    out = tmp_path / f"{fmt}.yaml"
    code, _, stderr = run(
        ["render", "--project", "team-x", "--from-file", str(source), "--format", fmt, "-o", str(out)]
        + ["--credentials-out", str(tmp_path / "secret.yaml"), *extra]
    )
    assert code == 0, stderr
    text = out.read_text()
    for value in secret_values_of_source():
        assert value not in text
    return load(out)


def render_values(source: Path, tmp_path: Path, *extra: str) -> dict[str, Any]:
    return dict(load(render_apart(source, tmp_path, *extra)[0])[0])


def test_argocd_application_installs_the_chart_from_the_registry_with_renders_values(
    source: Path, tmp_path: Path
) -> None:
    (app,) = gitops(source, tmp_path, "argocd", "--queue", "gpu,cpu", "--scheduler", "kai")
    assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
    assert app["metadata"]["namespace"] == "argocd" and app["metadata"]["name"] == "clearml-runai-team-x"
    spec = app["spec"]
    assert spec["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "runai-team-x"}
    assert spec["source"]["repoURL"] == "oci://ghcr.io/clearml-runai/charts/clearml-runai-agent"
    assert spec["source"]["targetRevision"] == __version__ and spec["source"]["path"] == "."
    assert spec["source"]["helm"]["releaseName"] == "clearml-runai-team-x"
    assert spec["source"]["helm"]["valuesObject"] == render_values(
        source, tmp_path, "--queue", "gpu,cpu", "--scheduler", "kai"
    )


def test_argocd_from_a_helm_repository_names_the_chart(source: Path, tmp_path: Path) -> None:
    (app,) = gitops(
        source,
        tmp_path,
        "argocd",
        "--chart-repo",
        "https://charts.example.org/stable/",
        "--chart-version",
        "1.2.3-rc.1",
        "--argocd-namespace",
        "gitops",
        "--argocd-project",
        "ml-platform",
    )
    src = app["spec"]["source"]
    assert (src["repoURL"], src["chart"], src["targetRevision"]) == (
        "https://charts.example.org/stable",
        "clearml-runai-agent",
        "1.2.3-rc.1",
    )
    assert "path" not in src
    assert app["metadata"]["namespace"] == "gitops" and app["spec"]["project"] == "ml-platform"


def test_flux_oci_repository_and_helm_release(source: Path, tmp_path: Path) -> None:
    repo, release = gitops(source, tmp_path, "flux", "--namespace", "ml-team-x")
    assert (repo["kind"], repo["apiVersion"]) == ("OCIRepository", "source.toolkit.fluxcd.io/v1")
    assert repo["spec"]["url"] == "oci://ghcr.io/clearml-runai/charts/clearml-runai-agent"
    assert repo["spec"]["ref"] == {"tag": __version__}
    assert repo["metadata"]["namespace"] == release["metadata"]["namespace"] == "ml-team-x"
    assert (release["kind"], release["apiVersion"]) == ("HelmRelease", "helm.toolkit.fluxcd.io/v2")
    assert release["spec"]["chartRef"] == {"kind": "OCIRepository", "name": repo["metadata"]["name"]}
    assert release["spec"]["releaseName"] == "clearml-runai-team-x"
    assert release["spec"]["values"] == render_values(source, tmp_path, "--namespace", "ml-team-x")


def test_flux_helm_repository_source(source: Path, tmp_path: Path) -> None:
    repo, release = gitops(
        source, tmp_path, "flux", "--chart-repo", "https://charts.example.org", "--chart-version", "0.3.0"
    )
    assert repo["kind"] == "HelmRepository" and repo["spec"]["url"] == "https://charts.example.org"
    chart = release["spec"]["chart"]["spec"]
    assert chart == {
        "chart": "clearml-runai-agent",
        "version": "0.3.0",
        "sourceRef": {"kind": "HelmRepository", "name": repo["metadata"]["name"]},
    }
    assert "chartRef" not in release["spec"]


def test_many_projects_get_one_gitops_file_and_one_secret_each(source: Path, tmp_path: Path) -> None:
    out, secrets = tmp_path / "apps", tmp_path / "secrets"
    projects = ["alpha", "beta-2", "c"]
    args = ["render", "--from-file", str(source), "--format", "argocd", "--output-dir", str(out)]
    code, stdout, stderr = run(
        [*args, *[a for p in projects for a in ("--project", p)], "--credentials-out", str(secrets)]
    )
    assert code == 0 and stdout == "", stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{p}.argocd.yaml" for p in projects)
    assert sorted(p.name for p in secrets.iterdir()) == sorted(f"{p}.secret.yaml" for p in projects)
    names = {load(out / f"{p}.argocd.yaml")[0]["metadata"]["name"] for p in projects}
    assert len(names) == len(projects)


def test_diff_reports_rotated_credentials_of_the_secret_mode_without_printing_them(tmp_path: Path) -> None:
    before = tmp_path / "before.yaml"
    before.write_text(dump(as_served(flavour_b(access_key=ACCESS, secret_key=SECRET), "clearml", "agent")))
    rotated = tmp_path / "rotated.yaml"
    rotated.write_text(dump(as_served(flavour_b(access_key=ACCESS, secret_key="ROTATED-s3cr3t"), "clearml", "agent")))
    for fmt in ("values", "argocd", "flux"):
        out = tmp_path / f"{fmt}.out.yaml"
        code, _, stderr = run(
            ["render", "--project", "p", "--from-file", str(before), "--format", fmt, "-o", str(out)]
            + ["--credentials-out", str(tmp_path / "s.yaml")]
        )
        assert code == 0, stderr
        same = run(["diff", "--values", str(out), "--from-file", str(before)])
        assert same[0] == 0 and "no drift" in same[1], same
        drift = run(["diff", "--values", str(out), "--from-file", str(rotated)])
        assert drift[0] == 1, drift
        assert "clearml.existingSecretChecksum: changed (value redacted" in drift[1]
        assert "ROTATED-s3cr3t" not in drift[1] + drift[2] and SECRET not in drift[1] + drift[2]
        assert len([line for line in drift[1].splitlines() if line.startswith("  ")]) == 1


def _agent_of(dump_path: Path) -> str:
    docs = [i for d in load(dump_path) for i in d.get("items", [d])]
    return str(next(d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"))


def test_diff_of_a_users_own_secret_compares_names_not_content(source: Path, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        "runai: {project: p, namespace: runai-p}\n"
        "clearml:\n  apiHost: http://clearml-apiserver.clearml.svc.cluster.local:8008\n"
        "  existingSecret: mine\n  existingSecretKeys: {accessKey: ak, secretKey: sk}\n"
        "agent: {queues: [runai-p]}\n"
        f"origin: {{agent: {_agent_of(source)}}}\n"
    )
    code, stdout, stderr = run(["diff", "--values", str(values), "--from-file", str(source)])
    assert code == 1 and stdout.startswith("drift:"), stderr  # drift; an error would exit 2
    assert "existingSecret" not in stdout and "accessKey" not in stdout and "secretKey" not in stdout
    assert SECRET not in stdout


REFUSED = {
    "gitops without the secret": (["--format", "argocd"], "add --credentials-out"),
    "flux without the secret": (["--format", "flux"], "add --credentials-out"),
    "show-secrets with the secret": (
        ["--credentials-out", "{tmp}/s.yaml", "--show-secrets"],
        "--show-secrets does not go",
    ),
    "secret to stdout": (["--credentials-out", "-"], "never goes to stdout"),
    "chart repo for values": (["--chart-repo", "oci://r.example/c"], "--chart-repo names the chart of --format"),
    "chart version for values": (["--chart-version", "1.0.0"], "--chart-version names the chart"),
    "argocd option for flux": (
        ["--format", "flux", "--credentials-out", "{tmp}/s.yaml", "--argocd-namespace", "x"],
        "--argocd-namespace applies to --format argocd only",
    ),
    "bad chart repo": (
        ["--format", "flux", "--credentials-out", "{tmp}/s.yaml", "--chart-repo", "ghcr.io/x"],
        "is not a chart repository",
    ),
    "bad chart version": (
        ["--format", "argocd", "--credentials-out", "{tmp}/s.yaml", "--chart-version", "latest"],
        "is not a chart version",
    ),
    "same file twice": (["--credentials-out", "{tmp}/v.yaml", "-o", "{tmp}/v.yaml"], "name the same file"),
    "secret dir missing": (["--credentials-out", "{tmp}/nowhere/s.yaml"], "does not exist"),
    "values dir missing": (["--credentials-out", "{tmp}/s.yaml", "-o", "{tmp}/nowhere/v.yaml"], "does not exist"),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_combinations_that_make_no_sense_are_one_line_and_write_nothing(name: str, tmp_path: Path) -> None:
    args, needle = REFUSED[name]
    src = tmp_path / "clearml.yaml"
    src.write_text(dump(as_served(flavour_b(secret_key=SECRET), "clearml", "agent")))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, stdout, stderr = run(
        ["render", "--project", "p", "--from-file", str(src), *[a.format(tmp=tmp_path) for a in args]]
    )
    assert code == 2, stderr
    assert stdout == "" and needle in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_several_projects_need_a_directory_for_their_secrets(tmp_path: Path) -> None:
    src = tmp_path / "clearml.yaml"
    src.write_text(dump(as_served(flavour_b(), "clearml", "agent")))
    taken = tmp_path / "secrets"
    taken.write_text("a file\n")
    code, _, stderr = run(
        ["render", "--project", "a", "--project", "b", "--from-file", str(src), "--output-dir", str(tmp_path / "out")]
        + ["--credentials-out", str(taken)]
    )
    assert code == 2 and "is a file; with --output-dir or several projects name a directory" in stderr
    assert taken.read_text() == "a file\n"


def test_delivery_options_default_to_the_tools_chart() -> None:
    d = DeliveryOptions.build("argocd", separate_secret=True)
    assert (d.chart_repo, d.chart_version, d.argocd_namespace, d.argocd_project) == (
        "oci://ghcr.io/clearml-runai/charts",
        __version__,
        "argocd",
        "default",
    )
    assert DeliveryOptions.build("flux", separate_secret=True, chart_version="v2.0.1").chart_version == "2.0.1"
    with pytest.raises(UsageError):
        DeliveryOptions.build("helmfile")


def test_build_metadata_becomes_an_oci_tag(source: Path, tmp_path: Path) -> None:
    repo, _ = gitops(source, tmp_path, "flux", "--chart-version", "0.1.0+build.7")
    assert repo["spec"]["ref"] == {"tag": "0.1.0_build.7"}  # as `helm push` tags it


def test_gitops_refuses_a_release_name_helm_cannot_install(tmp_path: Path) -> None:
    src = tmp_path / "clearml.yaml"
    src.write_text(dump(as_served(flavour_b(), "clearml", "agent")))
    long = "p" * 40  # clearml-runai-ppp... has 54 characters
    out = tmp_path / "out"
    code, stdout, stderr = run(
        ["render", "--project", "ok", "--project", long, "--from-file", str(src), "--format", "flux"]
        + ["--output-dir", str(out), "--credentials-out", str(out)]
    )
    assert code == 2 and stdout == ""
    assert f"release name 'clearml-runai-{long}' has 54 characters and helm allows 53" in stderr
    assert not out.exists() or not list(out.iterdir())


def test_the_longest_project_still_gets_a_valid_secret(tmp_path: Path) -> None:
    """Label values stop at 63 characters; the longest project helm takes (39: its release has 53) fits."""
    src = tmp_path / "clearml.yaml"
    src.write_text(dump(as_served(flavour_b(), "clearml", "agent")))
    long = "q" * 39
    code, _, stderr = run(
        ["render", "--project", long, "--from-file", str(src), "-o", str(tmp_path / "v.yaml")]
        + ["--credentials-out", str(tmp_path / "s.yaml")]
    )
    assert code == 0, stderr
    (secret,) = load(tmp_path / "s.yaml")
    assert all(len(v) <= 63 for v in secret["metadata"]["labels"].values())
    assert len(secret["metadata"]["name"]) <= 253
