"""The `operate` command: options only; kopf and the client are imported when it runs, never at start-up."""

from __future__ import annotations

import logging
import os
import socket

import click


@click.command()
@click.option(
    "--clearml-namespace", default="clearml", show_default=True, metavar="NS", help="Namespace of the ClearML install."
)
@click.option(
    "--all-projects",
    is_flag=True,
    help="Auto mode: a ClearMLAgent for every namespace labelled runai/queue, "
    'unless annotated clearml-runai.io/agent: "off".',
)
@click.option(
    "--kubeconfig",
    metavar="PATH",
    envvar="KUBECONFIG",
    help="kubeconfig of the cluster [default: $KUBECONFIG, ~/.kube/config, or in-cluster].",
)
@click.option("--context", metavar="NAME", help="kubeconfig context to use.")
@click.option(
    "--concurrency", default=4, show_default=True, metavar="N", type=int, help="ClearMLAgents reconciled at once."
)
@click.option(
    "--resync-seconds",
    default=300.0,
    show_default=True,
    type=float,
    metavar="S",
    help="Every ClearMLAgent again after S seconds, with a fresh read of the install (writes only on a difference).",
)
@click.option(
    "--health-address",
    default="0.0.0.0:8080",
    show_default=True,
    metavar="HOST:PORT",
    help="Liveness at /healthz; off to disable.",
)
@click.option(
    "--metrics-address",
    default="0.0.0.0:9090",
    show_default=True,
    metavar="HOST:PORT",
    help="Prometheus /metrics; off to disable.",
)
@click.option(
    "--lease",
    default="off",
    show_default=True,
    metavar="NAMESPACE/NAME",
    help="A coordination.k8s.io Lease that lets one replica act at a time (the others stand by); off: act alone.",
)
@click.option(
    "--identity",
    envvar="POD_NAME",
    metavar="NAME",
    help="This replica's name in the Lease [default: $POD_NAME, else host name and process id].",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what each reconcile does.")
def operate(
    clearml_namespace: str,
    all_projects: bool,
    kubeconfig: str | None,
    context: str | None,
    concurrency: int,
    resync_seconds: float,
    health_address: str,
    metrics_address: str,
    lease: str,
    identity: str | None,
    verbose: bool,
) -> None:
    """Run the operator: give every ClearMLAgent (--all-projects: every Run:ai project) its agent; keep it right."""
    if not verbose:  # kopf says so for every event it hands over
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    from .run import OperatorConfig
    from .run import operate as run

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run(
        OperatorConfig(
            clearml_namespace=clearml_namespace,
            all_projects=all_projects,
            kubeconfig=kubeconfig.split(os.pathsep)[0] if kubeconfig else None,
            context=context,
            workers=concurrency,
            resync_seconds=resync_seconds,
            health_address=health_address,
            metrics_address=metrics_address,
            lease=lease,
            identity=identity or f"{socket.gethostname()}-{os.getpid()}",
        )
    )
