"""The operator's informers and the cached reads over them (pure: no API server; the cluster tests run them live)."""

from __future__ import annotations

from typing import Any

import pytest
from clearml_runai_gen.operator.informer import Informer, matches, parse_selector
from clearml_runai_gen.operator.kube import CachedKube, cluster_path

MANAGED = "app.kubernetes.io/managed-by=clearml-runai-operator"


def obj(kind: str, ns: str, name_: str, version: int, **labels: str) -> dict[str, Any]:
    meta = {"namespace": ns, "name": name_, "resourceVersion": str(version), "labels": labels}
    return {"kind": kind, "metadata": meta}


@pytest.mark.parametrize(
    ("selector", "terms"),
    [
        ("", []),
        ("a=b", [("a", "=", "b")]),
        ("a==b, c!=d,e", [("a", "=", "b"), ("c", "!=", "d"), ("e", "exists", "")]),
        ("a in (b,c)", None),
        ("!a", None),
    ],
)
def test_selectors_the_informers_can_answer(selector: str, terms: list[Any] | None) -> None:
    assert parse_selector(selector) == terms


def test_labels_match_every_term() -> None:
    terms = parse_selector("owner=helm,name=r,CLEARML,x!=y")
    assert terms is not None
    assert matches({"owner": "helm", "name": "r", "CLEARML": ""}, terms)
    assert not matches({"owner": "helm", "name": "other", "CLEARML": ""}, terms)
    assert not matches({"owner": "helm", "name": "r"}, terms)  # CLEARML missing
    assert not matches({"owner": "helm", "name": "r", "CLEARML": "", "x": "y"}, terms)


def events(informer: Informer) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    informer.on_event = lambda t, o: seen.append((t, o["metadata"]["name"]))
    return seen


def test_watch_events_keep_the_newest_version_and_drop_managed_fields() -> None:
    informer = Informer(None, "ConfigMap", cluster_path("ConfigMap"), MANAGED)
    seen = events(informer)
    new = obj("ConfigMap", "ns", "a", 7)
    new["metadata"]["managedFields"] = [{"manager": "x"}]
    assert informer._event({"type": "ADDED", "object": new}, "1") == "7"
    assert "managedFields" not in (informer.get("ns", "a") or {})["metadata"]
    # an older version (a write's answer that arrived late) never replaces a newer one
    informer.put(obj("ConfigMap", "ns", "a", 5, **{"app.kubernetes.io/managed-by": "clearml-runai-operator"}))
    assert (informer.get("ns", "a") or {})["metadata"]["resourceVersion"] == "7"
    assert informer._event({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}}, "7") == "9"
    assert informer._event({"type": "DELETED", "object": obj("ConfigMap", "ns", "a", 10)}, "9") == "10"
    assert informer.get("ns", "a") is None
    assert informer._event({"type": "ERROR", "object": {"code": 410, "message": "too old"}}, "10") == ""
    assert seen == [("ADDED", "a"), ("DELETED", "a")]


def test_a_read_is_a_copy_its_caller_may_change() -> None:
    """The store is the API server's word: a reconcile that changes what it read (to build a patch) must not
    change what the next one reads."""
    informer = Informer(None, "ConfigMap", cluster_path("ConfigMap"), MANAGED)
    informer._event({"type": "ADDED", "object": obj("ConfigMap", "ns", "a", 7)}, "1")
    read = informer.get("ns", "a") or {}
    read["metadata"]["labels"]["changed"] = "by a caller"
    informer.in_namespace("ns")[0]["metadata"]["name"] = "renamed"
    assert informer.get("ns", "a") == obj("ConfigMap", "ns", "a", 7)
    assert informer.in_namespace("ns") == [obj("ConfigMap", "ns", "a", 7)]


def test_a_write_without_the_operators_mark_is_not_kept() -> None:
    informer = Informer(None, "Secret", cluster_path("Secret"), MANAGED)
    informer.put(obj("Secret", "ns", "theirs", 3))
    assert informer.get("ns", "theirs") is None


class CountingKube(CachedKube):
    """CachedKube whose requests to the API server are recorded instead of sent."""

    def __init__(self, informers: list[Informer]) -> None:
        super().__init__(None, informers)
        self.sent: list[str] = []

    def request(self, method: str, path: str, **options: Any) -> Any:
        self.sent.append(f"{method} {path}")
        if method == "GET":
            self.reads += 1
            return {"items": []}
        self.writes += 1
        return dict(options["body"]) if method in ("PATCH", "POST") else {}


def synced(informer: Informer, *objects: dict[str, Any]) -> Informer:
    for o in objects:
        informer._store(o)
    informer.synced.set()
    return informer


def test_reads_come_from_synced_informers_and_the_rest_from_the_api() -> None:
    mark = {"app.kubernetes.io/managed-by": "clearml-runai-operator"}
    agents = synced(Informer(None, "ClearMLAgent", "/x"), obj("ClearMLAgent", "ns", "p", 1))
    cms = synced(Informer(None, "ConfigMap", "/y", MANAGED), obj("ConfigMap", "ns", "t", 2, **mark))
    helm = synced(
        Informer(None, "Secret", "/z", "owner=helm", metadata_only=True),
        obj("Secret", "ns", "r", 3, owner="helm", name="rel"),
    )
    pending_pods = Informer(None, "Pod", "/p", "CLEARML")  # not synced yet
    kube = CountingKube([agents, cms, helm, pending_pods])

    assert kube.get("ClearMLAgent", "ns", "p") is not None
    assert kube.get("ClearMLAgent", "ns", "gone") is None  # it holds every one: absent is absent
    assert kube.get_owned("ConfigMap", "ns", "t") is not None
    assert kube.get_owned("ConfigMap", "ns", "new") is None
    assert [o["metadata"]["name"] for o in kube.list("Secret", "ns", "owner=helm,name=rel")] == ["r"]
    assert kube.list("Secret", "ns", "owner=helm,name=other") == []
    assert kube.list("ConfigMap", "ns", MANAGED) != []
    assert kube.sent == [] and kube.reads == 0

    kube.get("ConfigMap", "ns", "theirs")  # not the operator's: only the API server knows it
    kube.list("Pod", "ns", "CLEARML")  # its informer has not listed yet
    kube.list("Secret", "ns", "owner in (helm)")  # a selector the informers cannot answer
    assert kube.sent == [
        "GET /api/v1/namespaces/{ns}/configmaps/theirs".replace("{ns}", "ns"),
        "GET /api/v1/namespaces/ns/pods",
        "GET /api/v1/namespaces/ns/secrets",
    ]
    assert kube.reads == 3


def test_a_writes_answer_is_read_back_at_once() -> None:
    mark = {"app.kubernetes.io/managed-by": "clearml-runai-operator"}
    cms = synced(Informer(None, "ConfigMap", "/y", MANAGED))
    kube = CountingKube([cms])
    body = obj("ConfigMap", "ns", "t", 4, **mark)
    kube.apply(body)
    assert kube.get_owned("ConfigMap", "ns", "t") is not None
    kube.delete("ConfigMap", "ns", "t")
    assert kube.get_owned("ConfigMap", "ns", "t") is None
    assert kube.writes == 2
    agents = synced(Informer(None, "ClearMLAgent", "/x"))
    kube = CountingKube([agents])
    kube.create("ClearMLAgent", "ns", {"metadata": {"namespace": "ns", "name": "p", "resourceVersion": "5"}})
    assert [a["metadata"]["name"] for a in kube.list("ClearMLAgent", "ns")] == ["p"] and kube.reads == 0
