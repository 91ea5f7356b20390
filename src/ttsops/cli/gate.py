"""`ttsops gate CANDIDATE`: score a candidate voice against the live one; exit 0/1/2."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ttsops.cli import output
from ttsops.errors import GateError, TtsopsError

if TYPE_CHECKING:
    from ttsops.gate import EvalSet, GateReport, UtteranceResult
    from ttsops.gate.cache import ScoreStore
    from ttsops.registry import Registry
    from ttsops.settings import GateSettings, Settings

__all__ = ["EXIT_CODES", "gate"]

EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 1, "error": 2}
"""Exit code per outcome; inconclusive is 1 because missing evidence is never a pass."""

_SHOWN = ("ovrl", "p808", "wer", "cer", "similarity", "rtf", "latency_s", "duration_s", "lufs")
_STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow", "error": "red"}


class _Registry:
    """The registry, opened on first need (a gate of two directories never touches it)."""

    def __init__(self) -> None:
        self._registry: Registry | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def scratch(self, name: str) -> Path:
        """A directory ``name`` that lives as long as the command (a service made a version)."""
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="ttsops-gate-")
        return Path(self._scratch.name) / name

    @property
    def opened(self) -> bool:
        """Whether a version was looked up (so the ledger is open)."""
        return self._registry is not None

    def get(self) -> Registry:
        if self._registry is None:
            from ttsops.registry import Registry

            self._registry = Registry.open()
        return self._registry

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
        if self._scratch is not None:
            self._scratch.cleanup()


def _resolve(spec: str, role: str, registry: _Registry) -> tuple[Path, str | None]:
    """A bundle or service directory (a ``service.toml`` made a version), or a registered
    version fetched into the cache: (dir, version)."""
    path = Path(spec)
    if path.is_dir() or path.suffix == ".toml":
        from ttsops.gate.services import service_version_dir

        return service_version_dir(path, registry.scratch(role)), None
    from ttsops.errors import InvalidVersionError
    from ttsops.registry import normalize_version

    try:
        version = normalize_version(spec)
    except InvalidVersionError:
        raise GateError(
            f"{role} {spec!r} is neither a bundle or service directory nor a version; pass a "
            "directory holding bundle.toml or service.toml, or a registered version such as "
            "1.1.0"
        ) from None
    return registry.get().fetch(version).path, version


def _default_baseline(registry: _Registry) -> str:
    live = registry.get().ledger.live_version()
    if live is None:
        raise GateError(
            "no version is live in the ledger, so there is no baseline to compare with; "
            "pass --baseline VERSION or --baseline DIR (a bundle directory)"
        )
    return live


def _progress_line(result: UtteranceResult | None, round_note: str) -> str:
    if result is None:
        return round_note or "loading models and scorers…"
    return (
        f"{round_note} · {result.role} {result.id}" if round_note else f"{result.role} {result.id}"
    )


def _score_store(registry: _Registry, settings: Settings, no_cache: bool) -> ScoreStore | None:
    """The ledger as score cache: when a version was looked up, or a ledger is configured.

    A gate of two directories uses it only when ``ledger_url`` is set or the default ledger
    file exists (it never creates one); a ledger that cannot be opened then means no cache.
    """
    if registry.opened:
        return registry.get().ledger
    if settings.ledger_url is None and not (settings.home / "ledger.db").exists():
        return None
    try:
        return registry.get().ledger
    except TtsopsError as exc:
        output.warning(f"gating without the score cache: {exc.message}")
        return None


def _print_rounds(report: GateReport) -> None:
    if not report.rounds:
        return
    last = report.rounds[-1]
    looks = len(report.plan.get("looks", [])) or len(report.rounds)
    output.info(
        f"decided after round {last['round']} of at most {looks} "
        f"({last['sentences']} sentences): {last['why']}"
    )
    base = report.provenance.get("baseline", {})
    if base.get("cached"):
        when = str(base.get("scored_at", "?"))[:19].replace("T", " ")
        output.info(
            f"baseline: {base['cached']} sentences from the score cache (scored {when} UTC)"
            + (f", {base['fresh']} scored now" if base.get("fresh") else "")
        )


def _print(report: GateReport) -> None:
    rows = []
    for summary in report.summaries:
        if summary.metric.name not in _SHOWN:
            continue
        if summary.candidate is None and summary.baseline is None:
            continue  # a score this gate does not take (WER of a Mandarin set)
        d = summary.metric.digits
        cand = f"{summary.candidate.estimate:.{d}f}" if summary.candidate else "–"
        base = f"{summary.baseline.estimate:.{d}f}" if summary.baseline else "–"
        delta = "–"
        if summary.delta is not None:
            delta = (
                f"{summary.delta.estimate:+.{d}f} "
                f"[{summary.delta.low:+.{d}f}, {summary.delta.high:+.{d}f}]"
            )
        rows.append((summary.metric.label, cand, base, delta))
    if rows:
        output.table(
            f"{report.candidate.ref or report.candidate.label} vs "
            f"{report.baseline.ref or report.baseline.label} — {report.eval_set['label']}",
            ("metric", "candidate", "baseline", "Δ (CI)"),
            rows,
        )
    outcome = report.verdict.outcome.value
    _print_rounds(report)
    output.info(f"[bold {_STYLE[outcome]}]gate: {outcome.upper()}[/]", markup=True)
    for reason in report.verdict.reasons:
        output.info(f"  • {reason}")


def _record(
    registry: _Registry,
    version: str | None,
    outcome: str,
    summary: dict[str, Any],
    baseline: str | None,
    report_dir: Path | None,
) -> str:
    """Store the verdict in the ledger when the candidate is a registered version."""
    if version is None:
        return "not recorded in the ledger: the candidate is a directory, not a registered version"
    from ttsops.registry import Verdict

    uri = report_dir.resolve().as_uri() if report_dir is not None else None
    record = registry.get().ledger.record_gate_report(
        version, Verdict(outcome), summary=summary, baseline=baseline, report_uri=uri
    )
    return f"recorded in the ledger: gate report #{record.id} on {version}"


def gate(
    candidate: Annotated[
        str,
        typer.Argument(
            help="Candidate: a registered version (1.1.0), a bundle directory, or a service "
            "(a directory holding service.toml)."
        ),
    ],
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            help="Compare with this version, bundle or service directory (default: live).",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write report.json, report.md, metrics.png and audio here."),
    ] = None,
    eval_set: Annotated[
        Path | None,
        typer.Option(
            "--eval-set",
            help="Sentences (.txt or .jsonl); default: eval_set in ttsops.toml, else shipped.",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", min=1, help="Use only the first N sentences (of each language)."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Worker processes (default: cores).")
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option(
            "--summary", help='Append the Markdown report to this file ("$GITHUB_STEP_SUMMARY").'
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    no_cache: Annotated[
        bool,
        typer.Option(
            "--no-cache", help="Score the baseline afresh instead of reusing its cached scores."
        ),
    ] = False,
    language: Annotated[
        list[str] | None,
        typer.Option(
            "--language",
            help="Gate on the shipped set of this language (en, zh; repeatable); default: "
            "gate.languages in ttsops.toml, else the candidate's manifest languages.",
        ),
    ] = None,
    reference: Annotated[
        list[Path] | None,
        typer.Option(
            "--reference",
            help="A reference voice clip (WAV/FLAC; repeatable): the candidate also speaks "
            "with it and its speaker similarity is judged (default: gate.references).",
        ),
    ] = None,
) -> None:
    """Synthesize the evaluation set with CANDIDATE and the baseline, score both, decide.

    Scores per sentence: DNSMOS (OVRL, SIG, BAK, P.808), ASR word error rate
    (pocketsphinx) on English or character error rate (Whisper) on Mandarin sentences,
    real-time factor and latency, silence, clipping, loudness, and with --reference the
    speaker similarity to the clip. The sentences follow the candidate's languages (both
    sets for a bundle that speaks both). A service version (its own TTS server) is started
    for the gate, heard through its [speech] adapter, and stopped after. Thresholds come
    from the gate section of ttsops.toml. Sentences are scored in rounds and the gate
    stops once the answer is known; the baseline's scores come from the ledger's score
    cache when it was scored before. Exits 0 on pass, 1 on fail or inconclusive, 2 when
    the gate could not run.

    Example: ttsops gate 1.1.0 --report gate-report

    Example: ttsops gate bundles/kokoro-1.1.0 --baseline 1.0.0 --language zh

    Example: ttsops gate services/glmtts --baseline 1.0.0
    """
    registry = _Registry()
    cand_version: str | None = None
    try:
        from ttsops.settings import load_settings

        all_settings = load_settings()
        updates: dict[str, Any] = {}
        if language:
            updates["languages"] = language
        if reference:
            updates["references"] = reference
        settings = all_settings.gate.model_copy(update=updates)
        all_settings = all_settings.model_copy(update={"gate": settings})
        cand_dir, cand_version = _resolve(candidate, "candidate", registry)
        sentences = _sentences(cand_dir, eval_set or settings.eval_set, settings).limit(limit)
        report_obj, base_label = _run(
            registry,
            all_settings,
            sentences,
            cand_dir,
            cand_version,
            baseline,
            report,
            workers,
            no_cache,
        )
    except TtsopsError as exc:
        output.error(exc.message)
        if cand_version is not None:
            _try_record_error(registry, cand_version, exc.message)
        registry.close()
        raise typer.Exit(EXIT_CODES["error"]) from None
    outcome = report_obj.verdict.outcome.value
    data = report_obj.to_dict()
    try:
        recorded = _record(registry, cand_version, outcome, data, base_label, report)
    except TtsopsError as exc:
        recorded = f"not recorded in the ledger: {exc.message}"
        outcome = "error"
    finally:
        registry.close()
    written: dict[str, Path] = {}
    if report is not None:
        from ttsops.gate import write_report

        written = write_report(report_obj, report)
    if summary is not None:
        with summary.open("a", encoding="utf-8") as handle:
            handle.write(report_obj.to_markdown())
    if as_json:
        output.print_json({**data, "ledger": recorded})
    else:
        _print(report_obj)
        output.info(recorded)
        if written:
            output.info(f"report: {', '.join(str(p) for p in written.values())}")
    raise typer.Exit(EXIT_CODES[outcome])


def _run(
    registry: _Registry,
    all_settings: Settings,
    sentences: EvalSet,
    cand_dir: Path,
    cand_version: str | None,
    baseline: str | None,
    report: Path | None,
    workers: int | None,
    no_cache: bool,
) -> tuple[GateReport, str]:
    from ttsops.gate import run_gate

    settings: GateSettings = all_settings.gate
    base_spec = baseline or _default_baseline(registry)
    base_dir, base_version = _resolve(base_spec, "baseline", registry)
    base_label = base_version or str(base_dir)
    store = _score_store(registry, all_settings, no_cache)
    with output.progress(transient=True) as bar:
        task = bar.add_task("gate", total=None, extra="")
        state = {"round": "round 1"}

        def on_progress(done: int, total: int, result: UtteranceResult | None) -> None:
            line = _progress_line(result, state["round"])
            bar.update(task, completed=done, total=total or None, extra=line)

        def on_round(record: dict[str, Any]) -> None:
            state["round"] = f"round {record['round'] + 1} ({record['why']})"

        result = run_gate(
            cand_dir,
            base_dir,
            settings=settings,
            cache=store,
            fresh_baseline=no_cache,
            on_round=on_round,
            eval_set=sentences,
            workers=workers,
            audio_dir=report / "audio" if report is not None else None,
            on_progress=on_progress,
            candidate_label=cand_version or str(cand_dir),
            baseline_label=base_label + ("" if baseline else " (live)"),
        )
    return result, base_label


def _sentences(cand_dir: Path, path: Path | None, settings: GateSettings) -> EvalSet:
    """The evaluation set in the languages asked for, else in the candidate's."""
    from ttsops.bundle import load_manifest
    from ttsops.gate.corpus import eval_set_for

    if settings.languages:
        return eval_set_for((), path, settings.languages)
    return eval_set_for(load_manifest(cand_dir).languages, path)


def _try_record_error(registry: _Registry, version: str, message: str) -> None:
    """Best effort: a gate that errored on a registered version says so in the ledger."""
    try:
        from ttsops.registry import Verdict

        registry.get().ledger.record_gate_report(version, Verdict.ERROR, summary={"error": message})
    except TtsopsError as exc:
        output.warning(f"the error was not recorded in the ledger: {exc.message}")
