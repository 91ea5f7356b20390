"""The release's gate: the candidate against the target's live version, recorded as
``ttsops gate`` records it (a gate report in the ledger, report files on disk)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ttsops.errors import GateError
from ttsops.release.progress import Update, UpdateFn
from ttsops.release.result import GateStep

if TYPE_CHECKING:
    from ttsops.gate import GateReport, UtteranceResult
    from ttsops.registry import Registry
    from ttsops.settings import GateSettings

__all__ = ["MAIN_METRICS", "run_gate_step", "skipped"]

MAIN_METRICS = ("ovrl", "p808", "wer", "rtf", "duration_s")
"""Metrics a release summary shows (the full table is in the gate report)."""


def skipped(note: str) -> GateStep:
    """A gate that did not run, and why (recorded with the release)."""
    return GateStep(verdict="skipped", note=note)


def run_gate_step(
    registry: Registry,
    *,
    version: str,
    candidate_dir: Path,
    baseline: str,
    settings: GateSettings,
    report_dir: Path,
    on_update: UpdateFn,
) -> GateStep:
    """Gate ``version`` (files in ``candidate_dir``) against the registered ``baseline``.

    Writes the report under ``report_dir`` and records it in the ledger. A gate that could
    not run (a ``GateError``) is recorded as an error verdict and blocks the release.
    """
    from ttsops.bundle import load_manifest
    from ttsops.gate import run_gate, write_report
    from ttsops.gate.corpus import eval_set_for
    from ttsops.registry import Verdict

    started = time.perf_counter()
    base_dir = registry.fetch(baseline).path

    def progress(done: int, total: int, result: UtteranceResult | None) -> None:
        what = "loading models and scorers" if result is None else f"{result.role} {result.id}"
        on_update(Update("gate", what, done, total))

    try:
        # the sets of the candidate's languages (or [gate] languages): English, Mandarin, both
        sentences = eval_set_for(
            load_manifest(candidate_dir).languages, settings.eval_set, settings.languages
        )
        report = run_gate(
            candidate_dir,
            base_dir,
            settings=settings,
            eval_set=sentences,
            workers=settings.workers,
            audio_dir=report_dir / "audio",
            on_progress=progress,
            candidate_label=version,
            baseline_label=f"{baseline} (live)",
            cache=registry.ledger,
        )
    except GateError as exc:
        record = registry.ledger.record_gate_report(
            version, Verdict.ERROR, summary={"error": exc.message}, baseline=baseline
        )
        return GateStep(
            verdict="error",
            reasons=(exc.message,),
            baseline=baseline,
            report_id=record.id,
            seconds=time.perf_counter() - started,
        )
    write_report(report, report_dir)
    outcome = report.verdict.outcome.value
    record = registry.ledger.record_gate_report(
        version,
        Verdict(outcome),
        summary=report.to_dict(),
        baseline=baseline,
        report_uri=report_dir.resolve().as_uri(),
    )
    return GateStep(
        verdict=outcome,
        reasons=tuple(report.verdict.reasons),
        failed_checks=tuple(c.name for c in report.verdict.checks if c.outcome != "pass"),
        baseline=baseline,
        report_dir=str(report_dir),
        report_id=record.id,
        metrics=_main_numbers(report),
        seconds=time.perf_counter() - started,
    )


def _main_numbers(report: GateReport) -> tuple[dict[str, Any], ...]:
    rows = []
    for summary in report.summaries:
        if summary.metric.name not in MAIN_METRICS:
            continue
        rows.append(
            {
                "name": summary.metric.name,
                "label": summary.metric.label,
                "digits": summary.metric.digits,
                "candidate": summary.candidate.estimate if summary.candidate else None,
                "baseline": summary.baseline.estimate if summary.baseline else None,
                "delta": summary.delta.estimate if summary.delta else None,
                "low": summary.delta.low if summary.delta else None,
                "high": summary.delta.high if summary.delta else None,
            }
        )
    return tuple(rows)
