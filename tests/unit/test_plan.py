from __future__ import annotations

import pytest
from clearml_runai_gen.detect import read_install
from clearml_runai_gen.emit import render_values
from clearml_runai_gen.errors import UsageError
from clearml_runai_gen.glue import split_extra_args, split_image
from clearml_runai_gen.hosts import HostRewriter
from clearml_runai_gen.models import ProjectOptions
from clearml_runai_gen.plan import make_plan
from clearml_runai_gen.source import FileSource
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.fixtures.installs import ACCESS_KEY, SECRET_KEY, SERVER_ONLY, as_served, dump, flavour_a, flavour_b
from sandbox.names import names


def plan_for(objects, project="team-a", **opts):
    src = FileSource(dump(objects), "dump")
    install = read_install(src)
    return make_plan(install, ProjectOptions.build(project, **opts))


@pytest.mark.parametrize(
    "url,expected",
    [
        ("http://clearml-apiserver:8008", "http://clearml-apiserver.ns1.svc.cluster.local:8008"),
        ("http://ml-webserver", "http://ml-webserver.ns1.svc.cluster.local"),
        ("https://user:pw@files:443/path?q=1", "https://user:pw@files.ns1.svc.cluster.local:443/path?q=1"),
        ("my-svc:6379", "my-svc.ns1.svc.cluster.local:6379"),
        (
            "http://clearml-apiserver.other.svc.cluster.local:8008",
            "http://clearml-apiserver.other.svc.cluster.local:8008",
        ),
        ("https://api.clear.ml", "https://api.clear.ml"),
        ("http://localhost:8008", "http://localhost:8008"),
        ("http://10.0.0.1:8008", "http://10.0.0.1:8008"),
        ("k8s-agent", "k8s-agent"),
        ("plain words here", "plain words here"),
        ("", ""),
    ],
)
def test_a_clearml_host_variable_is_a_host_when_the_services_are_not_known(url: str, expected: str) -> None:
    assert HostRewriter("ns1", "cluster.local", None).value(url, host_var=True) == expected


@pytest.mark.parametrize(
    "value,services,expected",
    [
        # not hosts, unless a Service of that name exists
        ("python:3", frozenset({"clearml-apiserver"}), "python:3"),
        ("busybox:1", None, "busybox:1"),
        ("02:00", None, "02:00"),
        ("python:3", frozenset({"python"}), "python.ns1.svc.cluster.local:3"),
        # a Service of the namespace, named bare
        ("clearml-redis:6379", frozenset({"clearml-redis"}), "clearml-redis.ns1.svc.cluster.local:6379"),
        ("clearml-redis", frozenset({"clearml-redis"}), "clearml-redis.ns1.svc.cluster.local"),
        ("http://api:8008", frozenset({"web"}), "http://api:8008"),
        # without the Services, only URLs with a scheme are hosts
        ("http://api:8008", None, "http://api.ns1.svc.cluster.local:8008"),
        ("api:8008", None, "api:8008"),
    ],
)
def test_hosts_only_where_they_are_hosts(value: str, services: frozenset[str] | None, expected: str) -> None:
    assert HostRewriter("ns1", "cluster.local", services).value(value) == expected


def test_no_proxy_keeps_matching_what_was_rewritten() -> None:
    rw = HostRewriter("ml", "corp.local", frozenset({"clearml-apiserver", "clearml-fileserver"}))
    env = rw.env(
        [
            {"name": "NO_PROXY", "value": "clearml-apiserver,localhost,.internal"},
            {"name": "CLEARML_API_HOST", "value": "http://clearml-apiserver:8008"},
        ]
    )
    assert env[0]["value"] == "clearml-apiserver,clearml-apiserver.ml.svc.corp.local,localhost,.internal"
    assert env[1]["value"] == "http://clearml-apiserver.ml.svc.corp.local:8008"


def test_extra_args_are_parsed_structurally() -> None:
    args = split_extra_args(
        "--namespace clearml --template-yaml /root/template/template.yaml --ports-mode --num-of-services 5 "
        "--max-pods=4 --extra-arg '--namespace inside'"
    )
    assert args.namespace == "clearml" and args.template_yaml == "/root/template/template.yaml"
    assert args.max_pods == "4"
    assert args.rest == ["--extra-arg", "--namespace inside"]
    assert args.ports == {"--ports-mode": "", "--num-of-services": "5"}


def test_split_image() -> None:
    assert split_image("docker.io/allegroai/clearml-agent-k8s-base:1.24-21") == (
        "docker.io/allegroai/clearml-agent-k8s-base",
        "1.24-21",
        "",
    )
    assert split_image("registry:5000/agent@sha256:abc") == ("registry:5000/agent", "", "sha256:abc")
    assert split_image("registry:5000/agent") == ("registry:5000/agent", "", "")


@pytest.mark.parametrize("version", ["3.4.0", "3.5.1", "3.6.2", "3.9.0", "3.10.5"])
@pytest.mark.parametrize("release,namespace", [("clearml", "clearml"), ("mlplat", "ml-system")])
def test_flavour_a_every_version_reaches_clearml_by_full_name(version: str, release: str, namespace: str) -> None:
    plan = plan_for(as_served(flavour_a(release=release, namespace=namespace, version=version), namespace, release))
    v = plan.values
    full = release if "clearml" in release else f"{release}-clearml"
    assert plan.install.flavour == "A"
    assert v["clearml"]["apiHost"] == f"http://{full}-apiserver.{namespace}.svc.cluster.local:8008"
    assert v["clearml"]["webHost"] == f"http://{full}-webserver.{namespace}.svc.cluster.local"
    assert v["clearml"]["filesHost"] == f"http://{full}-fileserver.{namespace}.svc.cluster.local:8081"
    assert (v["clearml"]["accessKey"], v["clearml"]["secretKey"]) == (ACCESS_KEY, SECRET_KEY)
    assert v["agent"]["queues"] == ["runai-team-a"]
    assert v["agent"]["workerId"] == "clearml-runai-team-a"
    assert v["agent"]["extraArgs"] == []
    assert v["taskPod"]["tolerations"] == []
    # the chart sets hosts and credentials of task pods itself
    assert all(e["name"] not in ("CLEARML_API_HOST", "CLEARML_API_ACCESS_KEY") for e in v["taskPod"]["env"])


def test_server_only_secrets_are_never_copied() -> None:
    plan = plan_for(as_served(flavour_a(), "clearml", "clearml"))
    text = repr(plan.values)
    for value in SERVER_ONLY.values():
        assert value not in text


def test_flavour_b_carries_base_pod_template() -> None:
    bpt = {
        "labels": {"team": "vision"},
        "annotations": {"owner": "ml"},
        "resources": {"limits": {"nvidia.com/gpu": 1}},
        "env": [
            {"name": "PIP_INDEX_URL", "value": "http://pypi-mirror:8080/simple"},
            {"name": "AWS_KEY", "valueFrom": {"secretKeyRef": {"name": "aws", "key": "k"}}},
        ],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "podSecurityContext": {"runAsUser": 1000},
        "containerSecurityContext": {"allowPrivilegeEscalation": False},
        "initContainers": [{"name": "init", "image": "busybox:1.36"}],
        "nodeSelector": {"gpu": "a100"},
        "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "priorityClassName": "high",
    }
    plan = plan_for(
        as_served(flavour_b(release="vision", namespace="agents", base_pod_template=bpt), "agents", "vision"),
        queues=["a,b", "c"],
        worker_id="w1",
    )
    t = plan.values["taskPod"]
    assert plan.install.flavour == "B"
    assert t["labels"] == {"team": "vision"} and t["annotations"] == {"owner": "ml"}
    assert t["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert t["env"][0] == {"name": "PIP_INDEX_URL", "value": "http://pypi-mirror.agents.svc.cluster.local:8080/simple"}
    assert t["volumes"] == bpt["volumes"] and t["volumeMounts"] == bpt["volumeMounts"]
    assert t["podSecurityContext"] == {"runAsUser": 1000}
    assert t["securityContext"] == {"allowPrivilegeEscalation": False}
    assert t["initContainers"] == [{"name": "init", "image": "busybox:1.36"}]
    assert t["nodeSelector"] == {"gpu": "a100"} and t["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert t["priorityClassName"] == "high"
    assert t["extraContainerSpec"] == {"ports": [{"containerPort": 10022}]}
    assert plan.values["agent"]["queues"] == ["a", "b", "c"]
    assert plan.values["agent"]["workerId"] == "w1"
    assert plan.values["clearml"]["conf"] == "sdk {\n}"
    assert any("Secret aws" in w for w in plan.warnings)


def test_project_options_defaults_and_validation() -> None:
    o = ProjectOptions.build("p1")
    assert (o.namespace, o.queues, o.worker_id, o.release) == (
        "runai-p1",
        ("runai-p1",),
        "clearml-runai-p1",
        "clearml-runai-p1",
    )
    assert ProjectOptions.build("p1", scheduler="kai").scheduler == "kai-scheduler"
    for bad in ("Team_A", "-a", "a" * 58, ""):
        with pytest.raises(UsageError):
            ProjectOptions.build(bad)
    for frac in ("0", "1.5", "x", "-0.5"):
        with pytest.raises(UsageError):
            ProjectOptions.build("p1", gpu_fraction=frac)
    assert ProjectOptions.build("p1", gpu_fraction="0.25").gpu_fraction == "0.25"
    assert ProjectOptions.build("a" * 57).namespace == "runai-" + "a" * 57


def test_two_projects_never_share_a_worker_id() -> None:
    objs = as_served(flavour_a(), "clearml", "clearml")
    assert plan_for(objs, "p1").values["agent"]["workerId"] != plan_for(objs, "p2").values["agent"]["workerId"]


# --- property: rendering never crashes on well-formed installs -----------------------------------


dns = st.from_regex(r"[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,6})?", fullmatch=True)
label_values = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?", fullmatch=True)
base_pod_templates = st.fixed_dictionaries(
    {},
    optional={
        "labels": st.dictionaries(dns, label_values, max_size=3),
        "annotations": st.dictionaries(dns, st.text(max_size=12), max_size=3),
        "resources": st.just({"limits": {"nvidia.com/gpu": 1}}),
        "env": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.from_regex(r"[A-Z][A-Z0-9_]{0,10}", fullmatch=True),
                    "value": st.one_of(st.text(max_size=20), dns.map(lambda h: f"http://{h}:80/x")),
                }
            ),
            max_size=3,
            unique_by=lambda e: e["name"],
        ),
        "nodeSelector": st.dictionaries(dns, label_values, max_size=2),
        "tolerations": st.lists(st.fixed_dictionaries({"key": dns, "operator": st.just("Exists")}), max_size=2),
        "priorityClassName": dns,
    },
)


@settings(max_examples=60, deadline=None)
@given(
    flavour=st.sampled_from(["A", "B"]),
    version=st.sampled_from(["3.4.0", "3.5.1", "3.6.0", "3.8.2", "3.10.5"]),
    release=dns,
    namespace=dns,
    project=dns,
    bpt=base_pod_templates,
    queues=st.lists(label_values, min_size=0, max_size=3, unique=True),  # a queue named twice is refused
)
def test_rendering_never_crashes_on_well_formed_installs(flavour, version, release, namespace, project, bpt, queues):
    if flavour == "A":
        objs = as_served(flavour_a(release=release, namespace=namespace, version=version), namespace, release)
    else:
        objs = as_served(flavour_b(release=release, namespace=namespace, base_pod_template=bpt), namespace, release)
    plan = plan_for(objs, project, queues=queues)
    text = render_values(plan)
    assert text == render_values(plan)
    v = plan.values
    assert v["runai"]["project"] == project and v["runai"]["namespace"] == names(project).namespace
    assert v["clearml"]["apiHost"].split("/")[2].split(":")[0].endswith(f".{namespace}.svc.cluster.local")
    assert isinstance(v["taskPod"]["tolerations"], list)
    for var in v["taskPod"]["env"] + v["agent"]["extraEnv"]:
        value = var.get("value", "")
        if value.startswith("http://") and "." not in value.split("/")[2].split(":")[0]:
            raise AssertionError(f"bare service name left in {var}")


def test_a_clearml_host_that_names_no_service_of_the_namespace_is_said() -> None:
    rw = HostRewriter("agents", "cluster.local", frozenset({"other"}))
    assert rw.unresolved("http://clearml-apiserver:8008") == "clearml-apiserver"
    assert rw.unresolved("http://clearml-apiserver.clearml:8008") == ""
    assert rw.unresolved("https://api.clear.ml") == ""
    assert HostRewriter("agents", "cluster.local", None).unresolved("http://clearml-apiserver:8008") == ""
