"""The gate report as a reader gets it: JSON, Markdown for a PR comment, PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ttsops.gate.policy import judge
from ttsops.gate.report import GateReport, ModelInfo, write_report
from ttsops.gate.results import Role, UtteranceResult, summarize
from ttsops.settings import GateSettings

RATE = 22050


def _utterances(role: Role, ovrl: float, rtf: float) -> list[UtteranceResult]:
    return [
        UtteranceResult(
            role,
            f"s{i:02d}",
            f"Sentence number {i}.",
            f"sentence number {i}",
            {
                "ovrl": ovrl + 0.02 * (i % 3),
                "sig": 3.5,
                "bak": 4.0,
                "p808": 4.0,
                "wer": 0.1 * (i % 4),
                "rtf": rtf,
                "latency_s": 0.2,
                "duration_s": 2.0,
                "sec_per_char": 0.1,
                "leading_silence_s": 0.05,
                "trailing_silence_s": 0.1,
                "longest_pause_s": 0.2,
                "clipping": 0.0,
                "lufs": -20.0,
            },
            transcript=f"sentence number {i}",
            sample_rate=RATE,
            speech_s=1.8,
        )
        for i in range(8)
    ]


@pytest.fixture
def failing_report() -> GateReport:
    """A candidate 0.4 OVRL worse and 3× slower than its baseline."""
    settings = GateSettings()
    cand, base = _utterances("candidate", 2.9, 0.3), _utterances("baseline", 3.3, 0.1)
    return GateReport(
        verdict=judge(cand, base, settings, expected_rate=RATE),
        candidate=ModelInfo(
            "candidate", "1.4.0", "/b/int8", ref="joe@1.4.0", recipe="quantize int8"
        ),
        baseline=ModelInfo("baseline", "1.0.0 (live)", "/b/joe", ref="joe@1.0.0"),
        eval_set={"name": "t", "version": "1", "digest": "0" * 64, "count": 8, "label": "t v1"},
        settings=settings.model_dump(mode="json"),
        summaries=summarize(cand, base),
        utterances=cand + base,
        timing={"wall_s": 12.0, "workers": 2},
        notes=["synthesis cannot be seeded"],
    )


def test_markdown_leads_with_the_verdict_and_its_reasons(failing_report: GateReport) -> None:
    """The Markdown starts with FAIL and the models, then says why, then the table."""
    text = failing_report.to_markdown()
    assert text.startswith("## ttsops gate: ❌ FAIL — `joe@1.4.0` vs `joe@1.0.0`")
    assert "DNSMOS OVRL dropped 0.40" in text
    assert "the candidate is slower" in text
    assert "| DNSMOS OVRL | 2.92 | 3.32 | -0.40 (-0.40…-0.40) 🔴 |" in text
    assert "| `rtf_ratio` | ❌ fail |" in text
    assert "quantize int8" in text


def test_json_has_everything_to_recompute(failing_report: GateReport) -> None:
    """The JSON names the schema, verdict, checks, thresholds and every utterance."""
    data = json.loads(json.dumps(failing_report.to_dict()))
    assert data["schema"] == "ttsops.gate.report/1"
    assert data["verdict"]["outcome"] == "fail"
    assert {c["name"] for c in data["verdict"]["checks"]} >= {"ovrl_drop", "rtf_ratio"}
    assert data["settings"]["max_ovrl_drop"] == 0.1
    assert len(data["utterances"]) == 16
    assert UtteranceResult.from_dict(data["utterances"][0]).role == "candidate"


def test_write_report_makes_json_markdown_and_png(
    failing_report: GateReport, tmp_path: Path
) -> None:
    """write_report leaves report.json, report.md and a PNG image in the directory."""
    written = write_report(failing_report, tmp_path / "report")
    assert written["json"].is_file()
    assert written["markdown"].read_text(encoding="utf-8").startswith("## ttsops gate")
    assert written["plots"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
