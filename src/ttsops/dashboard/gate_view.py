"""A gate report to read and to listen to: the table, the reasons, the plots, A/B audio.

The report is the one the ledger keeps (``gate_reports``: the full ``report.json`` as its
summary, and ``report_uri``, the report directory). The gate writes each sentence it
synthesizes to ``<report dir>/audio/<role>/<id>.wav``. A baseline scored from the score
cache was not synthesized in this run, so its audio is looked up in the directories of
earlier reports where the same version was synthesized (as candidate or baseline): the
synthesis is seeded, so it is the same audio the cached scores were taken on.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from pydantic import BaseModel, Field

from ttsops.errors import RequestError
from ttsops.registry import GateReportRecord, Ledger

__all__ = [
    "CheckRow",
    "GateReportNotFoundError",
    "GateView",
    "MetricRow",
    "SentencePair",
    "SentenceSide",
    "audio_file",
    "build_gate",
    "find_report",
    "plot_file",
    "report_dir",
]

Role = Literal["candidate", "baseline"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class GateReportNotFoundError(RequestError):
    """No gate report with that id, or no such file in it (404)."""

    http_status = 404
    code = "gate_report_not_found"


class MetricRow(BaseModel):
    """One metric: both means and the paired difference with its interval."""

    metric: str
    label: str
    better: str | None
    candidate: float | None
    baseline: float | None
    delta: float | None
    low: float | None
    high: float | None
    worse: bool
    """The whole interval lies on the worse side."""
    digits: int


class CheckRow(BaseModel):
    """One check of the verdict."""

    name: str
    outcome: str
    reason: str


class SentenceSide(BaseModel):
    """One model's take of one sentence."""

    audio: str | None
    """Path of its WAV under the dashboard (``gate/<id>/audio/<role>/<sentence>.wav``);
    None when the report directory does not have it."""
    ovrl: float | None
    wer: float | None
    duration_s: float | None
    transcript: str | None
    error: str | None


class SentencePair(BaseModel):
    """One sentence, both takes side by side."""

    id: str
    text: str
    regression: float
    """Candidate's OVRL drop plus its WER rise against the baseline (bigger is worse; a
    take that failed counts 10)."""
    candidate: SentenceSide
    baseline: SentenceSide


class GateView(BaseModel):
    """``GET /dashboard/api/gate/{id}``: one gate report."""

    id: int
    version: str
    baseline: str | None
    verdict: str
    reasons: list[str]
    created_at: datetime
    metrics: list[MetricRow] = Field(default_factory=list)
    checks: list[CheckRow] = Field(default_factory=list)
    sentences: list[SentencePair] = Field(default_factory=list)
    """Largest regression first."""
    plots: list[str] = Field(default_factory=list)
    """Paths of the report's PNG plots under the dashboard."""
    report_dir: str | None
    notes: list[str] = Field(default_factory=list)


def find_report(ledger: Ledger, report_id: int) -> GateReportRecord:
    """The ledger's gate report ``report_id``; 404 when there is none."""
    found = next((r for r in ledger.gate_reports() if r.id == report_id), None)
    if found is None:
        raise GateReportNotFoundError(
            f"there is no gate report #{report_id}; `ttsops show VERSION` lists a version's"
        )
    return found


def report_dir(record: GateReportRecord) -> Path | None:
    """The report's directory on this host, when its URI is a local one."""
    if not record.report_uri:
        return None
    parsed = urlparse(record.report_uri)
    if parsed.scheme not in ("file", ""):
        return None
    return Path(unquote(parsed.path))


def _report(record: GateReportRecord) -> dict[str, Any]:
    """The full report: the ledger's summary, else ``report.json`` in its directory."""
    if "utterances" in record.summary:
        return record.summary
    folder = report_dir(record)
    path = folder / "report.json" if folder else None
    if path is not None and path.is_file():
        try:
            loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return record.summary
        return loaded
    return record.summary


def audio_file(ledger: Ledger, record: GateReportRecord, role: str, sentence: str) -> Path | None:
    """The WAV of ``sentence`` as ``role`` spoke it in report ``record``, if kept anywhere."""
    if role not in ("candidate", "baseline") or not _SAFE_ID.match(sentence):
        return None
    folder = report_dir(record)
    own = folder / "audio" / role / f"{sentence}.wav" if folder else None
    if own is not None and own.is_file():
        return own
    if role == "candidate" or record.baseline is None:
        return None
    for other in ledger.gate_reports():  # the baseline version synthesized in another gate
        where = report_dir(other)
        if other.id == record.id or where is None:
            continue
        for side, version in (("candidate", other.version), ("baseline", other.baseline)):
            path = where / "audio" / side / f"{sentence}.wav"
            if version == record.baseline and path.is_file():
                return path
    return None


def plot_file(record: GateReportRecord, name: str) -> Path:
    """A PNG plot of the report; 404 unless it is one in the report directory."""
    folder = report_dir(record)
    if folder is None or not _SAFE_ID.match(name) or not name.endswith(".png"):
        raise GateReportNotFoundError(f"gate report #{record.id} has no plot {name!r}")
    path = folder / name
    if not path.is_file():
        raise GateReportNotFoundError(
            f"gate report #{record.id} has no plot {name} (its directory {folder} lacks it)"
        )
    return path


def build_gate(ledger: Ledger, report_id: int) -> GateView:
    """Report ``report_id`` as the dashboard shows it."""
    record = find_report(ledger, report_id)
    data = _report(record)
    verdict = data.get("verdict") or {}
    reasons = [str(r) for r in verdict.get("reasons", ())]
    if not reasons and "error" in data:
        reasons = [str(data["error"])]
    folder = report_dir(record)
    plots = sorted(p.name for p in folder.glob("*.png")) if folder and folder.is_dir() else []
    return GateView(
        id=record.id,
        version=record.version,
        baseline=record.baseline,
        verdict=record.verdict.value,
        reasons=reasons,
        created_at=record.created_at,
        metrics=[_metric(m) for m in data.get("metrics", ())],
        checks=[
            CheckRow(name=str(c["name"]), outcome=str(c["outcome"]), reason=str(c["reason"]))
            for c in verdict.get("checks", ())
        ],
        sentences=_sentences(ledger, record, data.get("utterances", ())),
        plots=[f"gate/{record.id}/{name}" for name in plots],
        report_dir=str(folder) if folder else None,
        notes=[str(n) for n in data.get("notes", ())],
    )


def _metric(m: dict[str, Any]) -> MetricRow:
    from ttsops.gate.results import METRICS

    digits = next((x.digits for x in METRICS if x.name == m.get("metric")), 2)
    delta = m.get("delta") or {}
    low, high = delta.get("low"), delta.get("high")
    better = m.get("better")
    worse = (
        low is not None
        and high is not None
        and ((better == "higher" and high < 0) or (better == "lower" and low > 0))
    )
    return MetricRow(
        metric=str(m.get("metric")),
        label=str(m.get("label")),
        better=better,
        candidate=(m.get("candidate") or {}).get("estimate"),
        baseline=(m.get("baseline") or {}).get("estimate"),
        delta=delta.get("estimate"),
        low=low,
        high=high,
        worse=worse,
        digits=digits,
    )


def _sentences(ledger: Ledger, record: GateReportRecord, utterances: Any) -> list[SentencePair]:
    takes: dict[str, dict[str, dict[str, Any]]] = {}
    for u in utterances:
        takes.setdefault(str(u["id"]), {})[str(u["role"])] = u
    pairs = []
    for sentence, sides in takes.items():
        cand, base = sides.get("candidate"), sides.get("baseline")
        text = str((cand or base or {}).get("text", ""))
        pairs.append(
            SentencePair(
                id=sentence,
                text=text,
                regression=_regression(cand, base),
                candidate=_side(ledger, record, "candidate", sentence, cand),
                baseline=_side(ledger, record, "baseline", sentence, base),
            )
        )
    pairs.sort(key=lambda p: -p.regression)
    return pairs


def _regression(cand: dict[str, Any] | None, base: dict[str, Any] | None) -> float:
    if cand is None or cand.get("error"):
        return 10.0
    if base is None:
        return 0.0
    c, b = cand.get("metrics") or {}, base.get("metrics") or {}
    drop = 0.0
    if c.get("ovrl") is not None and b.get("ovrl") is not None:
        drop += float(b["ovrl"]) - float(c["ovrl"])
    if c.get("wer") is not None and b.get("wer") is not None:
        drop += float(c["wer"]) - float(b["wer"])
    return round(drop, 4)


def _side(
    ledger: Ledger,
    record: GateReportRecord,
    role: Role,
    sentence: str,
    take: dict[str, Any] | None,
) -> SentenceSide:
    metrics = (take or {}).get("metrics") or {}
    found = audio_file(ledger, record, role, sentence) if _SAFE_ID.match(sentence) else None
    return SentenceSide(
        audio=f"gate/{record.id}/audio/{role}/{sentence}.wav" if found else None,
        ovrl=metrics.get("ovrl"),
        wer=metrics.get("wer"),
        duration_s=metrics.get("duration_s"),
        transcript=(take or {}).get("transcript"),
        error=(take or {}).get("error") if take else "not in the report",
    )
