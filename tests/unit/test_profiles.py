"""Queue profiles: the merge rules, `{project}` expansion, names, and what the chart's schema would refuse."""

from __future__ import annotations

from typing import Any

import pytest
from clearml_runai_gen.errors import InputError, UsageError
from clearml_runai_gen.profiles import QueueProfile, expand, merge, parse_profiles, profile_name

BASE: dict[str, Any] = {
    "metadata": {"labels": {"team": "a"}, "annotations": {"keep": "1"}},
    "spec": {
        "containers": [
            {
                "name": "task",
                "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "8Gi"}},
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            },
            {"name": "sidecar", "image": "busybox"},
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "nodeSelector": {"gpu": "yes"},
    },
}


def test_null_deletes_a_key_so_a_queue_runs_on_cpu() -> None:
    merged = merge(BASE, {"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": None}}}]}})
    assert merged["spec"]["containers"][0]["resources"] == {"limits": {"memory": "8Gi"}}
    assert merge(BASE, {"spec": {"nodeSelector": None}})["spec"].get("nodeSelector") is None


def test_maps_merge_key_by_key() -> None:
    merged = merge(BASE, {"metadata": {"labels": {"kind": "cpu"}}})
    assert merged["metadata"] == {"labels": {"team": "a", "kind": "cpu"}, "annotations": {"keep": "1"}}


def test_a_container_without_a_name_is_the_first_and_others_merge_by_name() -> None:
    merged = merge(
        BASE, {"spec": {"containers": [{"resources": {"requests": {"cpu": "2"}}}, {"name": "sidecar", "tty": True}]}}
    )
    task, sidecar = merged["spec"]["containers"]
    assert task["name"] == "task" and task["resources"]["requests"] == {"cpu": "2"}
    assert task["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert sidecar == {"name": "sidecar", "image": "busybox", "tty": True}


def test_a_new_container_is_appended() -> None:
    merged = merge(BASE, {"spec": {"containers": [{"name": "extra", "image": "x"}]}})
    assert [c["name"] for c in merged["spec"]["containers"]] == ["task", "sidecar", "extra"]


def test_env_merges_by_name() -> None:
    merged = merge(
        BASE, {"spec": {"containers": [{"env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}]}}
    )
    assert merged["spec"]["containers"][0]["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]


def test_volumes_and_volume_mounts_merge_by_name_and_patch_delete_removes_one() -> None:
    overlay = {
        "spec": {
            "volumes": [{"name": "cache", "emptyDir": {}}],
            "containers": [
                {"volumeMounts": [{"name": "data", "$patch": "delete"}, {"name": "cache", "mountPath": "/c"}]}
            ],
        }
    }
    merged = merge(BASE, overlay)
    assert [v["name"] for v in merged["spec"]["volumes"]] == ["data", "cache"]
    assert merged["spec"]["containers"][0]["volumeMounts"] == [{"name": "cache", "mountPath": "/c"}]


def test_other_lists_replace_and_the_base_is_left_alone() -> None:
    before = repr(BASE)
    merged = merge(BASE, {"spec": {"tolerations": [{"key": "x", "operator": "Exists"}]}})
    assert merged["spec"]["tolerations"] == [{"key": "x", "operator": "Exists"}]
    assert merge({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert repr(BASE) == before


def test_project_placeholder_expands_per_project() -> None:
    profiles = parse_profiles({"{project}-train": {"priorityClass": "train"}, "shared-build": None}, "f")
    assert [p.queue for p in expand(profiles, "team-a")] == ["team-a-train", "shared-build"]
    assert [p.queue for p in expand(profiles, "team-b")] == ["team-b-train", "shared-build"]


def test_two_profiles_that_expand_to_one_queue_are_refused() -> None:
    profiles = (QueueProfile("{project}-q"), QueueProfile("team-a-q"))
    with pytest.raises(UsageError, match="two profiles serve queue 'team-a-q'"):
        expand(profiles, "team-a")


def test_names_are_dns_labels_within_40_characters_and_apart() -> None:
    taken: set[str] = set()
    assert profile_name("train", taken) == "train"
    names = [profile_name(q, taken) for q in ("GPU_Train", "gpu-train", "x" * 80, "x" * 81, "train")]
    assert len(set(names)) == len(names) and "train" not in names
    for name in names:
        assert len(name) <= 40 and name == name.lower() and name[0].isalnum() and name[-1].isalnum()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"q": {"gpuFraction": "1.5"}}, "gpuFraction '1.5' is not a decimal in (0, 1]"),
        ({"q": {"gpuFraction": "0"}}, "gpuFraction '0'"),
        ({"q": {"priorityClass": "no spaces"}}, "priorityClass 'no spaces' is not a label value"),
        ({"q": {"nodePool": "x" * 64}}, "nodePool"),
        ({"q": {"gpuFraction": True}}, "gpuFraction True"),
        ({"q": {"gpu": "1"}}, "unknown key(s) gpu"),
        ({"q": {"taskPod": {"containers": []}}}, "taskPod is a partial pod template"),
        ({"q": ["x"]}, "must be a mapping"),
        (["q"], "maps ClearML queue names to profiles"),
        ({" q": {}}, "without surrounding spaces"),
    ],
)
def test_values_the_chart_schema_would_refuse_are_refused_in_one_line(doc: Any, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_profiles(doc, "--queue-profiles f")
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert str(caught.value).startswith("--queue-profiles f: ")


def test_values_the_chart_schema_accepts_pass() -> None:
    (profile,) = parse_profiles({"q": {"gpuFraction": 0.5, "priorityClass": "train", "nodePool": "pool-1"}}, "f")
    assert profile.placement == {"gpuFraction": "0.5", "priorityClass": "train", "nodePool": "pool-1"}
