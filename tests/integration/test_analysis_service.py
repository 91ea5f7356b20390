"""`ttsops analysis serve`, called exactly as Argo Rollouts' web metric calls it.

No cluster (and no Argo controller) runs here, so the test does what the controller does
with the AnalysisTemplate that `ttsops k8s render --rollouts` writes: substitute the args
into the metric (as Argo's ``ResolveMetricArgs``: the metric as JSON, each ``{{args.x}}``
replaced by the JSON-escaped value), send its method, URL and ``jsonBody``, count a non-2xx
answer as a measurement Error, read ``jsonPath`` from the JSON and apply
``successCondition`` / ``failureCondition`` as Argo's ``EvaluateResult`` does (neither →
Inconclusive). The services judged are two real `ttsops serve` processes: joe 1.0.0 (the
good one: stable, and canary of "good against good") and a degraded joe (weights perturbed
50%, what the gate blocks) as the bad canary.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ttsops.bundle import DeriveRecipe, derive_bundle
from ttsops.k8s import K8sOptions, render_manifests
from ttsops.testing import ServerProcess


class AnalysisProcess:
    """A real `ttsops analysis serve` child on an ephemeral loopback port."""

    def __init__(self, root: Path) -> None:
        self.port_file = root / "analysis.port"
        self.log_path = root / "analysis.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> AnalysisProcess:
        """Start it and wait until /healthz answers."""
        cmd = [sys.executable, "-m", "ttsops", "analysis", "serve", "--port", "0"]
        cmd += ["--port-file", str(self.port_file)]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_path.read_text(errors="replace")
            if self.port_file.is_file():
                self.url = f"http://127.0.0.1:{self.port_file.read_text().strip()}"
                try:
                    if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        raise TimeoutError(self.log_path.read_text(errors="replace"))

    def stop(self) -> None:
        """Terminate it (by PID) and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def services(
    tmp_path_factory: pytest.TempPathFactory, joe_bundle: Path, joe_server: ServerProcess
) -> Iterator[dict[str, str]]:
    """good: joe 1.0.0; noisy: joe with weights perturbed 50%; the analysis service."""
    root = tmp_path_factory.mktemp("analysis")
    analysis = AnalysisProcess(root)
    noisy = ServerProcess(root / "noisy")
    try:
        with ThreadPoolExecutor(2) as pool:  # DNSMOS loads while the voice is derived and starts
            started = pool.submit(analysis.start)
            derive_bundle(
                joe_bundle, root / "noisy", version="1.2.0", recipe=DeriveRecipe(perturb_sigma=0.5)
            )
            noisy.start()
            started.result()
        yield {"good": joe_server.url, "noisy": noisy.url, "analysis": analysis.url}
    finally:
        analysis.stop()
        noisy.stop()


@pytest.fixture(scope="module")
def metric() -> dict[str, Any]:
    """The web metric of the AnalysisTemplate `ttsops k8s render --rollouts` writes."""
    options = K8sOptions(name="joe", version="1.1.0", image="localhost/joe:1.1.0", rollouts=True)
    template = yaml.safe_load(render_manifests(options)["analysis-template.yaml"])
    (only,) = template["spec"]["metrics"]
    defaults = {a["name"]: a.get("value") for a in template["spec"]["args"]}
    return {"metric": only, "defaults": defaults}


def _resolve(metric: dict[str, Any], args: dict[str, str]) -> dict[str, Any]:
    """Argo's ResolveMetricArgs: the metric as JSON with each {{args.x}} JSON-escaped in."""
    text = json.dumps(metric)

    def value(match: re.Match[str]) -> str:
        return json.dumps(args[match.group(1)])[1:-1]

    resolved: dict[str, Any] = json.loads(re.sub(r"\{\{\s*args\.([\w-]+)\s*\}\}", value, text))
    return resolved


def _json_path(path: str, data: Any) -> Any:
    """The subset of Kubernetes JSONPath the template uses: ``{$.a.b}``."""
    match = re.fullmatch(r"\{\$((?:\.[\w-]+)*)\}", path)
    assert match, f"unsupported jsonPath {path}"
    for key in match.group(1).split(".")[1:]:
        data = data[key]
    return data


def _condition(expression: str, result: Any) -> bool:
    """The subset of expr the template uses: ``result == "text"``."""
    match = re.fullmatch(r'result == "([^"]*)"', expression)
    assert match, f"unsupported condition {expression}"
    return bool(result == match.group(1))


def _argo_measure(
    metric: dict[str, Any], defaults: dict[str, str | None], **args: str
) -> tuple[str, Any]:
    """One measurement as Argo's web provider takes it: (phase, the JSON answer)."""
    given = {k: v for k, v in defaults.items() if v is not None}
    given.update({k.replace("_", "-"): v for k, v in args.items()})
    resolved = _resolve(metric, given)
    web = resolved["provider"]["web"]
    headers = {h["key"]: h["value"] for h in web.get("headers", [])}
    content = None
    if "jsonBody" in web:
        headers["Content-Type"] = "application/json"
        content = json.dumps(web["jsonBody"])
    reply = httpx.request(
        web.get("method", "GET"),
        web["url"],
        headers=headers,
        content=content,
        timeout=web.get("timeoutSeconds", 10),
    )
    answer = reply.json()
    if not 200 <= reply.status_code < 300:
        return "Error", answer
    result = _json_path(web.get("jsonPath", "{$}"), answer)
    success = _condition(resolved["successCondition"], result)
    failure = _condition(resolved["failureCondition"], result)
    if failure:
        return "Failed", answer
    if success:
        return "Successful", answer
    return "Inconclusive", answer


def test_good_against_good_passes(services: dict[str, str], metric: dict[str, Any]) -> None:
    """joe against joe: every check passes and Argo's measurement is Successful."""
    phase, answer = _argo_measure(
        metric["metric"],
        metric["defaults"],
        canary_url=services["good"],
        stable_url=services["good"],
        analysis_url=services["analysis"],
    )
    assert answer["verdict"] == "pass", answer["reasons"]
    assert phase == "Successful"
    assert {c["name"]: c["outcome"] for c in answer["checks"]} == {
        "error_rate": "pass",
        "latency_p95": "pass",
        "audio_quality": "pass",
    }
    assert answer["canary"]["version"] == answer["stable"]["version"] == "1.0.0"
    for side in ("canary", "stable"):
        assert answer[side]["errors"] == 0 and answer[side]["requests"] >= 5
        assert len(answer[side]["ovrl"]) == answer[side]["requests"]


def test_a_degraded_canary_fails(services: dict[str, str], metric: dict[str, Any]) -> None:
    """Weights perturbed 50% against joe: DNSMOS hears it; fail, and Argo's measurement Failed."""
    phase, answer = _argo_measure(
        metric["metric"],
        metric["defaults"],
        canary_url=services["noisy"],
        stable_url=services["good"],
        analysis_url=services["analysis"],
    )
    assert answer["verdict"] == "fail", answer["reasons"]
    assert phase == "Failed"
    assert answer["canary"]["version"] == "1.2.0" and answer["stable"]["version"] == "1.0.0"
    audio = next(c for c in answer["checks"] if c["name"] == "audio_quality")
    assert audio["outcome"] == "fail"
    assert audio["observed"] > audio["limit"]
    assert any("DNSMOS" in reason for reason in answer["reasons"])


def test_too_few_probes_is_inconclusive(services: dict[str, str]) -> None:
    """One probe is fewer than the checks need: inconclusive, which neither condition matches."""
    reply = httpx.post(
        f"{services['analysis']}/v1/analysis",
        json={"canary": services["good"], "stable": services["good"], "probes": 1},
        timeout=120,
    )
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["verdict"] == "inconclusive"
    assert not _condition('result == "pass"', answer["verdict"])
    assert not _condition('result == "fail"', answer["verdict"])


def test_a_service_that_does_not_answer_is_a_400_that_argo_counts_as_an_error(
    services: dict[str, str], metric: dict[str, Any]
) -> None:
    """Nothing listens at the canary URL: 400 naming it, never a 500; Argo's phase is Error."""
    phase, answer = _argo_measure(
        metric["metric"],
        metric["defaults"],
        canary_url="http://127.0.0.1:9",
        stable_url=services["good"],
        analysis_url=services["analysis"],
    )
    assert phase == "Error"
    assert answer["error"]["code"] == "analysis_error"
    assert "canary service http://127.0.0.1:9 does not answer" in answer["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"canary": "not a url", "stable": "http://127.0.0.1:1"}, "canary"),
        ({"canary": "http://127.0.0.1:1"}, "stable"),
        ({"canary": "ftp://x", "stable": "http://127.0.0.1:1"}, "canary"),
        ({"canary": "http://a", "stable": "http://b", "probes": 0}, "probes"),
    ],
)
def test_a_bad_request_is_a_422_naming_the_field(
    services: dict[str, str], body: dict[str, Any], field: str
) -> None:
    """A malformed URL, a missing service or a bad probe count: 422 with a JSON error."""
    reply = httpx.post(f"{services['analysis']}/v1/analysis", json=body, timeout=10)
    assert reply.status_code == 422
    assert f"body.{field}" in reply.json()["error"]["message"]


def test_a_server_that_is_not_ttsops_is_a_400(services: dict[str, str]) -> None:
    """The analysis service's own port is no TTS server: 400 saying so."""
    reply = httpx.post(
        f"{services['analysis']}/v1/analysis",
        json={"canary": services["analysis"], "stable": services["good"]},
        timeout=30,
    )
    assert reply.status_code == 400
    assert "is not a ttsops server" in reply.json()["error"]["message"]


def test_the_openapi_schema_describes_the_route_and_its_errors(services: dict[str, str]) -> None:
    """/openapi.json has POST /v1/analysis with its answer, 400 and 422."""
    schema = httpx.get(f"{services['analysis']}/openapi.json", timeout=10).json()
    route = schema["paths"]["/v1/analysis"]["post"]
    assert {"200", "400", "422"} <= set(route["responses"])
    answer = schema["components"]["schemas"]["AnalysisAnswer"]
    assert answer["properties"]["verdict"]["enum"] == ["pass", "fail", "inconclusive", "error"]
