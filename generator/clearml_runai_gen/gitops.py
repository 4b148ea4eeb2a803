"""Argo CD and Flux objects that install one project's release from a chart repository. Pure.

Each holds the rendered values inline and installs chart clearml-runai-agent, at the version asked
(by default the tool's own), as release `clearml-runai-<project>` into the project's namespace.

- Argo CD: an `Application` in the Argo CD namespace. An OCI registry is an OCI source (`repoURL:
  oci://.../clearml-runai-agent`, `path: .`, Argo CD 3.1 or later); an https repository is a Helm source
  (`chart:`). Sync is automated, with prune and self-heal, and the finalizer removes the release when
  the Application is deleted.
- Flux: an `OCIRepository` (or a `HelmRepository`) and a `HelmRelease`, both in the project's
  namespace: no cross-namespace reference, which Flux's multi-tenancy lockdown forbids.
"""

from __future__ import annotations

from .chart import CHART_NAME
from .models import DeliveryOptions, Obj, ProjectOptions

ARGOCD_API = "argoproj.io/v1alpha1"
FLUX_SOURCE_API = "source.toolkit.fluxcd.io/v1"
FLUX_HELM_API = "helm.toolkit.fluxcd.io/v2"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
IN_CLUSTER = "https://kubernetes.default.svc"
FLUX_INTERVAL = "10m"


def oci_tag(version: str) -> str:
    # OCI tags cannot hold '+': `helm push` writes build metadata with '_'
    return version.replace("+", "_")


def _metadata(options: ProjectOptions, namespace: str) -> Obj:
    # a label the release name (up to 71 characters) would not fit: names say which release it is
    return {"name": options.release, "namespace": namespace, "labels": {"app.kubernetes.io/name": CHART_NAME}}


def argocd_application(options: ProjectOptions, values: Obj, delivery: DeliveryOptions) -> Obj:
    source: Obj
    if delivery.is_oci:
        source = {
            "repoURL": f"{delivery.chart_repo}/{CHART_NAME}",
            "path": ".",
            "targetRevision": oci_tag(delivery.chart_version),
        }
    else:
        source = {"repoURL": delivery.chart_repo, "chart": CHART_NAME, "targetRevision": delivery.chart_version}
    source["helm"] = {"releaseName": options.release, "valuesObject": values}
    return {
        "apiVersion": ARGOCD_API,
        "kind": "Application",
        "metadata": {
            **_metadata(options, delivery.argocd_namespace),
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": delivery.argocd_project,
            "source": source,
            "destination": {"server": IN_CLUSTER, "namespace": options.namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


def flux_objects(options: ProjectOptions, values: Obj, delivery: DeliveryOptions) -> list[Obj]:
    source: Obj
    release_spec: Obj = {"interval": FLUX_INTERVAL, "releaseName": options.release}
    if delivery.is_oci:
        source = {
            "apiVersion": FLUX_SOURCE_API,
            "kind": "OCIRepository",
            "metadata": _metadata(options, options.namespace),
            "spec": {
                "interval": FLUX_INTERVAL,
                "url": f"{delivery.chart_repo}/{CHART_NAME}",
                "ref": {"tag": oci_tag(delivery.chart_version)},
                "layerSelector": {"mediaType": HELM_CHART_LAYER, "operation": "copy"},
            },
        }
        release_spec["chartRef"] = {"kind": "OCIRepository", "name": options.release}
    else:
        source = {
            "apiVersion": FLUX_SOURCE_API,
            "kind": "HelmRepository",
            "metadata": _metadata(options, options.namespace),
            "spec": {"interval": FLUX_INTERVAL, "url": delivery.chart_repo},
        }
        release_spec["chart"] = {
            "spec": {
                "chart": CHART_NAME,
                "version": delivery.chart_version,
                "sourceRef": {"kind": "HelmRepository", "name": options.release},
            }
        }
    release_spec["values"] = values
    release = {
        "apiVersion": FLUX_HELM_API,
        "kind": "HelmRelease",
        "metadata": _metadata(options, options.namespace),
        "spec": release_spec,
    }
    return [source, release]


def gitops_objects(options: ProjectOptions, values: Obj, delivery: DeliveryOptions) -> list[Obj]:
    if delivery.format == "argocd":
        return [argocd_application(options, values, delivery)]
    if delivery.format == "flux":
        return flux_objects(options, values, delivery)
    raise ValueError(f"no GitOps objects for format {delivery.format!r}")


def values_of(objects: list[Obj]) -> Obj | None:
    """The inline values of an Application or HelmRelease among `objects`; None when there is none."""
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        spec = obj.get("spec") or {}
        if obj.get("kind") == "Application" and isinstance(spec, dict):
            found = ((spec.get("source") or {}).get("helm") or {}).get("valuesObject")
        elif obj.get("kind") == "HelmRelease" and isinstance(spec, dict):
            found = spec.get("values")
        else:
            continue
        if isinstance(found, dict):
            return found
    return None
