"""Runs inside a child process started by ``agent_harness.run_agent_for_task``.

It does what the clearml-agent k8s glue does for one queued task, with the real code:

* constructs ``clearml_agent.glue.k8s.K8sIntegration`` with the arguments upstream
  ``examples/k8s_glue_example.py`` passes (which is what the agent image's entrypoint runs),
  which creates the real ``Session`` (auth.login against CLEARML_API_HOST) and loads the template;
* resolves the queue name to its id like ``K8sIntegration.k8s_daemon`` / ``Worker.daemon`` do;
* makes sure the k8s pending queue exists, as ``run_tasks_loop`` does before polling;
* pulls the next task from the queue with the same call ``run_tasks_loop`` uses (``_get_next_task``);
* calls ``run_one_task(queue_id, task_id, worker_params, task_session)`` exactly like the loop.

Nothing of the agent is patched: the ClearML server and ``kubectl`` are the only stand-ins, and
they are given to it from outside (CLEARML_API_HOST and PATH).
A JSON summary is written to ``--result-file``.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--template-yaml", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--queue", required=True, help="queue name (as in K8S_GLUE_QUEUE)")
    parser.add_argument("--max-pods", type=int, default=0)
    parser.add_argument("--result-file", required=True)
    args = parser.parse_args()

    result: dict[str, object] = {"ok": False}
    try:
        from clearml_agent.glue.k8s import K8sIntegration

        # Same constructor call as examples/k8s_glue_example.py (no ports mode, no overrides,
        # no pod clearml.conf, no ssh server).
        k8s = K8sIntegration(
            ports_mode=False,
            num_of_services=20,
            base_pod_num=1,
            user_props_cb=None,
            overrides_yaml=None,
            clearml_conf_file=None,
            template_yaml=args.template_yaml,
            extra_bash_init_script=None,
            namespace=args.namespace,
            max_pods_limit=args.max_pods or None,
        )
        result["worker_id"] = k8s.worker_id
        result["agent_namespace"] = k8s.namespace

        # k8s_daemon() -> daemon(queues=[ObjectID(name=q)]) resolves names with _resolve_name.
        queue_id = k8s._resolve_name(args.queue, service="queues")
        result["queue_id"] = queue_id

        # run_tasks_loop(): first thing it does.
        if not k8s.k8s_pending_queue_id:
            k8s._ensure_pending_queue_exists()
        result["pending_queue_id"] = k8s.k8s_pending_queue_id

        # run_tasks_loop(): pull the next task of the queue (no owner impersonation).
        response = k8s._get_next_task(queue=queue_id, get_task_info=k8s._impersonate_as_task_owner)
        task_id = (response or {}).get("entry", {}).get("task")
        if not task_id:
            raise RuntimeError(f"queue {args.queue!r} returned no task: {response!r}")
        result["task_id"] = task_id

        # run_tasks_loop(): self.run_one_task(queue, task_id, worker_params, task_session)
        k8s.run_one_task(queue_id, task_id, None, None)
        result["ok"] = True
    except BaseException as ex:  # report everything, including SystemExit from the agent
        result["error"] = f"{type(ex).__name__}: {ex}"
        result["traceback"] = traceback.format_exc()

    with open(args.result_file, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    sys.stdout.flush()
    sys.stderr.flush()
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
