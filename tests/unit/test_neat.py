from __future__ import annotations

import copy
from typing import Any

from clearml_runai_gen.neat import (
    as_list,
    canonical,
    neat_metadata,
    neat_pod_spec,
    neat_pod_template,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.fixtures.installs import as_served, flavour_a, flavour_b

HELM_MARKS = (
    "meta.helm.sh/",
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "deployment.kubernetes.io/",
    "kubectl.kubernetes.io/",
)


def walk_keys(obj: Any, path: str = "") -> list[str]:
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(f"{path}.{k}")
            out.extend(walk_keys(v, f"{path}.{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(walk_keys(v, f"{path}[{i}]"))
    return out


SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink")


def assert_no_server_fields(obj: dict[str, Any]) -> None:
    keys = walk_keys(obj)
    for field in SERVER_METADATA:
        assert not any(k.endswith("." + field) for k in keys if ".metadata." in k), field
    text = repr(obj)
    for mark in HELM_MARKS:
        assert mark not in text, mark
    assert "kube-api-access-" not in text
    assert "terminationMessagePath" not in text
    assert "default-scheduler" not in text
    assert "defaultMode': 420" not in text


def served_objects() -> list[dict[str, Any]]:
    return (
        as_served(flavour_a(version="3.5.1"), "clearml", "clearml")
        + as_served(flavour_a(version="3.10.5", release="ml", namespace="mlops"), "mlops", "ml")
        + as_served(flavour_b(release="gpu"), "agents", "gpu")
    )


def pod_templates(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o["spec"]["template"] for o in objects if o["kind"] == "Deployment"]


def test_neat_strips_every_server_and_helm_field_from_served_pod_templates() -> None:
    for template in pod_templates(served_objects()):
        assert_no_server_fields(neat_pod_template(template))


def test_neat_keeps_user_labels_and_annotations() -> None:
    obj = {
        "kind": "ConfigMap",
        "metadata": {
            "name": "x",
            "labels": {"team": "a", "helm.sh/chart": "c-1"},
            "annotations": {"owner": "me", "meta.helm.sh/release-name": "r"},
        },
    }
    out = neat_metadata(obj["metadata"])
    assert out == {"name": "x", "labels": {"team": "a"}, "annotations": {"owner": "me"}}


def test_an_object_read_live_and_from_a_dump_is_the_same_once_neat() -> None:
    # the API server answers in its field order, `kubectl get -o yaml` sorts keys
    live = {
        "containers": [{"name": "c", "env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}],
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }
    dumped = canonical(live)
    assert list(dumped["tolerations"][0]) == ["effect", "key", "operator"]
    assert list(neat_pod_spec(live)["tolerations"][0]) == list(neat_pod_spec(dumped)["tolerations"][0])
    assert repr(neat_pod_spec(live)) == repr(neat_pod_spec(dumped))


def test_neat_drops_service_account_token_volume_and_defaults() -> None:
    spec = {
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30,
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "securityContext": {},
        "containers": [
            {
                "name": "c",
                "image": "i",
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "volumeMounts": [{"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets"}],
            }
        ],
        "volumes": [
            {"name": "kube-api-access-abcde", "projected": {"sources": []}},
            {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}},
        ],
    }
    assert neat_pod_spec(spec) == {
        "serviceAccountName": "default",
        "containers": [{"name": "c", "image": "i"}],
        "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
    }


def test_neat_keeps_non_default_values() -> None:
    spec = {
        "dnsPolicy": "None",
        "schedulerName": "runai-scheduler",
        "terminationGracePeriodSeconds": 5,
        "containers": [{"name": "c", "terminationMessagePolicy": "FallbackToLogsOnError"}],
    }
    assert neat_pod_spec(spec) == spec


def test_tolerations_object_becomes_a_list() -> None:
    assert neat_pod_spec({"tolerations": {}}) == {}
    assert as_list({}) == []
    assert as_list(None) == []
    assert as_list({"key": "k"}) == [{"key": "k"}]
    assert neat_pod_spec({"tolerations": [{"key": "gpu"}]}) == {"tolerations": [{"key": "gpu"}]}


def test_template_with_null_volumes_and_empty_namespace_is_cleaned() -> None:
    tpl = {
        "apiVersion": "v1",
        "metadata": {"namespace": None, "labels": {}, "annotations": {}},
        "spec": {"volumes": None, "containers": [{"volumeMounts": None, "resources": {}, "env": None}]},
    }
    assert neat_pod_template(tpl) == {"apiVersion": "v1", "spec": {"containers": [{}]}}


# --- properties ------------------------------------------------------------------------------

label_keys = st.sampled_from(
    ["app", "team", "helm.sh/chart", "app.kubernetes.io/managed-by", "tier", "pod-template-hash", "example.com/x"]
)
annotation_keys = st.sampled_from(
    [
        "meta.helm.sh/release-name",
        "kubectl.kubernetes.io/last-applied-configuration",
        "deployment.kubernetes.io/revision",
        "checksum/config",
        "owner",
        "note",
    ]
)
scalars = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none())


@st.composite
def served_object(draw: st.DrawFn) -> dict[str, Any]:
    base = copy.deepcopy(draw(st.sampled_from(served_objects())))
    meta = base["metadata"]
    meta["labels"] = {**(meta.get("labels") or {}), **draw(st.dictionaries(label_keys, st.text(max_size=5)))}
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        **draw(st.dictionaries(annotation_keys, st.text(max_size=5))),
    }
    for field in ("selfLink", "generation", "finalizers"):
        if draw(st.booleans()):
            meta[field] = draw(scalars)
    if draw(st.booleans()):
        base["status"] = draw(st.dictionaries(st.text(max_size=4), scalars, max_size=3))
    return base


@settings(max_examples=150, deadline=None)
@given(served_object())
def test_neat_is_idempotent_and_leaves_no_server_field(obj: dict[str, Any]) -> None:
    if obj["kind"] != "Deployment":
        return
    once = neat_pod_template(obj["spec"]["template"])
    assert neat_pod_template(once) == once
    assert_no_server_fields(once)


@settings(max_examples=150, deadline=None)
@given(
    st.recursive(
        scalars,
        lambda c: st.one_of(
            st.lists(c, max_size=3),
            st.dictionaries(
                st.sampled_from(
                    [
                        "containers",
                        "volumes",
                        "tolerations",
                        "env",
                        "name",
                        "securityContext",
                        "resources",
                        "volumeMounts",
                        "ports",
                    ]
                ),
                c,
                max_size=4,
            ),
        ),
        max_leaves=12,
    )
)
def test_neat_pod_spec_never_crashes_and_is_idempotent(spec: Any) -> None:
    once = neat_pod_spec(spec)
    assert neat_pod_spec(once) == once
