"""Test helper: run the real clearml-agent k8s glue against a stub ClearML server and a fake kubectl.

``build_task_pod(template_yaml, namespace=..., queue_name=...)`` returns the pod manifest the agent
would ``kubectl apply`` for one queued task, and the namespace it would apply it in.
``run_agent_for_task`` returns the same plus everything observed (ClearML calls, kubectl calls,
agent output).
"""

from .clearml_stub import ApiCall, ClearMLStubServer
from .harness import (
    DEFAULT_IMAGE,
    DEFAULT_MAX_PODS,
    DEFAULT_TASK_ID,
    DEFAULT_WORKER_ID,
    AgentHarnessError,
    AgentRun,
    agent_python,
    build_task_pod,
    run_agent_for_task,
)

__all__ = [
    "DEFAULT_IMAGE",
    "DEFAULT_MAX_PODS",
    "DEFAULT_TASK_ID",
    "DEFAULT_WORKER_ID",
    "AgentHarnessError",
    "AgentRun",
    "ApiCall",
    "ClearMLStubServer",
    "agent_python",
    "build_task_pod",
    "run_agent_for_task",
]
