"""The Markdown summary of a release, for a CI step summary (``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ttsops.release.result import GateStep, Outcome, ReleaseResult

__all__ = ["render_summary", "write_summary"]

_BADGE = {
    Outcome.LIVE: "✅ LIVE",
    Outcome.ALREADY_LIVE: "✅ ALREADY LIVE",
    Outcome.BLOCKED: "⛔ BLOCKED BY THE GATE",
    Outcome.ROLLED_BACK: "↩️ ROLLED BACK",
    Outcome.FAILED: "❌ FAILED",
    Outcome.ABORTED: "⏹️ ABORTED",
    Outcome.TIMED_OUT: "⏱️ TIMED OUT",
    Outcome.ERROR: "❌ ERROR",
}
_VERDICT = {
    "pass": "✅ PASS",
    "fail": "❌ FAIL",
    "inconclusive": "⚠️ INCONCLUSIVE",
    "error": "❌ ERROR",
    "skipped": "⏭️ SKIPPED",
}


def render_summary(result: ReleaseResult) -> str:
    """The release as GitHub-flavoured Markdown: facts, gate, deployment, timeline."""
    lines = [
        f"## ttsops release: {_BADGE[result.outcome]} — `{result.version}` → {result.target}",
        "",
        _cell(result.reason),
        "",
        "| | |",
        "|---|---|",
        f"| version | `{result.version}` |",
        f"| commit | {f'`{result.commit}`' if result.commit else 'unknown'} |",
        f"| target | {result.target} (`{result.agent_url}`) |",
        f"| live before | {f'`{result.live_before}`' if result.live_before else 'nothing'} |",
        f"| strategy | {result.strategy} |",
        f"| outcome | {result.outcome.value} (exit {result.exit_code}) |",
        f"| duration | {_durations(result.timings)} |",
        "",
    ]
    if result.gate is not None:
        lines += _gate(result.gate)
    if result.deployment is not None:
        step = result.deployment
        lines += [
            f"### Deployment #{step.id}: {step.state}",
            "",
            f"{step.strategy}, {step.seconds:.1f} s"
            + (f"; reason: {_cell(step.reason)}" if step.reason else "")
            + (f"; downtime {step.downtime_s:.1f} s" if step.downtime_s else ""),
            "",
        ]
        if step.events:
            lines += ["| time (UTC) | event |", "|---|---|"]
            lines += [f"| {str(e['at'])[11:19]} | {_cell(e['message'])} |" for e in step.events]
            lines.append("")
    return "\n".join(lines)


def write_summary(markdown: str, paths: list[Path]) -> list[Path]:
    """Append ``markdown`` to each path (a step summary collects several steps)."""
    written = []
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
        written.append(path)
    return written


def _gate(gate: GateStep) -> list[str]:
    against = f" against `{gate.baseline}`" if gate.baseline else ""
    lines = [f"### Gate: {_VERDICT.get(gate.verdict, gate.verdict)}{against}", ""]
    if gate.note:
        lines += [f"Gate not run: {gate.note}.", ""]
    if gate.verdict != "skipped":
        lines += [f"- {_cell(reason)}" for reason in gate.reasons]
        lines.append("")
    if gate.metrics:
        lines += ["| metric | candidate | baseline | Δ [CI] |", "|---|---|---|---|"]
        lines += [_metric(row) for row in gate.metrics]
        lines.append("")
    if gate.report_dir:
        lines += [f"Full report: `{gate.report_dir}` (gate report #{gate.report_id})", ""]
    return lines


def _metric(row: dict[str, Any]) -> str:
    d = int(row["digits"])

    def num(value: float | None, sign: str = "") -> str:
        return "–" if value is None else f"{value:{sign}.{d}f}"

    delta = num(row["delta"], "+")
    if row["delta"] is not None:
        delta += f" [{num(row['low'], '+')}, {num(row['high'], '+')}]"
    return f"| {row['label']} | {num(row['candidate'])} | {num(row['baseline'])} | {delta} |"


def _durations(timings: dict[str, float]) -> str:
    total = f"{timings.get('total', 0.0):.1f} s"
    parts = [f"{k} {v:.1f} s" for k, v in timings.items() if k != "total"]
    return f"{total} ({', '.join(parts)})" if parts else total


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
