"""Rendered manifests pass the checks a cluster applies, offline: no cluster runs here.

Core objects are validated with ``kubernetes-validate`` (its shipped Kubernetes 1.34 schemas,
strict: an unknown field is an error, as ``kubectl apply --validate=strict``). The Argo
Rollouts ``Rollout`` and ``AnalysisTemplate`` are validated against the CRDs'
``openAPIV3Schema``, vendored in tests/data/argo-rollouts/ (a clean clone has no ../shared),
made strict the way the API server prunes: properties not in the schema are errors unless
the schema preserves unknown fields. The Rollout's pod template is also checked as a core
``PodTemplate``. The ServiceMonitor's CRD (Prometheus Operator) is not shipped by either, so
it is checked as YAML with the keys the operator reads.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from ttsops.k8s import K8sOptions, render_manifests

_CRDS = Path(__file__).parent.parent / "data" / "argo-rollouts"
_K8S = "1.34"

OPTIONS = {
    "deployment": K8sOptions(
        name="joe",
        version="1.0.0",
        image="registry.example.com/tts/joe:1.0.0",
        host="tts.example.com",
    ),
    "rollout-store-gpu": K8sOptions(
        name="joe",
        version="0.0.0-dev+e224d1b",
        image="registry.example.com/tts/joe-store:1.1.0",
        model="store",
        namespace="tts",
        rollouts=True,
        gpu=2,
        store_url="s3://tts-models/ttsops",
        ledger_url="postgresql://ledger/ttsops",
        env_secret="ttsops-store",
        image_id="sha256:" + "ab" * 32,
    ),
}


def _strict(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` wherever properties are listed."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def _crd_validator(kind: str) -> jsonschema.Draft7Validator:
    files = {"Rollout": "rollout-crd.yaml", "AnalysisTemplate": "analysis-template-crd.yaml"}
    crd = yaml.load((_CRDS / files[kind]).read_text(), Loader=yaml.CSafeLoader)
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = _strict(version["schema"]["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _validate(doc: dict[str, Any]) -> None:
    kind = doc["kind"]
    if kind in ("Rollout", "AnalysisTemplate"):
        assert doc["apiVersion"] == "argoproj.io/v1alpha1"
        problems = [
            f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
            for e in _crd_validator(kind).iter_errors(doc)
        ]
        assert not problems, f"{kind} {doc['metadata']['name']}: {problems}"
        if kind == "Rollout":
            template = {
                "apiVersion": "v1",
                "kind": "PodTemplate",
                "metadata": {"name": doc["metadata"]["name"]},
                "template": doc["spec"]["template"],
            }
            kubernetes_validate.validate(template, _K8S, strict=True)
    elif kind == "ServiceMonitor":
        assert doc["apiVersion"] == "monitoring.coreos.com/v1"
        endpoint = doc["spec"]["endpoints"][0]
        assert endpoint["port"] == "http" and endpoint["path"] == "/metrics"
        assert doc["spec"]["selector"]["matchLabels"]
    else:
        kubernetes_validate.validate(doc, _K8S, strict=True)


@pytest.mark.parametrize("scenario", sorted(OPTIONS))
def test_every_rendered_object_is_valid(scenario: str) -> None:
    """Each document of each file validates against its schema."""
    files = render_manifests(OPTIONS[scenario])
    seen = set()
    for text in files.values():
        for doc in yaml.safe_load_all(text):
            _validate(doc)
            seen.add(doc["kind"])
    expected = {"Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor"}
    assert expected <= seen
    if OPTIONS[scenario].rollouts:
        assert {"Rollout", "AnalysisTemplate", "Ingress", "Deployment"} <= seen
    else:
        assert "Deployment" in seen and "Rollout" not in seen


def test_the_checks_catch_what_a_cluster_would_refuse() -> None:
    """A misspelt field in a Deployment, a Rollout or an AnalysisTemplate is an error."""
    files = render_manifests(OPTIONS["rollout-store-gpu"])
    rollout = yaml.safe_load(files["rollout.yaml"])
    rollout["spec"]["strategy"]["canary"]["step"] = rollout["spec"]["strategy"]["canary"].pop(
        "steps"
    )
    with pytest.raises(AssertionError, match="step"):
        _validate(rollout)
    template = yaml.safe_load(files["analysis-template.yaml"])
    template["spec"]["metrics"][0]["provider"]["web"]["jsonpath"] = "{$.verdict}"
    with pytest.raises(AssertionError, match="jsonpath"):
        _validate(template)
    pod = yaml.safe_load(files["rollout.yaml"])
    pod["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(AssertionError, match="readinesProbe"):
        _validate(pod)
    deployment = yaml.safe_load(render_manifests(OPTIONS["deployment"])["deployment.yaml"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)
