"""Test helper: the real clearml-agent k8s glue of an installed release, run as its container runs it,
against a stand-in ClearML API that checks the agent's credentials.

``ClearMLStandIn`` (clearml_stub.py) is the ClearML server; ``AgentDaemon`` (harness.py) starts the
agent's daemon loop with the release's env, template and ServiceAccount token; ``plan_launch``
(entrypoint.py) says what the container runs and what the host substitutes for it; ``enqueue`` /
``create_and_enqueue`` / ``task_status`` (sdk.py) are a user's script: the real clearml SDK, in its own
venv, creating, enqueuing and looking up tasks on the stand-in.
"""

from .clearml_stub import ApiCall, ClearMLStandIn, StatusChange
from .entrypoint import AgentHarnessError, HostSide, Launch, plan_launch
from .harness import AgentDaemon, agent_python, kubectl_as, sa_kubeconfig, task_pod_name
from .sdk import SdkError, create_and_enqueue, enqueue, task_status, task_statuses

__all__ = [
    "AgentDaemon",
    "AgentHarnessError",
    "ApiCall",
    "ClearMLStandIn",
    "HostSide",
    "Launch",
    "StatusChange",
    "agent_python",
    "kubectl_as",
    "SdkError",
    "create_and_enqueue",
    "enqueue",
    "plan_launch",
    "sa_kubeconfig",
    "task_pod_name",
    "task_status",
    "task_statuses",
]
