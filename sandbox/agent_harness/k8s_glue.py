"""The k8s glue's main program, as the agent image runs it (``python3 k8s_glue_example.py ...``).

The image copies clearml-agent's ``examples/k8s_glue_example.py`` next to its entrypoint; the PyPI
package does not ship it. This is the same program for the pinned 3.0.3: it takes the same flags,
builds ``clearml_agent.glue.k8s.K8sIntegration`` from them with the same arguments and runs its daemon
loop, ``k8s_daemon`` (queue polling, pod creation with kubectl, the pending-pods monitor, cleanup of
finished pods). Nothing of the agent is patched. Runs in the agent's own venv, never imported by tests.
"""

from __future__ import annotations

import argparse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="ClearML k8s glue")
    one_of = p.add_mutually_exclusive_group()
    p.add_argument("--queue", help="queues to pull tasks from, comma separated, highest priority first")
    p.add_argument("--namespace", default="clearml", help="namespace of the task pods")
    p.add_argument("--template-yaml", help="pod template of the task pods")
    p.add_argument("--overrides-yaml", help="pod overrides (used without a template)")
    p.add_argument("--pod-clearml-conf", help="clearml.conf of the task pods (default: the agent's)")
    p.add_argument("--k8s-pending-queue-name", default="k8s_scheduler", help="queue of tasks waiting for k8s")
    p.add_argument("--container-bash-script", help="file with the bash script the task container runs")
    p.add_argument("--debug", action="store_true")
    one_of.add_argument("--ports-mode", action="store_true", help="label pods so that services can expose them")
    one_of.add_argument("--max-pods", type=int, help="most task pods at once")
    p.add_argument("--num-of-services", type=int, default=20)
    p.add_argument("--base-port", type=int)
    p.add_argument("--base-pod-num", type=int, default=1)
    p.add_argument("--gateway-address")
    p.add_argument("--ssh-server-port", type=int, default=0)
    p.add_argument("--pod-name-prefix", default="clearml-id-")
    p.add_argument("--limit-pod-label", default="ai.allegro.agent.serial=pod-{pod_number}")
    p.add_argument("--no-system-packages", action="store_true")
    p.add_argument("--use-owner-token", action="store_true")
    p.add_argument("--create-queue", action="store_true")
    return p.parse_args(argv)


def main() -> None:
    args = parse_args()
    from clearml_agent.glue.k8s import K8sIntegration

    user_props_cb = None
    if args.ports_mode and args.base_port:
        base_port, gateway = args.base_port, args.gateway_address

        def user_props_cb(pod_number: int = 0) -> dict[str, object]:
            props: dict[str, object] = {"k8s-pod-port": base_port + pod_number}
            if gateway:
                props["k8s-gateway-address"] = gateway
            return props

    bash_script = None
    if args.container_bash_script:
        with open(args.container_bash_script, encoding="utf-8") as fh:
            bash_script = fh.read().splitlines()

    glue = K8sIntegration(
        k8s_pending_queue_name=args.k8s_pending_queue_name,
        container_bash_script=bash_script,
        ports_mode=args.ports_mode,
        num_of_services=args.num_of_services,
        base_pod_num=args.base_pod_num,
        user_props_cb=user_props_cb,
        overrides_yaml=args.overrides_yaml,
        clearml_conf_file=args.pod_clearml_conf,
        template_yaml=args.template_yaml,
        extra_bash_init_script=(
            K8sIntegration.get_ssh_server_bash(ssh_port_number=args.ssh_server_port) if args.ssh_server_port else None
        ),
        namespace=args.namespace,
        max_pods_limit=args.max_pods or None,
        pod_name_prefix=args.pod_name_prefix,
        limit_pod_label=args.limit_pod_label,
        force_system_packages=not args.no_system_packages,
        debug=args.debug,
    )
    queues = [q.strip() for q in (args.queue or "").split(",") if q.strip()] or None
    glue.k8s_daemon(queues, use_owner_token=args.use_owner_token, create_queue=args.create_queue)


if __name__ == "__main__":
    main()
