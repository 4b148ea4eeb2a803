"""The operator's pure parts: spec -> options, status, drift, pruning, work queue, auto mode, and one
reconcile's decisions against an in-memory API (the real API server's part is tests/cluster/test_operator.py)."""

from __future__ import annotations

import copy
import json
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from clearml_runai_gen.detect import read_install
from clearml_runai_gen.errors import InstallError
from clearml_runai_gen.operator.auto import agent_for, made_by_operator, namespace_action
from clearml_runai_gen.operator.metrics import exposition
from clearml_runai_gen.operator.objects import covers, needs_apply, owned, to_prune
from clearml_runai_gen.operator.reconcile import Reconciler
from clearml_runai_gen.operator.spec import MANAGER, SpecError, parse_spec
from clearml_runai_gen.operator.status import Check, Outcome, build_status, status_changed
from clearml_runai_gen.operator.workqueue import WorkQueue
from clearml_runai_gen.source import FileSource

from sandbox.fixtures.installs import dump, flavour_a

NS = "ml-team-a"  # a project namespace not named runai-<project>


# --------------------------------------------------------------------------- spec


def test_spec_fields_become_render_options() -> None:
    spec = parse_spec(
        {
            "project": "team-a",
            "queues": ["gpu", "cpu"],
            "gpuFraction": "0.5",
            "priorityClass": "train",
            "nodePool": "a100",
            "scheduler": "kai",
            "selfUpdate": True,
            "clearmlNamespace": "ml",
            "existingSecret": "creds",
        },
        NS,
        "clearml",
    )
    o = spec.options
    assert (o.project, o.namespace, o.queues) == ("team-a", NS, ("gpu", "cpu"))
    assert (o.gpu_fraction, o.priority_class, o.node_pool, o.scheduler) == ("0.5", "train", "a100", "kai-scheduler")
    assert o.no_self_update is False and o.release == "clearml-runai-team-a"
    assert (spec.clearml_namespace, spec.existing_secret, spec.paused) == ("ml", "creds", False)


def test_spec_defaults_are_renders() -> None:
    spec = parse_spec({"project": "team-a"}, NS, "clearml")
    assert spec.options.queues == ("runai-team-a",)
    assert spec.options.no_self_update is True
    assert spec.clearml_namespace == "clearml"


@pytest.mark.parametrize(
    "spec,field",
    [
        ({"project": "team-a", "gpuFraction": "2"}, "spec.gpuFraction"),
        ({"project": "Team_A"}, "spec.project"),
        ({}, "spec.project"),
        ({"project": "team-a", "queues": "gpu"}, "spec.queues"),
        ({"project": "team-a", "paused": "yes"}, "spec.paused"),
        ({"project": "team-a", "priorityClass": "no spaces"}, "spec.priorityClass"),
        ({"project": "team-a", "existingSecret": "Bad_Name"}, "spec.existingSecret"),
    ],
)
def test_bad_spec_is_one_line_naming_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(spec, NS, "clearml")
    message = str(err.value)
    assert field in message and "\n" not in message and "--" not in message


# --------------------------------------------------------------------------- status


def test_ready_status_is_current_for_kstatus() -> None:
    status = build_status(Outcome(3, True, "Applied", "ok", [Check("agent available", True, "1/1")]), None, "T1")
    by_type = {c["type"]: c for c in status["conditions"]}
    assert status["observedGeneration"] == 3
    assert [by_type[t]["status"] for t in ("Ready", "Reconciling", "Stalled")] == ["True", "False", "False"]
    assert status["checks"] == [{"name": "agent available", "status": "True", "message": "1/1"}]


def test_bad_spec_stalls_and_waiting_reconciles() -> None:
    stalled = {
        c["type"]: c["status"] for c in build_status(Outcome(1, False, "SpecInvalid", "x"), None, "T")["conditions"]
    }
    waiting = {
        c["type"]: c["status"]
        for c in build_status(Outcome(1, False, "AgentUnavailable", "x"), None, "T")["conditions"]
    }
    assert stalled == {"Ready": "False", "Reconciling": "False", "Stalled": "True"}
    assert waiting == {"Ready": "False", "Reconciling": "True", "Stalled": "False"}


def test_unchanged_outcome_writes_no_status() -> None:
    first = build_status(Outcome(2, True, "Applied", "ok"), None, "T1")
    again = build_status(Outcome(2, True, "Applied", "ok"), first, "T2")
    assert not status_changed(first, again)
    assert status_changed(first, build_status(Outcome(2, False, "SourceUnreadable", "gone"), first, "T3"))


def test_failed_read_keeps_what_was_read_before() -> None:
    first = build_status(
        Outcome(1, True, "Applied", "ok", origin={"clearmlNamespace": "clearml"}, agent_image="a:1"), None, "T"
    )
    later = build_status(Outcome(1, False, "SourceUnreadable", "gone"), first, "T2")
    assert later["origin"] == {"clearmlNamespace": "clearml"} and later["agentImage"] == "a:1"


# --------------------------------------------------------------------------- drift and pruning


def test_fields_the_server_adds_are_no_drift() -> None:
    desired = {
        "kind": "Deployment",
        "metadata": {"name": "a", "labels": {"x": "1"}},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i:1", "env": []}]}}},
    }
    live = copy.deepcopy(desired)
    live["metadata"].update(uid="u", resourceVersion="7", labels={"x": "1", "extra": "y"})
    live["spec"]["template"]["spec"]["containers"][0].update(imagePullPolicy="IfNotPresent")
    live["spec"]["template"]["spec"]["containers"][0].pop("env")
    live["status"] = {"availableReplicas": 1}
    assert not needs_apply(live, desired)
    edited = copy.deepcopy(live)
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = "i:2"
    assert needs_apply(edited, desired)
    assert needs_apply(None, desired)


def test_an_empty_env_value_the_server_leaves_out_is_no_drift() -> None:
    """The server stores `{name: X, value: ""}` as `{name: X}`: seen as drift, every resync wrote again."""
    env = [{"name": "CLEARML_AGENT_UPDATE_REPO", "value": ""}]
    desired = {
        "kind": "Deployment",
        "metadata": {"name": "a"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "env": env}]}}},
    }
    live = copy.deepcopy(desired)
    live["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "CLEARML_AGENT_UPDATE_REPO"}]
    assert not needs_apply(live, desired)
    live["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "CLEARML_AGENT_UPDATE_REPO", "value": "x"}]
    assert needs_apply(live, desired)


def test_lists_must_match_in_length_and_order() -> None:
    assert not covers([{"a": 1}], [{"a": 1}, {"b": 2}])
    assert not covers([{"a": 2}, {"a": 1}], [{"a": 1}, {"a": 2}])
    assert covers(1, 1.0) and not covers(True, 1) and not covers(1, True)


def test_owned_objects_name_their_owner_and_secret_data_is_as_stored() -> None:
    owner = {
        "apiVersion": "clearml-runai.io/v1alpha1",
        "kind": "ClearMLAgent",
        "metadata": {"name": "team-a", "namespace": NS, "uid": "u1"},
    }
    objs = owned(
        [
            {
                "kind": "Secret",
                "metadata": {"name": "s", "labels": {"app.kubernetes.io/managed-by": "Helm"}},
                "stringData": {"k": "v"},
            }
        ],
        owner,
    )
    (secret,) = objs
    assert secret["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "clearml-runai.io/v1alpha1",
            "kind": "ClearMLAgent",
            "name": "team-a",
            "uid": "u1",
            "controller": True,
        }
    ]
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == MANAGER
    assert secret["metadata"]["namespace"] == NS
    assert secret["data"] == {"k": "dg=="} and "stringData" not in secret


def test_prune_takes_only_what_this_owner_applied_and_no_longer_renders() -> None:
    def obj(name: str, uid: str) -> dict[str, Any]:
        return {"kind": "ConfigMap", "metadata": {"name": name, "ownerReferences": [{"uid": uid}]}}

    live = [
        obj("kept", "u1"),
        obj("stale", "u1"),
        obj("other-owner", "u2"),
        {"kind": "ConfigMap", "metadata": {"name": "hand"}},
    ]
    assert [o["metadata"]["name"] for o in to_prune(live, [obj("kept", "u1")], "u1")] == ["stale"]


# --------------------------------------------------------------------------- work queue


def test_a_key_waits_once_and_runs_again_when_added_while_busy() -> None:
    q = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    assert q.get(0) == "a"
    q.add("a")  # while busy: not handed to a second worker now
    assert q.get(0) == "b"
    assert q.get(0) is None
    q.done("a")  # ...but after the work at hand
    assert q.get(0) == "a"


def test_close_wakes_every_worker() -> None:
    q = WorkQueue()
    got: list[Any] = []
    workers = [threading.Thread(target=lambda: got.append(q.get())) for _ in range(3)]
    for w in workers:
        w.start()
    q.close()
    for w in workers:
        w.join(2)
    assert got == [None, None, None]


# --------------------------------------------------------------------------- auto mode


def _ns(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": NS, "labels": labels or {}, "annotations": annotations or {}}}


def test_auto_mode_follows_the_label_and_the_annotation() -> None:
    assert namespace_action(_ns({"runai/queue": "team-a"})) == "ensure"
    assert namespace_action(_ns({"runai/queue": "team-a"}, {"clearml-runai.io/agent": "off"})) == "remove"
    assert namespace_action(_ns({"runai/queue": "team-a"}, {"clearml-runai.io/agent": "Off "})) == "remove"
    assert namespace_action(_ns({})) == "ignore"
    agent = agent_for(_ns({"runai/queue": "team-a"}))
    assert agent["metadata"] == {"name": "team-a", "namespace": NS, "labels": {"clearml-runai.io/created-by": MANAGER}}
    assert agent["spec"] == {"project": "team-a"} and made_by_operator(agent)


def test_metrics_exposition() -> None:
    text = exposition({"ready": 3, "SourceUnreadable": 1}, [0.5, 1.5], {("a", "b"): True, ("c", "d"): False}, 7)
    assert 'clearml_runai_reconciles_total{result="ready"} 3' in text
    assert "clearml_runai_reconcile_seconds_sum 2.000000" in text
    assert 'clearml_runai_agents{ready="false"} 1' in text
    assert "clearml_runai_api_writes_total 7" in text
    text = exposition({}, [], {}, 0, reads=5, lists={"Secret:owner=helm": 2})
    assert "clearml_runai_api_reads_total 5" in text
    assert 'clearml_runai_informer_lists_total{informer="Secret:owner=helm"} 2' in text


# --------------------------------------------------------------------------- one reconcile, in memory


class MemoryKube:
    """The API server as the reconciler sees it, kept in a dict: enough to count its writes."""

    def __init__(self) -> None:
        self.api = None
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.writes: list[str] = []

    def put(self, obj: dict[str, Any]) -> None:
        m = obj["metadata"]
        self.objects[(obj["kind"], m["namespace"], m["name"])] = obj

    def get(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        found = self.objects.get((kind, ns, name))
        return copy.deepcopy(found) if found else None

    def get_owned(self, kind: str, ns: str, name: str) -> dict[str, Any] | None:
        return self.get(kind, ns, name)

    def list(self, kind: str, ns: str, selector: str = "") -> list[dict[str, Any]]:
        pairs = [s.split("=", 1) for s in selector.split(",") if s]
        return [
            copy.deepcopy(o)
            for (k, n, _), o in self.objects.items()
            if k == kind and n == ns and all((o["metadata"].get("labels") or {}).get(a) == b for a, b in pairs)
        ]

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.writes.append(f"apply {obj['kind']}/{obj['metadata']['name']}")
        live = copy.deepcopy(obj)
        if obj["kind"] == "Deployment":
            live["metadata"]["generation"] = 1
            live["status"] = {"availableReplicas": 1, "observedGeneration": 1}
        self.put(live)
        return copy.deepcopy(live)

    def delete(self, kind: str, ns: str, name: str) -> None:
        self.writes.append(f"delete {kind}/{name}")
        self.objects.pop((kind, ns, name), None)

    def patch_status(self, ns: str, name: str, status: dict[str, Any]) -> None:
        """A JSON merge patch, as the API server applies it: a key left out stays, null removes it."""
        self.writes.append("status")
        merged = {**(self.objects[("ClearMLAgent", ns, name)].get("status") or {}), **copy.deepcopy(status)}
        self.objects[("ClearMLAgent", ns, name)]["status"] = {k: v for k, v in merged.items() if v is not None}

    def event(self, owner: Any, type_: str, reason: str, message: str, now: str) -> None:
        self.writes.append(f"event {reason}")


def _render(release: str, ns: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """A stand-in for the chart (the real one: tests/chart/test_operator_chart.py): a Deployment and a ConfigMap."""
    labels = {"app.kubernetes.io/instance": release}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": release, "labels": labels},
            "data": {"q": ",".join(values["agent"]["queues"])},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": release, "labels": labels},
            "spec": {"template": {"spec": {"containers": [{"name": "agent", "image": "img:1"}]}}},
        },
    ]


def _world(spec: dict[str, Any] | None = None) -> tuple[MemoryKube, Reconciler, dict[str, Any]]:
    kube = MemoryKube()
    kube.put(
        {
            "apiVersion": "clearml-runai.io/v1alpha1",
            "kind": "ClearMLAgent",
            "metadata": {"name": "team-a", "namespace": NS, "uid": "u1", "generation": 1},
            "spec": spec or {"project": "team-a"},
        }
    )
    state: dict[str, Any] = {"install": read_install(FileSource(dump(flavour_a()), "dump"))}

    def read(namespace: str, agent: str) -> Any:
        if state["install"] is None:
            raise InstallError(f"ConfigMap {namespace}/clearml-k8sagent-pod-template is missing")
        return state["install"]

    return kube, Reconciler(kube, "clearml", read_install=read, render=_render, clock=lambda: "T"), state  # type: ignore[arg-type]


def _ready(kube: MemoryKube) -> dict[str, Any]:
    status = kube.objects[("ClearMLAgent", NS, "team-a")]["status"]
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def test_reconcile_applies_then_a_repeat_writes_nothing() -> None:
    kube, rec, _ = _world()
    outcome = rec.reconcile(NS, "team-a")
    assert outcome is not None and outcome.ready, outcome
    assert sorted(outcome.applied) == ["ConfigMap/clearml-runai-team-a", "Deployment/clearml-runai-team-a"]
    assert _ready(kube)["status"] == "True"
    kube.writes.clear()
    rec.reconcile(NS, "team-a")
    assert kube.writes == []


def test_drift_is_restored() -> None:
    kube, rec, _ = _world()
    rec.reconcile(NS, "team-a")
    kube.objects[("Deployment", NS, "clearml-runai-team-a")]["spec"]["template"]["spec"]["containers"][0]["image"] = (
        "edited"
    )
    del kube.objects[("ConfigMap", NS, "clearml-runai-team-a")]
    kube.writes.clear()
    rec.reconcile(NS, "team-a")
    assert sorted(kube.writes) == [
        "apply ConfigMap/clearml-runai-team-a",
        "apply Deployment/clearml-runai-team-a",
        "event Applied",
    ]


def test_unreadable_source_leaves_the_objects_and_says_why() -> None:
    kube, rec, state = _world()
    rec.reconcile(NS, "team-a")
    state["install"] = None
    rec.invalidate("clearml")
    kube.writes.clear()
    rec.reconcile(NS, "team-a")
    assert [w for w in kube.writes if w.startswith(("apply", "delete"))] == []
    ready = _ready(kube)
    assert ready["status"] == "False" and ready["reason"] == "SourceUnreadable"
    assert "clearml-k8sagent-pod-template" in ready["message"]
    assert ("Deployment", NS, "clearml-runai-team-a") in kube.objects


def test_source_is_read_once_until_invalidated() -> None:
    kube, rec, state = _world()
    calls = []
    inner = rec._read_install
    rec._read_install = lambda ns, agent: calls.append(ns) or inner(ns, agent)  # type: ignore[assignment]
    rec.reconcile(NS, "team-a")
    rec.reconcile(NS, "team-a")
    assert calls == ["clearml"]
    assert rec.invalidate("clearml") == [(NS, "team-a")]
    rec.reconcile(NS, "team-a")
    assert calls == ["clearml", "clearml"]


def test_a_change_seen_while_the_source_is_read_is_not_lost() -> None:
    """A helm upgrade writes its objects one by one: a read that began before its last write may return the old
    Deployment. The event of that write comes while the read runs; the read's result must not be kept."""
    kube, rec, state = _world()
    calls: list[str] = []
    inner = rec._read_install

    def read(ns: str, agent: str) -> Any:
        calls.append(ns)
        found = inner(ns, agent)
        if len(calls) == 1:
            rec.invalidate(ns)  # the watch saw a write while this read was under way
        return found

    rec._read_install = read  # type: ignore[assignment]
    rec.install("clearml", "")
    rec.install("clearml", "")
    assert calls == ["clearml", "clearml"], "a read older than the last change was kept"
    rec.install("clearml", "")
    assert calls == ["clearml", "clearml"], "a read with no change under way must be kept"


def test_helm_runs_once_per_input_and_one_render_per_agent_is_kept() -> None:
    """A rotation re-renders each agent once; the render it replaces is not kept (memory stays one per agent)."""
    _, rec, _ = _world()
    renders: list[str] = []
    rec._render = lambda release, ns, values: renders.append(values["clearml"]["accessKey"]) or [{"kind": "X"}]  # type: ignore[assignment]
    for key in ("AK1", "AK1", "AK2", "AK2", "AK3"):
        rec._render_cached("clearml-runai-team-a", NS, {"clearml": {"accessKey": key}})
    rec._render_cached("clearml-runai-team-b", NS, {"clearml": {"accessKey": "AK3"}})
    assert renders == ["AK1", "AK2", "AK3", "AK3"]
    assert len(rec._rendered) == 2
    again = rec._render_cached("clearml-runai-team-b", NS, {"clearml": {"accessKey": "AK3"}})
    assert again == [{"kind": "X"}] and renders[-1] == "AK3" and len(renders) == 4
    again[0]["kind"] = "changed by a caller"  # what a caller does to its objects never reaches the cache
    assert rec._render_cached("clearml-runai-team-b", NS, {"clearml": {"accessKey": "AK3"}}) == [{"kind": "X"}]


def test_a_release_installed_with_helm_is_left_alone() -> None:
    kube, rec, _ = _world()
    kube.put(
        {
            "kind": "Secret",
            "metadata": {
                "name": "sh.helm.release.v1.clearml-runai-team-a.v1",
                "namespace": NS,
                "labels": {"owner": "helm", "name": "clearml-runai-team-a"},
            },
        }
    )
    rec.reconcile(NS, "team-a")
    assert [w for w in kube.writes if w.startswith(("apply", "delete"))] == []
    assert _ready(kube)["reason"] == "HelmReleaseExists"


def test_a_spec_change_prunes_what_is_no_longer_rendered() -> None:
    kube, rec, _ = _world()
    rec.reconcile(NS, "team-a")
    kube.objects[("ClearMLAgent", NS, "team-a")]["spec"] = {"project": "team-b"}
    kube.objects[("ClearMLAgent", NS, "team-a")]["metadata"]["generation"] = 2
    rec.reconcile(NS, "team-a")
    assert ("Deployment", NS, "clearml-runai-team-b") in kube.objects
    assert "delete Deployment/clearml-runai-team-a" in kube.writes
    assert kube.objects[("ClearMLAgent", NS, "team-a")]["status"]["observedGeneration"] == 2


def test_bad_spec_touches_nothing() -> None:
    kube, rec, _ = _world()
    rec.reconcile(NS, "team-a")
    kube.objects[("ClearMLAgent", NS, "team-a")]["spec"]["gpuFraction"] = "3"
    kube.writes.clear()
    rec.reconcile(NS, "team-a")
    assert [w for w in kube.writes if w.startswith(("apply", "delete"))] == []
    ready = _ready(kube)
    assert ready["reason"] == "SpecInvalid" and "spec.gpuFraction" in ready["message"]
    kube.writes.clear()
    rec.reconcile(NS, "team-a")  # and again, as a resync does: the status it wrote stands
    assert kube.writes == []


def test_the_cli_starts_without_kopf() -> None:
    import subprocess

    code = "import sys, clearml_runai_gen.cli; print('kopf' in sys.modules, 'aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["--concurrency", "0"], 2, "--concurrency 0 must be between 1 and 64"),
        (["--metrics-address", "nope"], 2, "--metrics-address 'nope' is not HOST:PORT"),
        (["--resync-seconds", "0"], 2, "--resync-seconds 0 must be between 1 and 86400"),
        (["--kubeconfig", "/nonexistent/kubeconfig"], 1, "kubeconfig /nonexistent/kubeconfig does not exist"),
    ],
)
def test_operate_refuses_bad_options_in_one_line(
    args: list[str], code: int, message: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.conftest import gen

    helm = tmp_path / "helm"  # found, so that the option is what is refused
    helm.write_text("#!/bin/sh\n")
    helm.chmod(0o755)
    monkeypatch.setenv("CLEARML_RUNAI_HELM", str(helm))
    exit_code, out, err = gen(["operate", *args])
    assert exit_code == code and out == ""
    assert err.startswith(f"error: {message}") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "env,message",
    [
        ({"CLEARML_RUNAI_RENDERER": "/nonexistent/clearml-runai-render"}, "CLEARML_RUNAI_RENDERER is "),
        ({"PATH": "/nonexistent"}, "no helm is on PATH; install helm or set CLEARML_RUNAI_HELM"),
    ],
    ids=["renderer not there", "neither renderer nor helm"],
)
def test_operate_without_a_way_to_render_says_so_before_it_starts(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import gen

    monkeypatch.delenv("CLEARML_RUNAI_HELM", raising=False)
    monkeypatch.delenv("CLEARML_RUNAI_RENDERER", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    exit_code, out, err = gen(["operate", "--kubeconfig", "/nonexistent/kubeconfig"])
    assert exit_code == 1 and out == "" and "Traceback" not in err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_operate_without_kopf_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import gen

    monkeypatch.setitem(sys.modules, "kopf", None)  # as if not installed
    exit_code, _, err = gen(["operate", "--kubeconfig", "/nonexistent/kubeconfig"])
    assert exit_code == 1 and "pip install 'clearml-runai[operator]'" in err and err.count("\n") == 1


def test_quantities_in_the_servers_canonical_form_are_no_drift() -> None:
    desired = {
        "resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}, "requests": {"cpu": 0.5, "memory": "1073741824"}}
    }
    live = {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "1Gi"}}}
    assert covers(live, desired)
    live["resources"]["limits"]["cpu"] = "2"
    assert not covers(live, desired)
    assert not covers("1", "1x") and not covers("a", "b")


def test_kopf_logs_in_as_the_kubeconfig_says(tmp_path: Any) -> None:
    """kopf gets the same server, token and CA as the library's client (--kubeconfig, --context)."""
    import base64 as b64

    from clearml_runai_gen.kube import load_api_client
    from clearml_runai_gen.operator.run import connection_info

    ca = b64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "other",
        "clusters": [
            {"name": "c", "cluster": {"server": "https://10.0.0.1:6443", "certificate-authority-data": ca}},
            {"name": "o", "cluster": {"server": "https://10.0.0.2:6443"}},
        ],
        "contexts": [
            {"name": "sa", "context": {"cluster": "c", "user": "u"}},
            {"name": "other", "context": {"cluster": "o", "user": "u"}},
        ],
        "users": [{"name": "u", "user": {"token": "tok-123"}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    info = connection_info(load_api_client(str(path), "sa"))
    assert (info.server, info.scheme, info.token) == ("https://10.0.0.1:6443", "Bearer", "tok-123")
    from pathlib import Path

    assert info.ca_path and Path(info.ca_path).read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert info.insecure is False
