"""The agent harness's own logic, without a cluster or an agent process.

* the ClearML stand-in answers authentication as clearml-server does (its own HTTP server, in process);
* ``plan_launch`` reproduces the k8s glue image's entrypoint: the flags it builds from the env, the
  conf it writes, what it maps from the pod onto the host, and what it refuses to guess.
"""

from __future__ import annotations

import base64
import copy
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sandbox.agent_harness import AgentHarnessError, ClearMLStandIn, HostSide, plan_launch

KEY, SECRET = "AGENTKEY", "agent-secret"


def call(url: str, endpoint: str, body: dict[str, Any] | None = None, auth: str = "") -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        f"{url}/{endpoint}",
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": auth} if auth else {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def login(url: str) -> str:
    status, answer = call(url, "auth.login", auth=basic(KEY, SECRET))
    assert status == 200
    return "Bearer " + answer["data"]["token"]


def test_stand_in_logs_in_only_the_key_pair_it_knows() -> None:
    with ClearMLStandIn(KEY, SECRET) as clearml:
        assert login(clearml.url).startswith("Bearer ey")
        status, answer = call(clearml.url, "auth.login", auth=basic(KEY, "guessed"))
        assert status == 401
        assert answer["meta"]["result_code"] == 401 and answer["meta"]["result_subcode"] == 22
        assert answer["meta"]["result_msg"].startswith("unauthorized (invalid credentials)")
        assert call(clearml.url, "auth.login", auth=basic("OTHERKEY", SECRET))[0] == 401
        status, answer = call(clearml.url, "auth.login")
        assert (status, answer["meta"]["result_subcode"]) == (401, 20)


def test_stand_in_after_rotation_logs_in_only_the_new_pair_and_says_which_key_each_login_used() -> None:
    with ClearMLStandIn(KEY, SECRET) as clearml:
        before = login(clearml.url)
        clearml.rotate("NEWKEY", "new-secret")
        assert clearml.key_pair == ("NEWKEY", "new-secret")
        status, answer = call(clearml.url, "auth.login", auth=basic(KEY, SECRET))
        assert (status, answer["meta"]["result_subcode"]) == (401, 22)
        assert call(clearml.url, "auth.login", auth=basic("NEWKEY", SECRET))[0] == 401  # the new key, old secret
        assert call(clearml.url, "auth.login", auth=basic("NEWKEY", "new-secret"))[0] == 200
        assert clearml.logins() == [(KEY, 200), (KEY, 401), ("NEWKEY", 401), ("NEWKEY", 200)]
        assert call(clearml.url, "queues.get_all", auth=before)[0] == 200  # a token issued before stays valid
        assert "new-secret" not in repr(clearml.calls) and SECRET not in repr(clearml.calls)


def test_stand_in_needs_its_own_token_for_every_other_call() -> None:
    with ClearMLStandIn(KEY, SECRET) as clearml, ClearMLStandIn(KEY, SECRET) as other:
        assert call(clearml.url, "queues.get_all", auth=login(clearml.url))[0] == 200
        assert call(clearml.url, "queues.get_all")[0] == 401
        status, answer = call(clearml.url, "queues.get_all", auth=login(other.url))  # signed by another server
        assert (status, answer["meta"]["result_subcode"]) == (401, 30)
        forged = login(clearml.url)[:-4] + "AAAA"
        assert call(clearml.url, "queues.get_all", auth=forged)[0] == 401
        assert call(clearml.url, "queues.get_all", auth=basic(KEY, SECRET))[0] == 200


def test_stand_in_records_calls_without_credentials_and_unknown_endpoints() -> None:
    with ClearMLStandIn(KEY, SECRET) as clearml:
        token = login(clearml.url)
        status, _ = call(clearml.url, "models.get_all", auth=token)
        assert status == 404
        assert [c.endpoint for c in clearml.unknown_calls] == ["models.get_all"]
        assert SECRET not in repr(clearml.calls) and token.split()[1] not in repr(clearml.calls)


def test_stand_in_queues_hand_out_tasks_in_order_and_keep_each_status_change() -> None:
    with ClearMLStandIn(KEY, SECRET) as clearml:
        queue = clearml.add_queue("runai-p")
        first, second = clearml.enqueue("a", "runai-p"), clearml.enqueue("b", "runai-p")
        token = login(clearml.url)
        status, answer = call(clearml.url, "queues.get_next_task", {"queue": queue}, auth=token)
        assert status == 200 and answer["data"]["entry"]["task"] == first
        assert clearml.queue_tasks("runai-p") == [second]
        call(clearml.url, "tasks.stop", {"task": first, "force": True, "status_reason": "why"}, auth=token)
        clearml.abort(second)
        assert clearml.statuses(first) == ["created", "queued", "stopped"]
        assert clearml.history(first)[-1].reason == "why" and clearml.history(first)[-1].by == "tasks.stop"
        assert clearml.history(second)[-1].by == "user" and clearml.queue_tasks("runai-p") == []
        clearml.report_as_task(first, "in_progress")
        clearml.report_as_task(first, "completed")
        assert clearml.statuses(first)[-2:] == ["in_progress", "completed"]
        last_change = clearml.task(first)["last_change"]
        assert isinstance(last_change, str) and last_change.endswith("+00:00")  # as the server's JSON has it


def test_stand_in_keeps_workers_until_they_unregister() -> None:
    with ClearMLStandIn(KEY, SECRET) as clearml:
        queue = clearml.add_queue("runai-p")
        token = login(clearml.url)
        call(clearml.url, "workers.register", {"worker": "w", "queues": [queue]}, auth=token)
        call(clearml.url, "workers.status_report", {"worker": "w", "task": "t", "timestamp": 1}, auth=token)
        assert clearml.workers() == {"w": ["runai-p"]}
        assert clearml.status_reports("w")[0]["task"] == "t"
        call(clearml.url, "workers.unregister", {"worker": "w"}, auth=token)
        assert clearml.workers() == {} and clearml.ever_registered() == {"w"}


# ---------------------------------------------------------------------------------------- plan_launch


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


NAMESPACE = "runai-p"
SECRETS = {"creds": {"data": {"key": b64(KEY), "secret": b64(SECRET), "conf": b64("agent.x: 1\n")}}}
CONFIGMAPS = {"tpl": {"data": {"template.yaml": "spec: {}\n"}}}
DEPLOYMENT: dict[str, Any] = {
    "metadata": {"name": "agent", "namespace": NAMESPACE},
    "spec": {
        "template": {
            "spec": {
                "serviceAccountName": "agent",
                "containers": [
                    {
                        "name": "k8s-glue",
                        "command": ["/bin/bash", "-c", "source /root/.bashrc && /root/entrypoint.sh"],
                        "env": [
                            {"name": "CLEARML_API_HOST", "value": "http://api.clearml.svc.cluster.local:8008"},
                            {"name": "CLEARML_WEB_HOST", "value": "http://web.clearml.svc.cluster.local:8080"},
                            {"name": "CLEARML_FILES_HOST", "value": "http://files.clearml.svc.cluster.local:8081"},
                            {
                                "name": "CLEARML_API_ACCESS_KEY",
                                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "key"}},
                            },
                            {
                                "name": "CLEARML_API_SECRET_KEY",
                                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "secret"}},
                            },
                            {"name": "K8S_GLUE_QUEUE", "value": "q1,q2"},
                            {"name": "K8S_GLUE_MAX_PODS", "value": "3"},
                            {
                                "name": "K8S_GLUE_EXTRA_ARGS",
                                "value": "--namespace runai-p --template-yaml /root/template/template.yaml",
                            },
                            {"name": "CLEARML_AGENT_NO_UPDATE", "value": "1"},
                        ],
                        "volumeMounts": [{"name": "tpl", "mountPath": "/root/template", "readOnly": True}],
                    }
                ],
                "volumes": [{"name": "tpl", "configMap": {"name": "tpl"}}],
            }
        }
    },
}


def host(tmp_path: Path) -> HostSide:
    return HostSide(
        home=tmp_path / "root",
        tmp=tmp_path / "tmp",
        bin=tmp_path / "bin",
        kubeconfig=tmp_path / "sa.kubeconfig",
        python="/venv/bin/python",
        glue=tmp_path / "k8s_glue.py",
    )


def deployment(env: dict[str, str | None] | None = None, **container: Any) -> dict[str, Any]:
    """DEPLOYMENT with env values replaced (None removes one) and container fields replaced."""
    d = copy.deepcopy(DEPLOYMENT)
    c = d["spec"]["template"]["spec"]["containers"][0]
    for name, value in (env or {}).items():
        c["env"] = [e for e in c["env"] if e["name"] != name]
        if value is not None:
            c["env"].append({"name": name, "value": value})
    c.update(container)
    return d


def test_entrypoint_flags_env_and_conf_from_the_deployment(tmp_path: Path) -> None:
    h = host(tmp_path)
    launch = plan_launch(DEPLOYMENT, CONFIGMAPS, SECRETS, h, "http://127.0.0.1:1234", {"EXTRA": "1"})
    assert launch.argv == [
        "/venv/bin/python",
        str(h.glue),
        "--queue",
        "q1,q2",
        "--max-pods",
        "3",
        "--namespace",
        NAMESPACE,
        "--template-yaml",
        str(h.home / "template" / "template.yaml"),
    ]
    assert launch.queues == ["q1", "q2"] and launch.self_update is False
    assert launch.files[h.home / "template" / "template.yaml"] == "spec: {}\n"
    conf = launch.files[h.home / "clearml.conf"]
    assert f"api.credentials.secret_key: {SECRET}" in conf and "api.api_server: http://127.0.0.1:1234" in conf
    env = launch.env
    assert env["CLEARML_API_SECRET_KEY"] == SECRET and env["CLEARML_API_ACCESS_KEY"] == KEY
    assert {env[v] for v in ("CLEARML_API_HOST", "CLEARML_WEB_HOST", "CLEARML_FILES_HOST")} == {"http://127.0.0.1:1234"}
    assert launch.in_cluster_api_host == "http://api.clearml.svc.cluster.local:8008"
    assert env["HOME"] == str(h.home) and env["KUBECONFIG"] == str(h.kubeconfig)
    assert env["PATH"].split(":")[0] == str(h.bin) and env["EXTRA"] == "1"
    assert env["https_proxy"] == "http://127.0.0.1:9" and "127.0.0.1" in env["no_proxy"]
    assert any("api.clearml.svc.cluster.local" in s and "stand-in" in s for s in launch.substitutions)


def test_entrypoint_defaults_without_max_pods_or_queue(tmp_path: Path) -> None:
    launch = plan_launch(
        deployment({"K8S_GLUE_MAX_PODS": None, "K8S_GLUE_QUEUE": None, "CLEARML_AGENT_NO_UPDATE": None}),
        CONFIGMAPS,
        SECRETS,
        host(tmp_path),
        "http://127.0.0.1:1",
    )
    assert launch.argv[2:4] == ["--queue", "k8s_glue"] and "--max-pods" not in launch.argv
    assert launch.self_update is True  # the container would pip-upgrade clearml-agent first


def test_a_clearml_conf_mounted_from_the_secret_stays_as_mounted(tmp_path: Path) -> None:
    h = host(tmp_path)
    d = deployment({"CLEARML_CONFIG_FILE": "/root/clearml.conf"})
    pod = d["spec"]["template"]["spec"]
    pod["volumes"].append({"name": "conf", "secret": {"secretName": "creds", "items": [{"key": "conf", "path": "c"}]}})
    pod["containers"][0]["volumeMounts"].append({"name": "conf", "mountPath": "/root/clearml.conf", "subPath": "c"})
    launch = plan_launch(d, CONFIGMAPS, SECRETS, h, "http://127.0.0.1:1")
    # read-only in the pod: the entrypoint's appends fail, the Secret's file is what the agent reads
    assert launch.files[h.home / "clearml.conf"] == "agent.x: 1\n"
    assert launch.env["CLEARML_CONFIG_FILE"] == str(h.home / "clearml.conf")


def test_without_files_host_the_entrypoint_derives_the_hosts(tmp_path: Path) -> None:
    launch = plan_launch(
        deployment({"CLEARML_FILES_HOST": None, "CLEARML_WEB_HOST": None}), CONFIGMAPS, SECRETS, host(tmp_path), "U"
    )
    assert launch.env["CLEARML_FILES_HOST"] == launch.env["CLEARML_WEB_HOST"] == "U"
    assert any("ifconfig.me" in s for s in launch.substitutions)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (deployment(command=["/usr/bin/my-agent"]), "only the k8s glue image's /root/entrypoint.sh"),
        (deployment(volumeMounts=[{"name": "tpl", "mountPath": "/etc/template"}]), "only /root and /tmp"),
        (
            deployment(env={"X": None}, envFrom=[{"secretRef": {"name": "creds"}}]),
            "envFrom",
        ),
    ],
)
def test_what_the_harness_cannot_reproduce_is_refused(tmp_path: Path, broken: dict[str, Any], message: str) -> None:
    with pytest.raises(AgentHarnessError, match=message):
        plan_launch(broken, CONFIGMAPS, SECRETS, host(tmp_path), "U")


def test_a_missing_secret_key_stops_the_container_as_the_kubelet_would(tmp_path: Path) -> None:
    with pytest.raises(AgentHarnessError, match="Secret runai-p/creds has no key secret"):
        plan_launch(DEPLOYMENT, CONFIGMAPS, {"creds": {"data": {"key": b64(KEY)}}}, host(tmp_path), "U")
