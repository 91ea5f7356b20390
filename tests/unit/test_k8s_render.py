"""``render_manifests``: Kubernetes and Argo Rollouts objects are a pure render (golden text).

No cluster runs here: what a cluster would check is checked offline in
tests/integration/test_k8s_validate.py; these tests pin the text and what a user reads in it.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from ttsops.errors import KubernetesError
from ttsops.k8s import K8sOptions, render_manifests

_GOLDEN = Path(__file__).parent.parent / "golden" / "k8s"

DEPLOYMENT = K8sOptions(
    name="joe",
    version="1.0.0",
    image="registry.example.com/tts/joe:1.0.0",
    namespace="tts",
    host="tts.example.com",
    image_id="sha256:" + "5e" * 32,
)
ROLLOUT = K8sOptions(
    name="joe",
    version="1.1.0",
    image="registry.example.com/tts/joe-store:1.1.0",
    model="store",
    namespace="tts",
    rollouts=True,
    gpu=1,
    workers=2,
    cpu="2",
    store_url="s3://tts-models/ttsops",
    ledger_url="postgresql://ledger.tts.svc/ttsops",
    env_secret="ttsops-store",
    analysis_image="registry.example.com/tts/ttsops-analysis:0.1.0",
)


def _check_golden(scenario: str, files: dict[str, str]) -> None:
    folder = _GOLDEN / scenario
    if os.environ.get("TTSOPS_UPDATE_GOLDEN") == "1":
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.yaml"):
            old.unlink()
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    assert sorted(files) == sorted(p.name for p in folder.glob("*.yaml")), (
        f"the files of {scenario} changed; if intended, rerun with TTSOPS_UPDATE_GOLDEN=1"
    )
    for name, text in files.items():
        assert text == (folder / name).read_text(encoding="utf-8"), (
            f"{scenario}/{name} changed; if intended, rerun with TTSOPS_UPDATE_GOLDEN=1 "
            "and review the diff"
        )


def _objects(files: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for text in files.values():
        for doc in yaml.safe_load_all(text):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def _tts_container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    (container,) = [c for c in pod_spec["containers"] if c["name"] == "tts"]
    return container


def test_a_deployment_matches_the_golden_files() -> None:
    """Deployment, Service, Ingress for the host, HPA, PDB, ServiceMonitor and ConfigMap."""
    files = render_manifests(DEPLOYMENT)
    _check_golden("deployment-baked", files)
    kinds = sorted(kind for kind, _ in _objects(files))
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "PodDisruptionBudget",
        "Service",
        "ServiceMonitor",
    ]


def test_a_rollout_matches_the_golden_files() -> None:
    """Rollout, stable and canary Services, Ingress, AnalysisTemplate and its service."""
    files = render_manifests(ROLLOUT)
    _check_golden("rollout-store-gpu", files)
    objects = _objects(files)
    assert ("Deployment", "joe") not in objects
    for key in [
        ("Rollout", "joe"),
        ("Service", "joe"),
        ("Service", "joe-stable"),
        ("Service", "joe-canary"),
        ("Ingress", "joe"),
        ("AnalysisTemplate", "joe-analysis"),
        ("Deployment", "joe-analysis"),
        ("Service", "joe-analysis"),
    ]:
        assert key in objects, f"{key} missing"


def test_probes_fit_a_tts_server() -> None:
    """Startup allows a minute or more; ready is /readyz (a real synthesis), live /healthz."""
    for options in (DEPLOYMENT, ROLLOUT):
        objects = _objects(render_manifests(options))
        kind = "Rollout" if options.rollouts else "Deployment"
        tts = _tts_container(objects[(kind, "joe")]["spec"]["template"]["spec"])
        startup = tts["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
        assert tts["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert tts["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert tts["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_pods_run_non_root_on_a_read_only_root_with_writable_tmp_and_home() -> None:
    """runAsNonRoot as uid 10001, read-only root, no capabilities; /tmp and HOME are emptyDirs."""
    spec = _objects(render_manifests(DEPLOYMENT))[("Deployment", "joe")]["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    tts = _tts_container(spec)
    assert tts["securityContext"]["readOnlyRootFilesystem"] is True
    assert tts["securityContext"]["allowPrivilegeEscalation"] is False
    assert tts["securityContext"]["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in tts["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    for path in ("/tmp", "/home/ttsops"):
        assert "emptyDir" in volumes[mounts[path]]
    env = {e["name"]: e.get("value") for e in tts["env"]}
    assert env["TTSOPS_HOME"].startswith("/home/ttsops/")


def test_a_store_image_gets_its_version_store_and_ledger_from_the_environment() -> None:
    """--model store: TTSOPS_VERSION, TTSOPS_STORE_URL, TTSOPS_LEDGER_URL and the secret."""
    spec = _objects(render_manifests(ROLLOUT))[("Rollout", "joe")]["spec"]["template"]["spec"]
    tts = _tts_container(spec)
    env = {e["name"]: e.get("value") for e in tts["env"]}
    assert env["TTSOPS_VERSION"] == "1.1.0"
    assert env["TTSOPS_STORE_URL"] == "s3://tts-models/ttsops"
    assert env["TTSOPS_LEDGER_URL"] == "postgresql://ledger.tts.svc/ttsops"
    assert tts["envFrom"] == [{"secretRef": {"name": "ttsops-store"}}]
    assert tts["command"][:3] == ["ttsops", "image", "start"]
    baked = _objects(render_manifests(DEPLOYMENT))[("Deployment", "joe")]
    baked_tts = _tts_container(baked["spec"]["template"]["spec"])
    assert "TTSOPS_STORE_URL" not in {e["name"] for e in baked_tts["env"]}
    assert baked_tts["command"][:4] == ["ttsops", "serve", "--bundle", "/opt/ttsops/model"]


def test_gpus_are_requested_only_when_asked() -> None:
    """--gpu 1: nvidia.com/gpu in requests and limits, and the GPU taint tolerated."""
    rollout = _objects(render_manifests(ROLLOUT))[("Rollout", "joe")]["spec"]["template"]["spec"]
    resources = _tts_container(rollout)["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 1
    assert resources["requests"]["nvidia.com/gpu"] == 1
    assert rollout["tolerations"][0]["key"] == "nvidia.com/gpu"
    plain = _objects(render_manifests(DEPLOYMENT))[("Deployment", "joe")]["spec"]["template"]
    assert "nvidia.com/gpu" not in _tts_container(plain["spec"])["resources"]["limits"]
    assert "tolerations" not in plain["spec"]


def test_the_rollout_steps_through_10_50_100_with_an_analysis_after_each() -> None:
    """setWeight 10, 50, 100, each followed by the ttsops analysis of canary vs stable."""
    objects = _objects(render_manifests(ROLLOUT))
    canary = objects[("Rollout", "joe")]["spec"]["strategy"]["canary"]
    weights = [s["setWeight"] for s in canary["steps"] if "setWeight" in s]
    assert weights == [10, 50, 100]
    analyses = [s["analysis"] for s in canary["steps"] if "analysis" in s]
    assert len(analyses) == 3
    args = {a["name"]: a["value"] for a in analyses[0]["args"]}
    assert args == {
        "canary-url": "http://joe-canary.tts.svc.cluster.local:6006",
        "stable-url": "http://joe-stable.tts.svc.cluster.local:6006",
    }
    assert canary["stableService"] == "joe-stable" and canary["canaryService"] == "joe-canary"
    assert canary["trafficRouting"]["nginx"]["stableIngress"] == "joe"
    ingress = objects[("Ingress", "joe")]["spec"]["rules"][0]["http"]["paths"][0]
    assert ingress["backend"]["service"]["name"] == "joe-stable"
    hpa = objects[("HorizontalPodAutoscaler", "joe")]["spec"]["scaleTargetRef"]
    assert hpa == {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "joe"}


def test_the_analysis_template_reads_the_verdict() -> None:
    """The web metric POSTs both URLs and reads $.verdict: pass succeeds, fail fails."""
    objects = _objects(render_manifests(ROLLOUT))
    metric = objects[("AnalysisTemplate", "joe-analysis")]["spec"]["metrics"][0]
    web = metric["provider"]["web"]
    assert web["method"] == "POST"
    assert web["jsonPath"] == "{$.verdict}"
    assert web["jsonBody"] == {"canary": "{{args.canary-url}}", "stable": "{{args.stable-url}}"}
    assert metric["successCondition"] == 'result == "pass"'
    assert metric["failureCondition"] == 'result == "fail"'
    analysis = objects[("Deployment", "joe-analysis")]["spec"]["template"]["spec"]
    assert analysis["containers"][0]["command"][:3] == ["ttsops", "analysis", "serve"]
    assert analysis["containers"][0]["image"] == "registry.example.com/tts/ttsops-analysis:0.1.0"


def test_a_dev_version_becomes_a_valid_label() -> None:
    """0.0.0-dev+abc123: the label says 0.0.0-dev_abc123, TTSOPS_VERSION the real version."""
    options = replace(ROLLOUT, version="0.0.0-dev+abc123")
    rollout = _objects(render_manifests(options))[("Rollout", "joe")]
    assert rollout["metadata"]["labels"]["app.kubernetes.io/version"] == "0.0.0-dev_abc123"
    env = {
        e["name"]: e.get("value")
        for e in _tts_container(rollout["spec"]["template"]["spec"])["env"]
    }
    assert env["TTSOPS_VERSION"] == "0.0.0-dev+abc123"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Joe_1"}, "not a DNS label"),
        ({"namespace": "a" * 60}, "not a DNS label"),
        ({"image": "joe 1.0"}, "not an image reference"),
        ({"image": 'joe:1"\nkind: Secret'}, "not an image reference"),
        ({"model": "store"}, "--model store needs --store-url"),
        ({"model": "store", "store_url": "s3://x"}, "--model store needs --ledger-url"),
        ({"replicas": 0}, "--replicas 0"),
        ({"replicas": 8, "max_replicas": 4}, "--replicas 8"),
        ({"memory": "lots"}, "not a Kubernetes quantity"),
        ({"host": "tts example.com"}, "not a host name"),
        ({"steps": (50, 10, 100)}, "must rise"),
        ({"steps": (10, 50)}, "ending at 100"),
    ],
)
def test_options_a_cluster_would_refuse_are_refused_before_rendering(
    change: dict[str, Any], message: str
) -> None:
    """Each bad option is a KubernetesError naming the value and the fix; nothing renders."""
    with pytest.raises(KubernetesError, match=message):
        render_manifests(replace(DEPLOYMENT, **change))
