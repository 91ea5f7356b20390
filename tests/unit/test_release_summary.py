"""The Markdown step summary of a release: verdict, reasons, numbers, outcome, timeline."""

from __future__ import annotations

import json
from pathlib import Path

from ttsops.release import DeployStep, GateStep, Outcome, ReleaseResult, render_summary
from ttsops.release.summary import write_summary

_BLOCKED_GATE = GateStep(
    verdict="fail",
    reasons=("mean DNSMOS OVRL dropped by 0.80 | limit 0.10",),
    failed_checks=("ovrl_drop",),
    baseline="1.0.0",
    report_dir=".ttsops/releases/1.1.0",
    report_id=7,
    metrics=(
        {
            "name": "ovrl",
            "label": "DNSMOS OVRL",
            "digits": 2,
            "candidate": 2.31,
            "baseline": 3.11,
            "delta": -0.8,
            "low": -0.9,
            "high": -0.7,
        },
    ),
    seconds=31.0,
)


def _result(outcome: Outcome, **kw: object) -> ReleaseResult:
    base: dict[str, object] = {
        "version": "1.1.0",
        "outcome": outcome,
        "reason": "why it ended",
        "target": "production",
        "agent_url": "http://prod:6007",
        "source": "bundles/joe",
        "strategy": "canary",
        "commit": "3f2a1c9d",
        "live_before": "1.0.0",
        "timings": {"register": 1.0, "gate": 31.0, "total": 33.5},
    }
    return ReleaseResult(**{**base, **kw})  # type: ignore[arg-type]


def test_a_blocked_release_shows_the_verdict_reasons_and_numbers() -> None:
    """Blocked by the gate: badge, FAIL, every reason (pipes escaped), the OVRL row."""
    md = render_summary(_result(Outcome.BLOCKED, gate=_BLOCKED_GATE, reason="gate FAIL: x"))
    assert md.startswith("## ttsops release: ⛔ BLOCKED BY THE GATE — `1.1.0` → production")
    assert "### Gate: ❌ FAIL against `1.0.0`" in md
    assert "- mean DNSMOS OVRL dropped by 0.80 \\| limit 0.10" in md
    assert "| DNSMOS OVRL | 2.31 | 3.11 | -0.80 [-0.90, -0.70] |" in md
    assert "| outcome | blocked (exit 3) |" in md
    assert "| commit | `3f2a1c9d` |" in md
    assert "33.5 s (register 1.0 s, gate 31.0 s)" in md
    assert "gate report #7" in md
    assert "Deployment" not in md


def test_a_promoted_release_shows_the_deployment_and_its_timeline() -> None:
    """Live: deployment id, state and each event with its time."""
    deployment = DeployStep(
        id=4,
        strategy="canary",
        state="live",
        events=(
            {"at": "2026-11-22T06:00:01+00:00", "kind": "rollout.phase", "message": "10% canary"},
            {"at": "2026-11-22T06:01:02+00:00", "kind": "rollout.phase", "message": "promoted"},
        ),
        seconds=61.0,
    )
    md = render_summary(_result(Outcome.LIVE, gate=GateStep(verdict="pass"), deployment=deployment))
    assert "✅ LIVE" in md and "### Gate: ✅ PASS" in md
    assert "### Deployment #4: live" in md
    assert "| 06:00:01 | 10% canary |" in md and "| 06:01:02 | promoted |" in md


def test_a_rolled_back_release_gives_the_reason() -> None:
    """Rolled back: the deployment's reason is in the summary, exit 4."""
    deployment = DeployStep(id=5, strategy="canary", state="rolled_back", reason="p95 1.9x")
    md = render_summary(
        _result(Outcome.ROLLED_BACK, deployment=deployment, reason="deployment #5 rolled_back")
    )
    assert "↩️ ROLLED BACK" in md and "reason: p95 1.9x" in md
    assert "| outcome | rolled_back (exit 4) |" in md


def test_a_skipped_gate_says_why() -> None:
    """First release: the gate is shown as skipped with its note."""
    gate = GateStep(verdict="skipped", note="first release: no baseline to compare with")
    md = render_summary(_result(Outcome.LIVE, gate=gate, live_before=None))
    assert "### Gate: ⏭️ SKIPPED" in md
    assert "first release: no baseline to compare with" in md
    assert "| live before | nothing |" in md


def test_summary_is_appended_and_result_is_json(tmp_path: Path) -> None:
    """write_summary appends (a step summary has other steps); to_dict is JSON."""
    path = tmp_path / "step" / "summary.md"
    path.parent.mkdir()
    path.write_text("earlier step\n")
    result = _result(Outcome.BLOCKED, gate=_BLOCKED_GATE)
    write_summary(render_summary(result), [path])
    text = path.read_text()
    assert text.startswith("earlier step\n## ttsops release")
    data = json.loads(json.dumps(result.to_dict()))
    assert (data["outcome"], data["exit_code"]) == ("blocked", 3)
    assert data["gate"]["failed_checks"] == ["ovrl_drop"]
