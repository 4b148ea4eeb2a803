"""Queue profiles (queueProfiles): one agent Deployment and one task pod template per profile.

Each profile's agent serves exactly its queue (checked through the glue's own argument parser), with
its own template, worker id and Run:ai placement; all share the ServiceAccount, RBAC, credentials
and clearml.conf; every object keeps the release's labels. Without profiles nothing changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from sandbox.agent_harness.k8s_glue import parse_args
from sandbox.corpus import offline
from tests.conftest import gen

from .conftest import (
    NAMESPACE,
    RELEASE,
    Helm,
    Rendered,
    assert_valid_kubernetes_objects,
    ci_namespace,
    ci_values_files,
    values,
)
from .test_agent_launch import launch_args

pytestmark = pytest.mark.chart

PROFILES: list[dict[str, Any]] = [
    {"name": "train", "queue": "team-a-train", "runai": {"priorityClass": "train"}},
    {
        "name": "build",
        "queue": "team-a-build",
        "runai": {"priorityClass": "build"},
        "taskPod": {"resources": {"requests": {"cpu": "2", "memory": "1Gi"}}, "labels": {"kind": "cpu"}},
    },
    {"name": "notebooks", "queue": "team-a-nb", "workerId": "nb-agent", "runai": {"gpuFraction": "0.5"}},
]


def profile_values(**overlay: Any) -> dict[str, Any]:
    base = values(
        runai={"priorityClass": "inference"},
        agent={"queues": []},
        taskPod={"resources": {"limits": {"nvidia.com/gpu": 1}}, "annotations": {"team": "a"}},
        queueProfiles=PROFILES,
    )
    base.update(overlay)
    return base


def template_of(rendered: Rendered, deployment: dict[str, Any]) -> Rendered:
    """The Rendered whose only pod-template ConfigMap is the one this Deployment mounts."""
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "pod-template"]
    (cm,) = [c for c in rendered.all("ConfigMap") if c["metadata"]["name"] == volume["configMap"]["name"]]
    return Rendered([deployment, cm])


def agent_of(rendered: Rendered, deployment: dict[str, Any]) -> Rendered:
    """The objects one agent Deployment stands on: itself, its template ConfigMap and the Secrets."""
    return Rendered([*template_of(rendered, deployment).docs, *rendered.all("Secret")])


def test_each_profile_is_an_agent_serving_exactly_its_queue(helm: Helm, tmp_path: Path) -> None:
    rendered = helm.template(profile_values())
    deployments = {d["metadata"]["name"]: d for d in rendered.all("Deployment")}
    assert set(deployments) == {f"{RELEASE}-train", f"{RELEASE}-build", f"{RELEASE}-notebooks"}
    templates = [c["metadata"]["name"] for c in rendered.all("ConfigMap")]
    assert sorted(templates) == sorted(f"{name}-pod-template" for name in deployments)
    for profile in PROFILES:
        one = agent_of(rendered, deployments[f"{RELEASE}-{profile['name']}"])
        args = parse_args(launch_args(one, tmp_path / profile["name"]))
        assert args.queue == profile["queue"]
        assert one.agent_env_value("K8S_GLUE_QUEUE") == profile["queue"]
    workers = {name: agent_of(rendered, d).agent_env_value("CLEARML_WORKER_ID") for name, d in deployments.items()}
    assert workers == {
        f"{RELEASE}-train": f"{RELEASE}-train",
        f"{RELEASE}-build": f"{RELEASE}-build",
        f"{RELEASE}-notebooks": "nb-agent",
    }


def test_each_template_holds_its_profiles_placement_and_task_pod(helm: Helm) -> None:
    rendered = helm.template(profile_values())
    by_name = {d["metadata"]["name"]: template_of(rendered, d) for d in rendered.all("Deployment")}
    train, build, nb = (by_name[f"{RELEASE}-{n}"] for n in ("train", "build", "notebooks"))
    assert train.task_template["metadata"]["labels"]["priorityClassName"] == "train"
    assert train.task_container["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    # taskPod keys of a profile replace the release's, key by key
    assert build.task_template["metadata"]["labels"]["priorityClassName"] == "build"
    assert build.task_template["metadata"]["labels"]["kind"] == "cpu"
    assert build.task_container["resources"] == {"requests": {"cpu": "2", "memory": "1Gi"}}
    assert build.task_template["metadata"]["annotations"] == {"team": "a"}
    # a fraction: the annotation, and no whole-GPU request beside it; the release's priority class
    assert nb.task_template["metadata"]["annotations"]["gpu-fraction"] == "0.5"
    assert "resources" not in nb.task_container
    assert nb.task_template["metadata"]["labels"]["priorityClassName"] == "inference"
    for one in (train, build, nb):
        labels = one.task_template["metadata"]["labels"]
        assert labels["project"] == "team-a" and labels["runai/queue"] == "team-a"
        assert one.task_pod_spec["schedulerName"] == "runai-scheduler"


def test_profiles_share_service_account_rbac_credentials_and_keep_the_release_labels(helm: Helm) -> None:
    rendered = helm.template(profile_values())
    assert [s["metadata"]["name"] for s in rendered.all("ServiceAccount")] == [RELEASE]
    assert [s["metadata"]["name"] for s in rendered.all("Secret")] == [RELEASE]
    assert len(rendered.all("Role")) == 1 and len(rendered.all("RoleBinding")) == 1
    for doc in rendered.docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "clearml-runai-agent", doc["metadata"]["name"]
        assert labels["app.kubernetes.io/instance"] == RELEASE, doc["metadata"]["name"]
    selectors = []
    for deployment in rendered.all("Deployment"):
        pod = deployment["spec"]["template"]
        assert pod["spec"]["serviceAccountName"] == RELEASE
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod["metadata"]["labels"].items()
        selectors.append(selector["clearml-runai.io/queue-profile"])
        secret_refs = {
            e["valueFrom"]["secretKeyRef"]["name"] for e in pod["spec"]["containers"][0]["env"] if "valueFrom" in e
        }
        assert secret_refs == {RELEASE}
    assert sorted(selectors) == ["build", "notebooks", "train"]


def test_profiles_beside_the_release_agent_leave_its_selector_as_it_was(helm: Helm) -> None:
    before = helm.template(values()).deployment
    rendered = helm.template(profile_values(agent={"queues": ["runai-team-a"]}))
    (own,) = [d for d in rendered.all("Deployment") if d["metadata"]["name"] == RELEASE]
    assert own["spec"]["selector"] == before["spec"]["selector"]
    assert len(rendered.all("Deployment")) == 4


def test_profile_names_stay_within_63_characters_and_apart(helm: Helm) -> None:
    long = [
        {"name": "a" * 40, "queue": "q1"},
        {"name": "a" * 39 + "b", "queue": "q2"},
    ]
    rendered = helm.template(profile_values(fullnameOverride="r" * 63, queueProfiles=long))
    names = [(d["kind"], d["metadata"]["name"]) for d in rendered.docs]
    assert len(names) == len(set(names))
    assert max(len(name) for _, name in names) <= 63
    assert len(rendered.all("Deployment")) == 2 and len(rendered.all("ConfigMap")) == 2


@pytest.mark.parametrize(
    ("profiles", "queues", "message"),
    [
        ([{"name": "a", "queue": "q"}, {"name": "b", "queue": "q"}], [], 'queue "q" is served twice'),
        ([{"name": "a", "queue": "q"}], ["q"], 'queue "q" is served twice'),
        ([{"name": "a", "queue": "q"}, {"name": "a", "queue": "r"}], [], 'two profiles are named "a"'),
    ],
)
def test_a_queue_served_twice_or_a_name_given_twice_is_refused(
    helm: Helm, profiles: list[dict[str, Any]], queues: list[str], message: str
) -> None:
    assert message in helm.template_error(profile_values(agent={"queues": queues}, queueProfiles=profiles))


@pytest.mark.parametrize(
    "profile",
    [
        {"name": "Not_A_Label", "queue": "q"},
        {"name": "a", "queue": ""},
        {"queue": "q"},
        {"name": "a", "queue": "q", "runai": {"gpuFraction": "1.5"}},
        {"name": "a", "queue": "q", "runai": {"queue": "other"}},
        {"name": "a", "queue": "q", "taskPod": {"resourcez": {}}},
        {"name": "a", "queue": "q", "extra": 1},
    ],
)
def test_the_strict_schema_refuses_a_malformed_profile(helm: Helm, profile: dict[str, Any]) -> None:
    assert "queueProfiles" in helm.template_error(profile_values(queueProfiles=[profile]))


@pytest.mark.parametrize("version", ["1.29.0", "1.35.0"])
def test_profile_objects_are_valid_for_strict_kubernetes_schemas(helm: Helm, version: str) -> None:
    rendered = helm.template(profile_values())
    objects = list(rendered.docs)
    for deployment in rendered.all("Deployment"):
        objects.append(template_of(rendered, deployment).task_as_created(NAMESPACE))
    assert_valid_kubernetes_objects(objects, (version,))


def test_profiles_lint_strict(helm: Helm) -> None:
    proc = helm.lint(profile_values())
    assert "0 chart(s) failed" in proc.stdout
    assert "[WARNING]" not in proc.stdout and "[ERROR]" not in proc.stdout


@pytest.mark.parametrize("path", ci_values_files(), ids=lambda p: p.name)
def test_a_profile_adds_its_objects_and_changes_none_of_the_release(helm: Helm, path: Path) -> None:
    namespace = ci_namespace(path)
    before = helm.template(files=[path], namespace=namespace).docs
    profile = {"name": "extra", "queue": "extra-queue", "runai": {"gpuFraction": "0.5"}, "taskPod": {"labels": {}}}
    after = helm.template({"queueProfiles": [profile]}, files=[path], namespace=namespace).docs
    added = [doc for doc in after if doc not in before]
    assert [doc for doc in before if doc not in after] == []
    assert sorted(doc["kind"] for doc in added) == ["ConfigMap", "Deployment"]


PROFILES_FILE = """\
"{project}-train": {priorityClass: train}
"{project}-build":
  priorityClass: build
  taskPod:
    metadata: {labels: {kind: cpu}}
    spec:
      containers:
        - resources: {limits: {nvidia.com/gpu: null}, requests: {cpu: "2"}}
"{project}-nb": {gpuFraction: "0.5"}
"""


def test_render_queue_profiles_gives_an_agent_per_queue_with_its_merged_template(helm: Helm, tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(PROFILES_FILE)
    args = ["render", "--project", "team-a", "--from-file", "-", "--queue-profiles", str(path)]
    code, out, err = gen(args, offline.dump("b-5.3.2-gpu-template"))
    assert code == 0, err
    values = YAML(typ="safe").load(out)
    assert values["agent"]["queues"] == ["runai-team-a"]
    entries = {p["queue"]: p for p in values["queueProfiles"]}
    assert set(entries) == {"team-a-train", "team-a-build", "team-a-nb"}
    assert entries["team-a-build"]["runai"] == {"priorityClass": "build"}
    rendered = helm.template(values, release="clearml-runai-team-a", namespace=NAMESPACE)
    by_queue = {
        agent_of(rendered, d).agent_env_value("K8S_GLUE_QUEUE"): template_of(rendered, d)
        for d in rendered.all("Deployment")
    }
    assert set(by_queue) == {"runai-team-a", "team-a-train", "team-a-build", "team-a-nb"}
    source_gpu = by_queue["runai-team-a"].task_container["resources"]["limits"]["nvidia.com/gpu"]
    assert by_queue["team-a-train"].task_container["resources"]["limits"]["nvidia.com/gpu"] == source_gpu
    build = by_queue["team-a-build"]
    assert "nvidia.com/gpu" not in build.task_container["resources"].get("limits", {})
    assert build.task_container["resources"]["requests"]["cpu"] == "2"
    assert build.task_template["metadata"]["labels"]["kind"] == "cpu"
    assert build.task_template["metadata"]["labels"]["priorityClassName"] == "build"
    assert by_queue["team-a-nb"].task_template["metadata"]["annotations"]["gpu-fraction"] == "0.5"


def test_a_profile_the_chart_would_refuse_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text('"{project}-nb": {gpuFraction: "2"}\n')
    args = ["render", "--project", "team-a", "--from-file", "-", "--queue-profiles", str(path)]
    code, out, err = gen(args, offline.dump("b-5.3.2-gpu-template"))
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "gpuFraction '2'" in err and "Traceback" not in err


def test_diff_renders_again_with_the_recorded_profiles_and_sees_their_drift(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(PROFILES_FILE)
    source = tmp_path / "clearml.json"
    source.write_text(offline.dump("b-5.3.2-gpu-template"))
    out = tmp_path / "values.yaml"
    render = ["render", "--project", "team-a", "--from-file", str(source), "--queue-profiles", str(profiles)]
    code, _, err = gen([*render, "-o", str(out)])
    assert code == 0, err
    recorded = YAML(typ="safe").load(out.read_text())["origin"]["queueProfiles"]
    assert set(recorded) == {"team-a-train", "team-a-build", "team-a-nb"}
    code, stdout, err = gen(["diff", "--values", str(out), "--from-file", str(source)])
    assert code == 0 and "no drift" in stdout, stdout + err
    # the file edited by hand: a profile's merged template differs from what the install gives now
    values = YAML(typ="safe").load(out.read_text())
    values["queueProfiles"][0]["taskPod"]["labels"]["edited"] = "yes"
    YAML(typ="safe").dump(values, out)
    code, stdout, _ = gen(["diff", "--values", str(out), "--from-file", str(source)])
    assert code == 1 and "queueProfiles" in stdout


@pytest.mark.parametrize("fmt", ["argocd", "flux"])
def test_gitops_formats_carry_the_profiles_with_the_credentials_apart(fmt: str, tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(PROFILES_FILE)
    secret = tmp_path / "secret.yaml"
    args = ["render", "--project", "team-a", "--from-file", "-", "--queue-profiles", str(profiles)]
    code, out, err = gen(
        [*args, "--format", fmt, "--credentials-out", str(secret)], offline.dump("b-5.3.2-gpu-template")
    )
    assert code == 0, err
    docs = [d for d in YAML(typ="safe").load_all(out) if d]
    inline = [
        d["spec"]["source"]["helm"]["valuesObject"] if fmt == "argocd" else d["spec"]["values"]
        for d in docs
        if d["kind"] in ("Application", "HelmRelease")
    ]
    (values,) = inline
    assert {p["queue"] for p in values["queueProfiles"]} == {"team-a-train", "team-a-build", "team-a-nb"}
    assert values["clearml"]["existingSecret"] and "secretKey" not in values["clearml"]
    assert secret.is_file()
