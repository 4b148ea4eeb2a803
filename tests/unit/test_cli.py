from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from clearml_runai_gen.cli import cli
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.fixtures.installs import as_served, dump, flavour_a, flavour_b, json_to_yaml
from tests.conftest import gen

run = gen


@pytest.fixture
def a_dump(tmp_path: Path) -> Path:
    p = tmp_path / "clearml.yaml"
    p.write_text(dump(as_served(flavour_a(version="3.10.5"), "clearml", "clearml")))
    return p


def test_render_from_file_is_deterministic(a_dump: Path) -> None:
    first = run(["render", "--project", "team-a", "--from-file", str(a_dump)])
    second = run(["render", "--project", "team-a", "--from-file", str(a_dump)])
    assert first[0] == 0 and first[1] == second[1]
    assert "apiHost: http://clearml-apiserver.clearml.svc.cluster.local:8008" in first[1]


def test_render_reads_stdin_json_and_single_objects(tmp_path: Path) -> None:
    objs = as_served(flavour_b(), "clearml", "agent")
    as_json = run(["render", "--project", "p", "--from-file", "-"], stdin=dump(objs, "json"))
    as_docs = run(
        ["render", "--project", "p", "--from-file", "-"], stdin="".join("---\n" + json_to_yaml(o) for o in objs)
    )
    assert as_json[0] == 0, as_json[2]
    assert as_json[1] == as_docs[1]


def test_output_file_is_private_and_atomic(a_dump: Path, tmp_path: Path) -> None:
    out = tmp_path / "values.yaml"
    code, stdout, _ = run(["render", "--project", "p", "--from-file", str(a_dump), "-o", str(out)])
    assert code == 0 and stdout == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "project: p" in out.read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_output_over_an_existing_readable_file_ends_private_and_replaced_whole(a_dump: Path, tmp_path: Path) -> None:
    out = tmp_path / "values.yaml"
    out.write_text("old: values\n")
    out.chmod(0o644)
    inode = out.stat().st_ino
    code, _, err = run(["render", "--project", "p", "--from-file", str(a_dump), "-o", str(out)])
    assert code == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # replaced by a rename (a reader sees the old file or the new one), not rewritten in place
    assert out.stat().st_ino != inode
    assert "old: values" not in out.read_text() and "project: p" in out.read_text()


@pytest.mark.parametrize("flag,expected", [([], True), (["--self-update"], False), (["--no-self-update"], True)])
def test_self_update_and_the_queue_label_are_what_the_options_say(
    a_dump: Path, flag: list[str], expected: bool
) -> None:
    from ruamel.yaml import YAML

    code, out, err = run(["render", "--project", "p", "--from-file", str(a_dump), "--show-secrets", *flag])
    assert code == 0, err
    values = YAML(typ="safe").load(out)
    assert values["agent"]["noSelfUpdate"] is expected
    # runai.queue is left to the chart, whose default is the project itself
    assert values["runai"].get("queue", "") == "" and values["runai"]["project"] == "p"


def test_secrets_never_reach_stderr(a_dump: Path) -> None:
    _, _, stderr = run(["render", "--project", "p", "--from-file", str(a_dump)])
    assert "BxapIRo9" not in stderr


BAD_INPUTS = {
    "not yaml": ("key: [unclosed", "not valid YAML"),
    "scalar": ("just a string\n", "not a Kubernetes object"),
    "list of scalars": ("- 1\n- 2\n", "not a Kubernetes object"),
    "no agent": (json_to_yaml({"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {}}), "no ClearML k8s agent"),
    "empty": ("", "holds no Kubernetes objects"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gets_one_line_and_leaves_output_untouched(name: str, tmp_path: Path) -> None:
    text, needle = BAD_INPUTS[name]
    src = tmp_path / "in.yaml"
    src.write_text(text)
    out = tmp_path / "values.yaml"
    out.write_text("previous\n")
    code, stdout, stderr = run(["render", "--project", "p", "--from-file", str(src), "-o", str(out)])
    assert code == 1
    assert stdout == ""
    assert needle in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert out.read_text() == "previous\n"


def _without(objs, kind):
    return [o for o in objs if o["kind"] != kind]


def test_missing_objects_are_named() -> None:
    objs = as_served(flavour_a(), "clearml", "clearml")
    for kind, needle in (
        ("Secret", "Secret clearml/clearml-conf"),
        ("ConfigMap", "ConfigMap clearml/k8sagent-pod-template"),
    ):
        code, stdout, stderr = run(["render", "--project", "p", "--from-file", "-"], stdin=dump(_without(objs, kind)))
        assert code == 1 and stdout == "" and needle in stderr and "is missing" in stderr


def test_broken_objects_are_named() -> None:
    objs = as_served(flavour_b(), "clearml", "agent")
    secret = next(o for o in objs if o["kind"] == "Secret")
    secret["data"]["agentk8sglue_key"] = "!!!not base64"
    code, _, stderr = run(["render", "--project", "p", "--from-file", "-"], stdin=dump(objs))
    assert code == 1 and "not base64" in stderr and "agent-clearml-agent-ac" in stderr

    objs = as_served(flavour_b(), "clearml", "agent")
    cm = next(o for o in objs if o["kind"] == "ConfigMap")
    cm["data"] = {"other.yaml": "x"}
    code, _, stderr = run(["render", "--project", "p", "--from-file", "-"], stdin=dump(objs))
    assert code == 1 and "has no key 'template.yaml'" in stderr

    cm["data"] = {"template.yaml": "- not\n- a pod\n"}
    code, _, stderr = run(["render", "--project", "p", "--from-file", "-"], stdin=dump(objs))
    assert code == 1 and "not a pod template" in stderr


def test_several_agents_need_agent_option() -> None:
    objs = as_served(flavour_b(release="one"), "clearml", "one") + as_served(flavour_b(release="two"), "clearml", "two")
    code, stdout, stderr = run(["render", "--project", "p", "--from-file", "-"], stdin=dump(objs))
    assert code == 2 and "one-clearml-agent" in stderr and "two-clearml-agent" in stderr and "--agent" in stderr
    code, stdout, _ = run(
        ["render", "--project", "p", "--from-file", "-", "--agent", "two-clearml-agent"], stdin=dump(objs)
    )
    assert code == 0 and "two-clearml-agent" in stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["render"], "--project is required"),
        (["render", "--project", "Bad_Name"], "not a Run:ai project name"),
        (["render", "--project", "p" * 60], "too long"),
        (["render", "--project", "p", "--gpu-fraction", "2"], "--gpu-fraction"),
        (["render", "--project", "p", "--from-file", "/nonexistent/dump.yaml"], "no such file"),
        (["render", "--bogus"], "No such option"),
    ],
)
def test_usage_errors(args: list[str], needle: str) -> None:
    code, stdout, stderr = run(args)
    assert code in (1, 2) and stdout == "" and needle in stderr and "Traceback" not in stderr
    if "no such file" not in needle:
        assert code == 2


def test_unreachable_cluster_fails_fast(tmp_path: Path) -> None:
    import time

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json_to_yaml(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "x",
                "clusters": [
                    {"name": "x", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}
                ],
                "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
                "users": [{"name": "x", "user": {"token": "t"}}],
            }
        )
    )
    start = time.monotonic()
    code, stdout, stderr = run(["render", "--project", "p", "--kubeconfig", str(kubeconfig)])
    assert time.monotonic() - start < 20
    assert code == 1 and stdout == "" and "cannot reach the Kubernetes API" in stderr


def test_help_lists_render() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0 and "render" in result.output


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.text(max_size=200),
        st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()),
        st.recursive(
            st.one_of(st.none(), st.integers(), st.text(max_size=10)),
            lambda c: st.one_of(
                st.lists(c, max_size=3),
                st.dictionaries(st.sampled_from(["kind", "metadata", "name", "items", "spec", "data"]), c, max_size=4),
            ),
            max_leaves=10,
        ).map(json_to_yaml),
    )
)
def test_cli_never_crashes_on_any_input(text: str) -> None:
    code, stdout, stderr = run(["render", "--project", "p", "--from-file", "-"], stdin=text)
    assert code in (0, 1, 2)
    assert "Traceback" not in stderr and "internal error" not in stderr
    if code != 0:
        assert stdout == "" and len(stderr.strip().splitlines()) == 1


def test_values_read_back_as_strings_by_helms_yaml_1_1_parser(a_dump: Path) -> None:
    import yaml  # PyYAML resolves scalars as YAML 1.1, like helm

    code, stdout, _ = run(
        [
            "render",
            "--project",
            "p",
            "--from-file",
            str(a_dump),
            "--queue",
            "on,no",
            "--worker-id",
            "yes",
            "--node-pool",
            "1e3",
        ]
    )
    assert code == 0
    values = yaml.safe_load(stdout)
    assert values["agent"]["queues"] == ["on", "no"]
    assert values["agent"]["workerId"] == "yes"
    assert values["runai"]["nodePool"] == "1e3"


def test_many_projects_from_one_read_of_the_install(a_dump: Path, tmp_path: Path) -> None:
    from clearml_runai_gen.api import render_many
    from clearml_runai_gen.models import ProjectOptions
    from clearml_runai_gen.source import FileSource

    class CountingSource(FileSource):
        def __init__(self, text: str) -> None:
            super().__init__(text, "dump")
            self.reads: dict[str, int] = {}

        def objects(self, kind: str):  # type: ignore[no-untyped-def]
            self.reads[kind] = self.reads.get(kind, 0) + 1
            return super().objects(kind)

    single, many = CountingSource(a_dump.read_text()), CountingSource(a_dump.read_text())
    one = render_many(single, [ProjectOptions.build("p0")])
    results = render_many(many, [ProjectOptions.build(f"p{i}") for i in range(200)])
    assert [r.project for r in results] == [f"p{i}" for i in range(200)]  # forked workers keep the order
    assert len(results) == 200 and results[0].text == one[0].text
    assert all(f"project: p{i}\n" in r.text for i, r in enumerate(results))
    assert len({r.text for r in results}) == 200
    # the install is read once, whatever the number of projects
    assert many.reads == single.reads


def test_output_dir_writes_one_private_file_per_project(a_dump: Path, tmp_path: Path) -> None:
    out = tmp_path / "values"
    args = ["render", "--from-file", str(a_dump), "--output-dir", str(out)]
    for i in range(12):
        args += ["--project", f"team-{i}"]
    code, stdout, stderr = run(args)
    assert code == 0 and stdout == ""
    files = sorted(out.iterdir())
    assert [f.name for f in files] == sorted(f"team-{i}.values.yaml" for i in range(12))
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert f"project: {f.name.split('.')[0]}" in f.read_text()
    code, _, stderr = run(["render", "--from-file", str(a_dump), "--project", "a", "--project", "b"])
    assert code == 2 and "--output-dir" in stderr


@pytest.mark.parametrize(
    "content,needle",
    [
        (None, "does not exist"),
        ("garbage: [", "not valid YAML"),
        ("apiVersion: v1\n", "current-context"),
    ],
)
def test_bad_kubeconfig_is_one_line(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "kubeconfig"
    if content is not None:
        path.write_text(content)
    code, stdout, stderr = run(["render", "--project", "p", "--kubeconfig", str(path)])
    assert code == 1 and stdout == "" and needle in stderr
    assert len(stderr.strip().splitlines()) == 1 and "internal error" not in stderr


def _paths(obj: object, path: tuple = ()):  # type: ignore[type-arg]
    yield path
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*path, i))


_SERVED = [
    as_served(flavour_a(version="3.5.1"), "clearml", "clearml"),
    as_served(flavour_a(version="3.10.5"), "clearml", "clearml"),
    as_served(flavour_b(), "clearml", "agent"),
]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(range(len(_SERVED))),
    st.lists(
        st.tuples(st.integers(min_value=0), st.sampled_from([None, 1, "x", [], {}, [1], {"a": 1}, True])),
        min_size=1,
        max_size=3,
    ),
)
def test_broken_objects_never_crash_the_cli(base: int, edits: list) -> None:  # type: ignore[type-arg]
    """Any field of a served install replaced by a value of another shape: a clean result or one line."""
    import copy

    objs = copy.deepcopy(_SERVED[base])
    for index, value in edits:
        candidates = [p for p in _paths(objs) if len(p) > 1]
        path = candidates[index % len(candidates)]
        parent = objs
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = copy.deepcopy(value)
    code, stdout, stderr = run(["render", "--project", "p", "--from-file", "-"], stdin=dump(objs, "json"))
    assert "internal error" not in stderr and "Traceback" not in stderr
    if code != 0:
        assert stdout == "" and len(stderr.strip().splitlines()) == 1


def test_copy_makes_a_secret_and_a_configmap_ready_for_the_runai_namespace(tmp_path: Path) -> None:
    from ruamel.yaml import YAML

    owned = {"meta.helm.sh/release-name": "clearml", "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    objs = [
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
         "metadata": {"name": "regcred", "namespace": "clearml", "uid": "u1", "resourceVersion": "7",
                      "labels": {"team": "ml", "app.kubernetes.io/managed-by": "Helm"}, "annotations": owned},
         "data": {".dockerconfigjson": "e30="}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "corp-ca", "namespace": "clearml"},
         "data": {"ca.crt": "CA"}},
    ]  # fmt: skip
    out = tmp_path / "copy.yaml"
    code, stdout, err = run(
        ["copy", "secret/regcred", "configmap/corp-ca", "--namespace", "runai-a", "--from-file", "-", "-o", str(out)],
        stdin=dump(objs, "json"),
    )
    assert code == 0 and stdout == "", err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    secret, configmap = YAML(typ="safe").load(out.read_text())["items"]
    assert secret["metadata"] == {"name": "regcred", "namespace": "runai-a", "labels": {"team": "ml"}}
    assert secret["type"] == "kubernetes.io/dockerconfigjson" and secret["data"] == {".dockerconfigjson": "e30="}
    assert configmap["metadata"]["namespace"] == "runai-a" and configmap["data"] == {"ca.crt": "CA"}
    code, _, err = run(["copy", "secret/nope", "--namespace", "runai-a", "--from-file", "-"], stdin=dump(objs, "json"))
    assert code == 1 and "Secret clearml/nope does not exist" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(["copy", "pvc/data", "--namespace", "runai-a", "--from-file", "-"], stdin=dump(objs, "json"))
    assert code == 2 and "secret/NAME or configmap/NAME" in err
