"""The gate's evidence as files: JSON for machines, Markdown for people, PNG plots.

The Markdown fits a GitHub step summary or a PR comment: the verdict and its reasons
first, then a table of candidate vs baseline with paired deltas, then the sentences the
ASR heard worst.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ttsops.gate.results import MetricSummary, UtteranceResult
from ttsops.verdict import Outcome, Verdict

__all__ = ["GateReport", "ModelInfo", "write_report"]

_BADGE = {
    Outcome.PASS: "✅ PASS",
    Outcome.FAIL: "❌ FAIL",
    Outcome.INCONCLUSIVE: "⚠️ INCONCLUSIVE",
    Outcome.ERROR: "💥 ERROR",
}
_CHECK_MARK = {
    Outcome.PASS: "✅",
    Outcome.FAIL: "❌",
    Outcome.INCONCLUSIVE: "⚠️",
    Outcome.ERROR: "💥",
}


@dataclass(frozen=True)
class ModelInfo:
    """Which model played a role in the gate."""

    role: str
    """``candidate`` or ``baseline``."""

    label: str
    """What the user named it: a version (``1.1.0``) or a bundle directory."""

    path: str
    """The bundle directory that was loaded."""

    ref: str | None = None
    """``name@version`` from its manifest."""

    digest: str | None = None
    """Bundle digest from its manifest."""

    recipe: str | None = None
    """How it was derived from its parent, if it was."""

    registered: bool = False
    """True when ``label`` is a version in the ledger."""


@dataclass(frozen=True)
class GateReport:
    """Everything one gate run decided and measured."""

    verdict: Verdict
    """The decision and the checks behind it."""

    candidate: ModelInfo
    """The model under test."""

    baseline: ModelInfo
    """The model it was compared with."""

    eval_set: dict[str, Any]
    """Name, version, digest and size of the evaluation set."""

    settings: dict[str, Any]
    """Thresholds in force (``[gate]``)."""

    summaries: list[MetricSummary] = field(default_factory=list)
    """Per-metric means and paired deltas."""

    utterances: list[UtteranceResult] = field(default_factory=list)
    """Every sentence of both models."""

    timing: dict[str, Any] = field(default_factory=dict)
    """Wall time, load time, workers."""

    notes: list[str] = field(default_factory=list)
    """Caveats a reader should know (e.g. how synthesis is seeded)."""

    rounds: list[dict[str, Any]] = field(default_factory=list)
    """One record per round: sentences so far, how many were new, scored or cached, the
    outcome at that look and why the gate stopped or went on."""

    plan: dict[str, Any] = field(default_factory=dict)
    """The looks fixed before the first round, and the per-look confidence."""

    provenance: dict[str, Any] = field(default_factory=dict)
    """Where each side's scores came from (fresh or the cache, and when it was scored)."""

    similarity: dict[str, Any] = field(default_factory=dict)
    """Speaker similarity: ``state`` (``on``, ``candidate only``, ``skipped``, ``off``), the
    ``reason`` when not on, and the reference clips' names."""

    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When the gate ran."""

    def results(self, role: str) -> list[UtteranceResult]:
        """The utterances of one role, in evaluation-set order."""
        return [u for u in self.utterances if u.role == role]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``report.json``)."""
        from ttsops import __version__

        return {
            "schema": "ttsops.gate.report/1",
            "ttsops_version": __version__,
            "created_at": self.created_at.isoformat(),
            "verdict": self.verdict.to_dict(),
            "candidate": asdict(self.candidate),
            "baseline": asdict(self.baseline),
            "eval_set": self.eval_set,
            "settings": self.settings,
            "metrics": [s.to_dict() for s in self.summaries],
            "timing": self.timing,
            "rounds": self.rounds,
            "plan": self.plan,
            "provenance": self.provenance,
            "similarity": self.similarity,
            "notes": self.notes,
            "utterances": [u.to_dict() for u in self.utterances],
        }

    def to_markdown(self) -> str:
        """The report as GitHub-flavoured Markdown."""
        cand, base = self.candidate, self.baseline
        lines = [
            f"## ttsops gate: {_BADGE[self.verdict.outcome]} — "
            f"`{cand.ref or cand.label}` vs `{base.ref or base.label}`",
            "",
        ]
        lines += [f"- {reason}" for reason in self.verdict.reasons]
        lines += self._rounds_lines()
        confidence = float(
            self.plan.get("confidence_per_look", self.settings.get("confidence", 0.95))
        )
        lines += ["", _metrics_table(self.summaries, confidence)] if self.summaries else []
        if self.verdict.checks:
            lines += ["", "| check | result | reason |", "|---|---|---|"]
            lines += [
                f"| `{c.name}` | {_CHECK_MARK[c.outcome]} {c.outcome.value} | {_cell(c.reason)} |"
                for c in self.verdict.checks
            ]
        lines += ["", *self._worst_sentences()]
        wall = self.timing.get("wall_s")
        lines += [
            "",
            f"<sub>{self.eval_set.get('label', '')} · candidate {cand.label}"
            + (f" ({cand.recipe})" if cand.recipe else "")
            + f" · baseline {base.label}"
            + (f" · {wall:.0f} s on {self.timing.get('workers')} workers" if wall else "")
            + "</sub>",
        ]
        lines += [f"<sub>{note}</sub>" for note in self.notes]
        return "\n".join(lines) + "\n"

    def _rounds_lines(self) -> list[str]:
        if not self.rounds:
            return []
        last, looks = self.rounds[-1], len(self.plan.get("looks", [])) or len(self.rounds)
        lines = [
            "",
            f"Decided after round {last['round']} of at most {looks} "
            f"({last['sentences']} sentences): {last['why']}.",
        ]
        base = self.provenance.get("baseline", {})
        if base.get("cached"):
            lines.append(
                f"Baseline scores of {base['cached']} sentences came from the cache "
                f"(scored {base.get('scored_at', '?')[:19].replace('T', ' ')} UTC)"
                + (f", {base['fresh']} scored now" if base.get("fresh") else "")
                + f"; {base.get('timing', '')}."
            )
        elif base:
            lines.append("Both sides were synthesized and scored in this run.")
        return lines

    def _worst_sentences(self, count: int = 5) -> list[str]:
        worst = sorted(
            (u for u in self.results("candidate") if _error_rate(u) is not None),
            key=lambda u: -(_error_rate(u) or 0.0),
        )[:count]
        if not worst:
            return []
        base = {u.id: u for u in self.results("baseline")}
        lines = [
            "<details><summary>Sentences the ASR heard worst (candidate)</summary>",
            "",
            "| id | error rate | baseline | heard |",
            "|---|---|---|---|",
        ]
        for u in worst:
            other = base.get(u.id)
            other_rate = _fmt(_error_rate(other) if other else None, 2)
            heard = _cell(u.transcript or "")
            kind = "CER" if "cer" in u.metrics else "WER"
            lines.append(f"| {u.id} | {kind} {_error_rate(u):.2f} | {other_rate} | {heard} |")
        return [*lines, "", "</details>"]


def _error_rate(result: UtteranceResult) -> float | None:
    """The sentence's WER (English) or CER (Mandarin)."""
    value = result.metrics.get("wer")
    return value if value is not None else result.metrics.get("cer")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _metrics_table(summaries: list[MetricSummary], confidence: float) -> str:
    rows = [f"| metric | candidate | baseline | Δ ({confidence:.0%} CI) |", "|---|---:|---:|---|"]
    for s in summaries:
        if s.candidate is None and s.baseline is None:
            continue  # a score this gate does not take (CER of an English set, similarity)
        d = s.metric.digits
        delta = "–"
        if s.delta is not None:
            arrow = ""
            if s.metric.better and s.delta.low > 0:
                arrow = " 🟢" if s.metric.better == "higher" else " 🔴"
            elif s.metric.better and s.delta.high < 0:
                arrow = " 🔴" if s.metric.better == "higher" else " 🟢"
            delta = f"{s.delta.estimate:+.{d}f} ({s.delta.low:+.{d}f}…{s.delta.high:+.{d}f}){arrow}"
        rows.append(
            f"| {s.metric.label} | {_fmt(s.candidate.estimate if s.candidate else None, d)} | "
            f"{_fmt(s.baseline.estimate if s.baseline else None, d)} | {delta} |"
        )
    return "\n".join(rows)


def write_report(report: GateReport, out_dir: Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and the PNG plots into ``out_dir``."""
    from ttsops.gate.plots import plot_distributions

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {
        "json": out_dir / "report.json",
        "markdown": out_dir / "report.md",
    }
    written["json"].write_text(
        json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    written["markdown"].write_text(report.to_markdown(), encoding="utf-8")
    if report.utterances:
        written["plots"] = plot_distributions(report, out_dir / "metrics.png")
    return written
