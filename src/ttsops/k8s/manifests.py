"""Kubernetes manifests of one version: a pure render of ``templates/k8s/`` from options."""

from __future__ import annotations

import json

from ttsops.k8s.options import ANALYSIS_PORT, PORT, K8sOptions
from ttsops.render import render_template

__all__ = ["render_manifests"]


def _q(value: object) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is YAML's): no value breaks the file."""
    return json.dumps(str(value), ensure_ascii=False)


def render_manifests(options: K8sOptions) -> dict[str, str]:
    """File name → YAML text of every object for ``options`` (checked first), in apply order.

    A Deployment (or with ``rollouts`` an Argo Rollouts ``Rollout`` with stable and canary
    Services, an Ingress for nginx traffic routing, the ``AnalysisTemplate`` and the
    analysis service it calls), its ConfigMap, Service(s), HorizontalPodAutoscaler,
    PodDisruptionBudget and ServiceMonitor; an Ingress also for a Deployment given a host.
    """
    o = options.check()
    ctx = {"o": o, "q": _q, "port": PORT}
    pod = render_template("k8s/_pod.yaml.j2", **ctx).rstrip("\n")
    services = [(o.name, "")]
    if o.rollouts:
        services = [
            (o.name, "Every pod of the app, old and new: what the ServiceMonitor scrapes."),
            (f"{o.name}-stable", "The stable pods (Argo Rollouts sets its selector's pod hash)."),
            (f"{o.name}-canary", "The canary pods (Argo Rollouts sets its selector's pod hash)."),
        ]
    files = {
        "configmap.yaml": render_template("k8s/configmap.yaml.j2", **ctx),
        "services.yaml": render_template("k8s/services.yaml.j2", services=services, **ctx),
    }
    if o.rollouts:
        analysis_url = f"http://{o.name}-analysis.{o.namespace}.svc.cluster.local:{ANALYSIS_PORT}"
        files["analysis-service.yaml"] = render_template(
            "k8s/analysis-service.yaml.j2", analysis_port=ANALYSIS_PORT, **ctx
        )
        files["analysis-template.yaml"] = render_template(
            "k8s/analysis-template.yaml.j2", analysis_url=analysis_url, **ctx
        )
        files["rollout.yaml"] = render_template("k8s/workload.yaml.j2", pod=pod, **ctx)
    else:
        files["deployment.yaml"] = render_template("k8s/workload.yaml.j2", pod=pod, **ctx)
    if o.rollouts or o.host:
        backend = f"{o.name}-stable" if o.rollouts else o.name
        files["ingress.yaml"] = render_template("k8s/ingress.yaml.j2", backend=backend, **ctx)
    files["hpa.yaml"] = render_template("k8s/hpa.yaml.j2", **ctx)
    files["pdb.yaml"] = render_template("k8s/pdb.yaml.j2", **ctx)
    files["servicemonitor.yaml"] = render_template("k8s/servicemonitor.yaml.j2", **ctx)
    return files
