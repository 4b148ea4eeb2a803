"""Secret-free values install: every reference they hold resolves to the Secret manifest written apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.conftest import gen
from tests.unit.test_secrets import MOVABLE, install, write

from .conftest import NAMESPACE, PROJECT, Helm, assert_valid_kubernetes_objects, values

CREDENTIALS = "clearml-runai-team-a-credentials"


def test_file_mounts_come_from_the_named_secret_and_the_chart_makes_none(helm: Helm) -> None:
    out = helm.template(
        values(
            agent={
                "fileMounts": [{"name": "id_rsa", "folderPath": "/etc/ssh", "key": "file.id_rsa"}],
                "fileMountsSecret": CREDENTIALS,
            }
        )
    )
    assert not [s for s in out.all("Secret") if s["metadata"]["name"].endswith("-files")]
    (volume,) = [v for v in out.pod_spec["volumes"] if v["name"] == "files"]
    assert volume["secret"]["secretName"] == CREDENTIALS
    (mount,) = [m for m in out.agent_container["volumeMounts"] if m["name"] == "files"]
    assert mount["mountPath"] == "/etc/ssh/id_rsa" and mount["subPath"] == "file.id_rsa"
    assert_valid_kubernetes_objects(out.docs)


def test_a_file_mount_without_content_or_secret_is_refused(helm: Helm) -> None:
    error = helm.template_error(values(agent={"fileMounts": [{"name": "id_rsa", "folderPath": "/etc/ssh"}]}))
    assert "agent.fileMounts id_rsa has no content" in error


def _refs(obj: Any) -> list[str]:
    """Keys of every secretKeyRef in an object."""
    if isinstance(obj, dict):
        ref = obj.get("secretKeyRef")
        own = [ref["key"]] if isinstance(ref, dict) and ref.get("name") == CREDENTIALS else []
        return own + [k for v in obj.values() for k in _refs(v)]
    if isinstance(obj, list):
        return [k for v in obj for k in _refs(v)]
    return []


def test_secret_free_values_of_an_install_full_of_secrets_install_and_resolve(helm: Helm, tmp_path: Path) -> None:
    """Every secret MOVABLE names, in one install: the values render with the chart (both helms, valid
    objects), hold none of the secrets, and every reference they make names a key of the Secret manifest."""
    agent_env: list[dict[str, Any]] = []
    task_env: list[dict[str, Any]] = []
    for kwargs, _ in MOVABLE.values():
        agent_env += kwargs.get("agent_env", [])
        task_env += kwargs.get("task", {}).get("env", [])
    init = MOVABLE["init container env"][0]["task"]["initContainers"]
    objs = install(agent_env, {"env": task_env, "initContainers": init}, files={"id_rsa": "FILE-CONTENT-66"})
    source = write(tmp_path, objs)
    values_file, secret_file = tmp_path / "values.yaml", tmp_path / "secret.yaml"
    code, _, stderr = gen(
        ["render", "--project", PROJECT, "--from-file", str(source), "-o", str(values_file)]
        + ["--credentials-out", str(secret_file)]
    )
    assert code == 0, stderr
    text = values_file.read_text()
    for _, secret in MOVABLE.values():
        assert secret not in text
    manifest = YAML(typ="safe").load(secret_file.read_text())
    assert manifest["metadata"] == {**manifest["metadata"], "name": CREDENTIALS, "namespace": NAMESPACE}
    out = helm.template(files=[values_file])
    assert_valid_kubernetes_objects([*out.docs, manifest])
    keys = set(manifest["stringData"])
    referenced = _refs(out.deployment) + _refs(out.task_template)
    assert len(referenced) >= len(MOVABLE) and set(referenced) <= keys
    (mount,) = [m for m in out.agent_container["volumeMounts"] if m["name"] == "files"]
    assert manifest["stringData"][mount["subPath"]] == "FILE-CONTENT-66"
