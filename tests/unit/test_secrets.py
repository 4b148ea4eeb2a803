"""Secrets, known by name or by shape, reach no printed text and no secret-free file: the CLI on dumps."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
from clearml_runai_gen.diff import Change
from clearml_runai_gen.redact import has_secret_shape, is_secret_name, redact_data, redact_text, secret_args
from clearml_runai_gen.verify import Check, as_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from sandbox.fixtures.installs import as_served, dump, flavour_b
from tests.conftest import gen

Obj = dict[str, Any]
PEM_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
PEM = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
GH = "ghp_" + "k3Y9" * 9


def install(
    agent_env: list[Obj] = (),  # type: ignore[assignment]
    task: Obj | None = None,
    files: dict[str, str] | None = None,
    pod_annotations: dict[str, str] | None = None,
    api_host: str | None = None,
) -> list[Obj]:
    """A clearml-agent chart install, with what the test puts where a user's install may hold a secret."""
    objs = flavour_b(base_pod_template=copy.deepcopy(task or {}))
    deploy = next(o for o in objs if o["kind"] == "Deployment")
    pod = deploy["spec"]["template"]
    container = pod["spec"]["containers"][0]
    container["env"] += list(agent_env)
    if api_host:
        container["env"] = [
            {**e, "value": api_host} if e["name"] == "CLEARML_API_HOST" else e for e in container["env"]
        ]
    if pod_annotations:
        pod["metadata"]["annotations"].update(pod_annotations)
    if files:
        pod["spec"].setdefault("volumes", []).append({"name": "filemounts", "secret": {"secretName": "agent-afm"}})
        for name in files:
            container["volumeMounts"].append({"name": "filemounts", "mountPath": f"/etc/x/{name}", "subPath": name})
        data = {k: base64.b64encode(v.encode()).decode() for k, v in files.items()}
        objs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "agent-afm"}, "data": data})
    return as_served(objs, "clearml", "agent")


def write(tmp_path: Path, objs: list[Obj], name: str = "clearml.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dump(objs))
    return path


def load(path: Path) -> list[Any]:
    return [d for d in YAML(typ="safe").load_all(path.read_text()) if d is not None]


def files_in(directory: Path) -> dict[str, str]:
    """The files written into directory; none when a failed command left no directory at all."""
    if not directory.exists():
        return {}
    return {p.name: p.read_text() for p in sorted(directory.iterdir()) if p.is_file()}


# where a user's install holds a secret that can live in the Secret manifest: (install, secret, Secret key)
MOVABLE = {
    "agent env by name (PAT)": ({"agent_env": [{"name": "GITLAB_PAT", "value": "glpv-7781"}]}, "glpv-7781"),
    "agent env by name (PWD)": ({"agent_env": [{"name": "S3_PWD", "value": "s3pwd-5521"}]}, "s3pwd-5521"),
    "agent env by name (AUTH)": ({"agent_env": [{"name": "REGISTRY_AUTH", "value": "dXNlcjpwdzQ0"}]}, "dXNlcjpwdzQ0"),
    "agent env URL userinfo": (
        {"agent_env": [{"name": "HTTPS_PROXY", "value": "http://ops:Pr0xyRot8@proxy.corp:3128"}]},
        "Pr0xyRot8",
    ),
    "agent env PEM": (
        {"agent_env": [{"name": "SSH_IDENTITY", "value": PEM}]},
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
    ),
    "agent env token shape": ({"agent_env": [{"name": "GIT_REMOTE", "value": f"x-{GH}"}]}, GH),
    "task env by name": ({"task": {"env": [{"name": "WANDB_API_KEY", "value": "wandb-9917"}]}}, "wandb-9917"),
    "task env database URL": (
        {"task": {"env": [{"name": "DATABASE_URL", "value": "postgres://app:DbPw0042@db.corp/x"}]}},
        "DbPw0042",
    ),
    "init container env": (
        {
            "task": {
                "initContainers": [
                    {"name": "wait", "image": "busybox:1", "env": [{"name": "DB_PASSWD", "value": "dbpw-3"}]}
                ]
            }
        },
        "dbpw-3",
    ),
    "fileMounts": ({"files": {"id_rsa": "FILE-CONTENT-66"}}, "FILE-CONTENT-66"),
}


@pytest.mark.parametrize("fmt", ["values", "argocd", "flux"])
@pytest.mark.parametrize("case", MOVABLE)
def test_secret_free_output_moves_every_recognised_secret_into_the_secret_manifest(
    case: str, fmt: str, tmp_path: Path
) -> None:
    kwargs, secret = MOVABLE[case]
    source = write(tmp_path, install(**kwargs))
    out, creds = tmp_path / "out", tmp_path / "creds"
    code, stdout, stderr = gen(
        ["render", "--project", "p", "--from-file", str(source), "--format", fmt]
        + ["--output-dir", str(out), "--credentials-out", str(creds)]
    )
    assert code == 0, stderr
    assert secret not in stdout + stderr
    (text,) = files_in(out).values()
    assert secret not in text, f"{case}: the {fmt} file holds the secret"
    assert "secretKeyRef" in text or "fileMountsSecret: clearml-runai-p-credentials" in text
    (manifest,) = load(creds / "p.secret.yaml")
    assert any(secret in v for v in manifest["stringData"].values())


def test_secret_free_values_print_no_secret_to_stdout(tmp_path: Path) -> None:
    kwargs, secret = MOVABLE["agent env URL userinfo"]
    source = write(tmp_path, install(**kwargs))
    code, stdout, stderr = gen(
        ["render", "--project", "p", "--from-file", str(source), "--credentials-out", str(tmp_path / "s.yaml")]
    )
    assert code == 0 and "secretKeyRef" in stdout, stderr
    assert secret not in stdout + stderr


def test_secret_free_values_install_with_the_env_and_files_from_the_secret(tmp_path: Path) -> None:
    """The references the values get are the ones the chart reads: the files from the credentials Secret."""
    source = write(tmp_path, install(files={"id_rsa": "FILE-CONTENT-66"}, **MOVABLE["task env by name"][0]))
    values = tmp_path / "v.yaml"
    code, _, stderr = gen(
        ["render", "--project", "p", "--from-file", str(source), "-o", str(values)]
        + ["--credentials-out", str(tmp_path / "s.yaml")]
    )
    assert code == 0, stderr
    (data,) = load(values)
    assert data["agent"]["fileMounts"] == [{"name": "id_rsa", "folderPath": "/etc/x", "key": "file.id_rsa"}]
    assert data["agent"]["fileMountsSecret"] == "clearml-runai-p-credentials"
    (var,) = [e for e in data["taskPod"]["env"] if e["name"] == "WANDB_API_KEY"]
    assert var == {
        "name": "WANDB_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "clearml-runai-p-credentials", "key": "task-env.WANDB_API_KEY"}},
    }


# secrets no Secret can stand for in the values: the command refuses, naming the place
REFUSED = {
    "init container --password= arg": (
        {"task": {"initContainers": [{"name": "migrate", "image": "busybox:1", "args": ["--password=InitPw-771"]}]}},
        "InitPw-771",
        "taskPod.initContainers[migrate].args",
    ),
    "init container --token VALUE args": (
        {"task": {"initContainers": [{"name": "fetch", "image": "busybox:1", "args": ["--token", "tk-88123"]}]}},
        "tk-88123",
        "taskPod.initContainers[fetch].args",
    ),
    "agent pod annotation by name": (
        {"pod_annotations": {"example.com/api-token": "AnnTok-4432-x"}},
        "AnnTok-4432-x",
        "agent.podAnnotations example.com/api-token",
    ),
    "task pod annotation URL userinfo": (
        {"task": {"annotations": {"backup.example.com/target": "s3://k:AnnPw-1234@minio/b"}}},
        "AnnPw-1234",
        "taskPod.annotations backup.example.com/target",
    ),
    "a field named for a password": (
        {
            "task": {
                "volumes": [{"name": "cifs", "flexVolume": {"driver": "x/cifs", "options": {"password": "VolPw-55"}}}]
            }
        },
        "VolPw-55",
        "taskPod.volumes[cifs].flexVolume.options.password",
    ),
    "ClearML host with userinfo": (
        {"api_host": "http://agent:HostPw-9@clearml-apiserver:8008"},
        "HostPw-9",
        "clearml.apiHost",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_secret_free_output_refuses_a_secret_it_cannot_reference_naming_its_place(case: str, tmp_path: Path) -> None:
    kwargs, secret, place = REFUSED[case]
    source = write(tmp_path, install(**kwargs))
    out = tmp_path / "out"
    code, stdout, stderr = gen(
        ["render", "--project", "p", "--from-file", str(source), "--output-dir", str(out)]
        + ["--credentials-out", str(out)]
    )
    assert code != 0
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and place in errors[0], stderr
    assert "Traceback" not in stderr and secret not in stdout + stderr
    assert files_in(out) == {}, "nothing is written"


def test_a_vault_annotation_naming_a_path_is_no_secret(tmp_path: Path) -> None:
    source = write(
        tmp_path, install(pod_annotations={"vault.hashicorp.com/agent-inject-secret-db": "database/creds/app"})
    )
    code, stdout, stderr = gen(
        ["render", "--project", "p", "--from-file", str(source), "--credentials-out", str(tmp_path / "s.yaml")]
    )
    assert code == 0, stderr
    assert "database/creds/app" in stdout


# --------------------------------------------------------------------------- diff


ROTATED = {
    "proxy URL password": (
        lambda pw: {"agent_env": [{"name": "HTTPS_PROXY", "value": f"https://ops:{pw}@proxy.corp:3128"}]}
    ),
    "PEM key": (lambda pw: {"agent_env": [{"name": "SSH_IDENTITY", "value": PEM.replace("b3Bl", pw)}]}),
    "*_PAT": (lambda pw: {"agent_env": [{"name": "GITHUB_PAT", "value": pw}]}),
    "*PWD": (lambda pw: {"task": {"env": [{"name": "MINIO_PWD", "value": pw}]}}),
    "--password= arg": (
        lambda pw: {
            "task": {"initContainers": [{"name": "wait", "image": "busybox:1", "args": [f"--password={pw}", "-v"]}]}
        }
    ),
    "annotation": (lambda pw: {"task": {"annotations": {"example.com/auth-token": pw}}}),
    "a field named for a password": (
        lambda pw: {"task": {"volumes": [{"name": "v", "flexVolume": {"driver": "x/y", "options": {"password": pw}}}]}}
    ),
    "a secret repeated where its name does not say so": (
        lambda pw: {
            "agent_env": [
                {"name": "SERVICE_TOKEN", "value": pw},
                {"name": "EXTRA_HEADER", "value": f"X-Trace {pw}"},
            ]
        }
    ),
    "database URL in a label-free env": (
        lambda pw: {"task": {"env": [{"name": "DB", "value": f"mysql://root:{pw}@db:3306/x"}]}}
    ),
}


@pytest.mark.parametrize("case", ROTATED)
def test_diff_never_prints_a_rotated_secret(case: str, tmp_path: Path) -> None:
    """Old -> new of a secret known only by its shape or its name: drift is reported, neither value shown."""
    old_pw, new_pw = "OldSecret0x71a", "NewSecret0x82b"
    before = write(tmp_path, install(**ROTATED[case](old_pw)), "before.yaml")
    after = write(tmp_path, install(**ROTATED[case](new_pw)), "after.yaml")
    values = tmp_path / "v.yaml"
    code, _, stderr = gen(["render", "--project", "p", "--from-file", str(before), "-o", str(values)])
    assert code == 0, stderr
    code, stdout, stderr = gen(["diff", "--values", str(values), "--from-file", str(after)])
    assert code == 1 and "drift" in stdout, (stdout, stderr)
    for pw in (old_pw, new_pw):
        assert pw not in stdout + stderr, f"{case}: diff printed {pw}"
        assert pw[3:] not in stdout + stderr


def test_diff_against_a_users_own_secret_leaves_the_other_secrets_where_the_values_keep_them(tmp_path: Path) -> None:
    """A Secret of the user's own holds what they put in it: env secrets the values keep inline stay compared
    inline, not as references to keys that Secret does not have."""
    source = write(tmp_path, install(**MOVABLE["task env by name"][0]))
    values = tmp_path / "v.yaml"
    assert gen(["render", "--project", "p", "--from-file", str(source), "-o", str(values)])[0] == 0
    (data,) = load(values)
    data["clearml"] = {k: v for k, v in data["clearml"].items() if k not in ("accessKey", "secretKey", "conf")}
    data["clearml"]["existingSecret"] = "mine"
    data["clearml"]["existingSecretKeys"] = {"accessKey": "ak", "secretKey": "sk"}
    with values.open("w") as f:
        YAML().dump(data, f)
    code, stdout, stderr = gen(["diff", "--values", str(values), "--from-file", str(source)])
    assert code == 0 and "no drift" in stdout, stdout + stderr


def test_a_rotated_secret_moved_into_the_secret_changes_only_the_checksum(tmp_path: Path) -> None:
    """The checksum covers the moved secrets too: rotating a proxy password is drift, and restarts the agent."""
    for fmt in ("values", "argocd"):
        before = write(tmp_path, install(**ROTATED["proxy URL password"]("OldSecret0x71a")), "before.yaml")
        after = write(tmp_path, install(**ROTATED["proxy URL password"]("NewSecret0x82b")), "after.yaml")
        out = tmp_path / f"{fmt}.yaml"
        code, _, stderr = gen(
            ["render", "--project", "p", "--from-file", str(before), "--format", fmt, "-o", str(out)]
            + ["--credentials-out", str(tmp_path / "s.yaml")]
        )
        assert code == 0, stderr
        assert gen(["diff", "--values", str(out), "--from-file", str(before)])[0] == 0
        code, stdout, stderr = gen(["diff", "--values", str(out), "--from-file", str(after)])
        assert code == 1, stdout + stderr
        changed = [line.strip() for line in stdout.splitlines() if line.startswith("  ")]
        assert changed == ["clearml.existingSecretChecksum: changed (value redacted; credentials rotated?)"]
        assert "Secret0x" not in stdout + stderr


def test_diff_still_shows_what_is_no_secret() -> None:
    line = Change("taskPod.env[PROXY].value", "http://proxy-a:3128", "http://proxy-b:3128").describe()
    assert line == "taskPod.env[PROXY].value: 'http://proxy-a:3128' -> 'http://proxy-b:3128'"


def test_diff_says_so_when_only_the_secret_part_changed() -> None:
    line = Change("taskPod.env[PROXY].value", "http://u:aa11bb@proxy:3128", "http://u:cc22dd@proxy:3128").describe()
    assert "changed (value redacted" in line and "aa11bb" not in line and "cc22dd" not in line


# --------------------------------------------------------------------------- errors, warnings, discover, verify


def test_a_duplicate_key_in_a_values_file_or_a_dump_is_named_without_its_values(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("runai:\n  project: p\npassword: Dup-Old-31\npassword: Dup-New-42\n")
    for args in (["diff", "--values", str(path)], ["render", "--project", "p", "--from-file", str(path)]):
        code, stdout, stderr = gen(args)
        assert code != 0 and 'duplicate key "password"' in stderr, stderr
        assert "Dup-Old-31" not in stdout + stderr and "Dup-New-42" not in stdout + stderr


def test_an_error_quoting_what_the_user_typed_shows_no_password(tmp_path: Path) -> None:
    code, _, stderr = gen(["verify", "--project", "p", "--clearml-api-host", "ftp://admin:Typed-Pw-8@clearml:8008"])
    assert code == 2 and stderr.startswith("error: --clearml-api-host"), stderr
    assert "Typed-Pw-8" not in stderr


def test_warnings_print_hosts_without_userinfo(tmp_path: Path) -> None:
    objs = install(api_host="http://agentuser:WarnPw-5@nosuch-apiserver:8008")
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "clearml-apiserver", "namespace": "clearml"}}
    source = write(tmp_path, [*objs, service])
    code, _, stderr = gen(["render", "--project", "p", "--from-file", str(source), "-o", str(tmp_path / "v.yaml")])
    assert code == 0, stderr
    assert "nosuch-apiserver" in stderr, "the warning about the host that resolves nowhere"
    assert "WarnPw-5" not in stderr and "agentuser" not in stderr


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_discover_shows_no_secret_by_shape(fmt: str, tmp_path: Path) -> None:
    source = write(tmp_path, install(api_host="http://agentuser:DiscPw-7@clearml-apiserver:8008"))
    code, stdout, stderr = gen(["discover", "--from-file", str(source), "-o", fmt])
    assert code == 0, stderr
    assert "clearml-apiserver" in stdout and "DiscPw-7" not in stdout + stderr


def test_verify_details_show_no_secret_by_shape() -> None:
    table = as_table([Check("agent env", False, f"HTTPS_PROXY is http://u:VerPw-1@proxy, token {GH}")])
    assert "VerPw-1" not in table and GH not in table and "proxy" in table


# --------------------------------------------------------------------------- the rules themselves


@pytest.mark.parametrize(
    "name", ["GITHUB_PAT", "DB_PASSWD", "PGPASSWORD", "MY_PWD", "X_AUTH", "HF_TOKEN", "aws_secret_access_key", "apiKey"]
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["PATH", "PYTHONPATH", "CLEARML_API_HOST", "HTTPS_PROXY", "K8S_GLUE_EXTRA_ARGS"])
def test_names_that_are_no_secret(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    "text",
    [
        "http://clearml-apiserver.clearml.svc.cluster.local:8008",
        "ssh://git@github.com/org/repo.git",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        "clearml.existingSecretChecksum: changed (value redacted; credentials rotated?)",
        "agent.extraEnv[MY_TOKEN].value: added (value redacted)",
    ],
)
def test_text_that_is_no_secret_is_printed_as_it_is(text: str) -> None:
    assert not has_secret_shape(text) and redact_text(text) == text


def test_redact_data_blots_out_env_values_by_name_and_args_after_secret_flags() -> None:
    data = {"env": [{"name": "A_TOKEN", "value": "plain"}], "args": ["--password", "hunter22", "--v"]}
    assert redact_data(data) == {
        "env": [{"name": "A_TOKEN", "value": "<redacted>"}],
        "args": ["--password", "<redacted>", "--v"],
    }


# --------------------------------------------------------------------------- property


_SECRET = st.from_regex(r"[A-Za-z0-9]{14,24}", fullmatch=True).filter(
    lambda s: any(c.isdigit() for c in s) and any(c.isupper() for c in s) and any(c.islower() for c in s)
)
_SECRET_NAME = st.builds(
    lambda head, word, tail: f"{head}{word}{tail}",
    st.sampled_from(["", "DB_", "GIT_", "S3_", "X_", "Api"]),
    st.sampled_from(["PASS", "PASSWORD", "PASSWD", "PWD", "TOKEN", "SECRET", "KEY", "API_KEY", "CREDENTIALS", "AUTH"]),
    st.sampled_from(["", "_VALUE", "_2", "s"]),
).filter(lambda n: n.upper() not in ("CLEARML_API_ACCESS_KEY", "CLEARML_API_SECRET_KEY"))
_PAT_NAME = st.sampled_from(["GITHUB_PAT", "PAT", "HF_PAT", "GL_PAT_RW"])
_PLAIN_NAME = st.sampled_from(["HTTPS_PROXY", "DATABASE_URL", "REMOTE", "SSH_IDENTITY", "SETTINGS"])
_PEM_LABEL = st.sampled_from(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])


@st.composite
def _placed(draw: st.DrawFn) -> tuple[Obj, str]:
    """A secret, and an install holding it in one of the places a user's install may."""
    secret = draw(_SECRET)
    where = draw(st.sampled_from(["agent env", "task env", "init env", "file", "annotation", "init arg", "field"]))
    shape = draw(st.sampled_from(["name", "pat", "url", "pem"]))
    name = draw({"name": _SECRET_NAME, "pat": _PAT_NAME}.get(shape, _PLAIN_NAME))
    if shape == "url":
        scheme = draw(st.sampled_from(["http", "https", "postgres", "s3", "redis"]))
        value = f"{scheme}://{draw(st.sampled_from(['u', 'admin', 'svc-1']))}:{secret}@host-{draw(_SECRET)[:5]}:1/x"
    elif shape == "pem":
        label = draw(_PEM_LABEL)
        value = f"-----BEGIN {label}-----\n{secret}\n-----END {label}-----\n"
    else:
        value = secret
    kwargs: Obj
    if where == "agent env":
        kwargs = {"agent_env": [{"name": name, "value": value}]}
    elif where == "task env":
        kwargs = {"task": {"env": [{"name": name, "value": value}]}}
    elif where == "init env":
        kwargs = {"task": {"initContainers": [{"name": "i", "image": "b:1", "env": [{"name": name, "value": value}]}]}}
    elif where == "file":
        kwargs = {"files": {"secret.txt": value}}
    elif where == "annotation":
        kwargs = {"pod_annotations": {f"example.com/{name.lower().replace('_', '-')}": value}}
    elif where == "field":
        field = draw(st.sampled_from(["password", "token", "apiKey", "clientSecret", "sasToken", "credentials"]))
        volume = {"name": "v", "flexVolume": {"driver": "x/y", "options": {field: value}}}
        kwargs = {"task": {"volumes": [volume]}}
    else:
        flag = draw(st.sampled_from(["--password", "--token", "--api-key", "--db-pass"]))
        args = [f"{flag}={value}"] if draw(st.booleans()) else [flag, value]
        kwargs = {"task": {"initContainers": [{"name": "i", "image": "b:1", "args": args}]}}
    return kwargs, secret


def _printed_and_written(tmp_path: Path, kwargs: Obj, secret: str, rotated: str) -> str:
    """Everything the tool prints for this install, and every file it means to be secret-free."""
    seen = []
    source = write(tmp_path, install(**kwargs), "before.yaml")
    for fmt in ("values", "argocd"):
        out = tmp_path / f"out-{fmt}"
        creds = tmp_path / f"creds-{fmt}"
        code, stdout, stderr = gen(
            ["render", "--project", "p", "--from-file", str(source), "--format", fmt]
            + ["--output-dir", str(out), "--credentials-out", str(creds)]
        )
        seen += [stdout, stderr]
        if code == 0:
            seen += list(files_in(out).values())
            assert secret in (creds / "p.secret.yaml").read_text(), "the secret went somewhere"
        else:
            assert len(stderr.splitlines()) == 1 and stderr.startswith("error: --credentials-out: "), stderr
            assert not out.exists() or files_in(out) == {}
    for fmt in ("table", "json"):
        seen += gen(["discover", "--from-file", str(source), "-o", fmt])[1:]
    inline = tmp_path / "inline.yaml"
    assert gen(["render", "--project", "p", "--from-file", str(source), "-o", str(inline)])[0] == 0
    after = write(tmp_path, install(**_replace(kwargs, secret, rotated)), "after.yaml")
    code, stdout, stderr = gen(["diff", "--values", str(inline), "--from-file", str(after)])
    assert code == 1, (stdout, stderr)
    return "\n".join([*seen, stdout, stderr])


def _replace(data: Any, old: str, new: str) -> Any:
    if isinstance(data, dict):
        return {k: _replace(v, old, new) for k, v in data.items()}
    if isinstance(data, list):
        return [_replace(v, old, new) for v in data]
    return data.replace(old, new) if isinstance(data, str) else data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(placed=_placed(), rotated=_SECRET)
def test_no_generated_secret_reaches_any_printed_output_or_secret_free_file(
    placed: tuple[Obj, str], rotated: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kwargs, secret = placed
    if rotated == secret:
        return
    text = _printed_and_written(tmp_path_factory.mktemp("p"), kwargs, secret, rotated)
    assert secret not in text and rotated not in text


def test_a_reference_to_a_variable_is_no_secret() -> None:
    """`--api-key=$(API_KEY)` is how a container takes a secret from its env: nothing to hide or refuse."""
    assert (
        redact_text("--api-key=$(API_KEY) --password=${DB_PASSWORD}")
        == "--api-key=$(API_KEY) --password=${DB_PASSWORD}"
    )
    assert not secret_args(["--token", "$(TOKEN)"]) and secret_args(["--token", "tk-1"])


@pytest.mark.parametrize("text", ["a." * 20_000, "a-" * 20_000, "x://" + "a@" * 13_000, "eyJ" * 13_000])
def test_redaction_stays_linear_on_long_runs(text: str) -> None:
    """A dump is up to megabytes; a pattern that rescans a run from each of its characters takes minutes."""
    import time

    start = time.perf_counter()
    redact_text(text)
    has_secret_shape(text)
    assert time.perf_counter() - start < 2.0


def test_secret_free_values_on_a_terminal_show_no_secret(tmp_path: Path) -> None:
    """stdout a real terminal (a pty): with --credentials-out the values print there, and hold no secret."""
    import os
    import pty
    import subprocess
    import sys

    kwargs, secret = MOVABLE["agent env URL userinfo"]
    source = write(tmp_path, install(**kwargs))
    primary, secondary = pty.openpty()
    args = ["render", "--project", "p", "--from-file", str(source), "--credentials-out", str(tmp_path / "s.yaml")]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from clearml_runai_gen.cli import entry; entry()", *args],
        stdout=secondary,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    _, stderr = proc.communicate(timeout=60)
    shown = b"".join(chunks).decode()
    assert proc.returncode == 0, stderr
    assert "secretKeyRef" in shown, "the values went to the terminal"
    assert secret not in shown + stderr
