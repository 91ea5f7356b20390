"""Running a gate: synthesize and score in rounds, reuse the baseline's cached scores, decide.

The sentences go to a pool of worker processes (``ttsops.gate.worker``), one per core,
each holding the models it needs and every scorer. A gate scores ``round_size`` sentences
at a time and judges after each round (``ttsops.gate.rounds``): it stops at the first
decided fail, passes once the core set is in and every check passes, and adds sentences of
the extended pool while a check is undecided.

With a score store (the ledger), the baseline's per-sentence scores are read from the
cache when it was scored before with the same sentences, scorers and seed, so only the
candidate is synthesized and scored; its real-time factor is compared with a few of the
baseline's sentences synthesized again alongside it, under the same load. Fresh scores of
both sides are stored after the gate.

Both models must speak every language of the evaluation set (their manifests'
``languages``): a candidate gated on sentences it does not speak, or against a baseline
that does not speak them, is refused before anything is synthesized. With reference clips
(``[gate] references``), speaker similarity is scored where the candidate's engine can take
a reference, and skipped, with the reason in the report, where it cannot.

A side that is a service version (``ttsops.gate.services``) is started for the run and
heard through its speech adapter; the rest of the gate is the same.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from ttsops.bundle import Manifest, verify_bundle
from ttsops.errors import GateError, ManifestError, TtsopsError
from ttsops.gate import worker
from ttsops.gate.cache import Cached, CacheKey, ScoreStore, cache_key, load_cached, store_results
from ttsops.gate.corpus import EvalSet, Utterance, check_languages
from ttsops.gate.policy import SimilarityScope, judge
from ttsops.gate.report import GateReport, ModelInfo
from ttsops.gate.results import Role, UtteranceResult, summarize
from ttsops.gate.rounds import RoundPlan, annotate, decide, look_settings, plan_rounds
from ttsops.gate.services import StartedServices, started_services
from ttsops.gate.similarity import read_references, similarity_scope
from ttsops.settings import GateSettings
from ttsops.verdict import Outcome, Verdict

__all__ = [
    "MAX_DEFAULT_WORKERS",
    "SEED_NOTE",
    "ProgressFn",
    "RoundFn",
    "default_workers",
    "round_order",
    "run_gate",
]

MAX_DEFAULT_WORKERS = 8
"""Most worker processes started by default (each holds two voices and the scorers)."""

ProgressFn = Callable[[int, int, UtteranceResult | None], None]
"""Called with (done, total so far, the result just finished or None before the first);
the total grows when a round asks for more sentences."""

RoundFn = Callable[[dict[str, Any]], None]
"""Called after each round with its record (as in the report's ``rounds``)."""

SEED_NOTE = (
    "Synthesis is seeded: each sentence is spoken with a seed derived from synthesis_seed "
    "and its id, by candidate and baseline alike, so both hear the same noise and a repeat "
    "gate gives the same audio and scores. The bootstrap is seeded too."
)

_TIMING = ("rtf", "latency_s")
"""Metrics that depend on the machine's load, so a cached value is not comparable."""

_Job = tuple[Role, Utterance, bool]
"""(role, sentence, timing only)."""


def default_workers() -> int:
    """One worker per core, at most ``MAX_DEFAULT_WORKERS``."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


def _info(role: str, label: str, path: Path, manifest: Manifest | None) -> ModelInfo:
    return ModelInfo(
        role=role,
        label=label,
        path=str(path),
        ref=manifest.ref if manifest else None,
        digest=manifest.digest if manifest else None,
        recipe=manifest.source.recipe if manifest else None,
    )


@dataclass
class _Sides:
    """What the gate knows so far about each sentence of each side."""

    cached: dict[str, Cached]
    candidate: dict[str, UtteranceResult] = field(default_factory=dict)
    baseline: dict[str, UtteranceResult] = field(default_factory=dict)
    timing: dict[str, UtteranceResult] = field(default_factory=dict)

    def add(self, result: UtteranceResult, timing_only: bool) -> None:
        if result.role == "candidate":
            self.candidate[result.id] = result
        elif timing_only:
            self.timing[result.id] = result
        else:
            self.baseline[result.id] = result

    def baseline_view(self, utt: Utterance) -> UtteranceResult | None:
        """The baseline's result: fresh, or cached with today's timing (if it was re-taken)."""
        if utt.id in self.baseline:
            return self.baseline[utt.id]
        found = self.cached.get(utt.id)
        if found is None:
            return None
        timing = self.timing.get(utt.id)
        metrics: dict[str, float | None] = {**found.result.metrics, **dict.fromkeys(_TIMING)}
        if timing is not None:
            metrics.update({k: timing.metrics.get(k) for k in _TIMING})
        return replace(found.result, metrics=metrics, timings=timing.timings if timing else {})


def run_gate(
    candidate: Path,
    baseline: Path,
    *,
    settings: GateSettings,
    eval_set: EvalSet,
    workers: int | None = None,
    audio_dir: Path | None = None,
    on_progress: ProgressFn | None = None,
    candidate_label: str | None = None,
    baseline_label: str | None = None,
    cache: ScoreStore | None = None,
    fresh_baseline: bool = False,
    on_round: RoundFn | None = None,
) -> GateReport:
    """Gate ``candidate`` against ``baseline`` (bundle or service version directories) on
    ``eval_set``; a service is started for the run and stopped after it.

    With ``cache`` the baseline's scores are reused when stored under the same key (unless
    ``fresh_baseline``) and both sides' fresh scores are stored. A candidate that fails
    verification or loading gets a FAIL verdict; a baseline that does, or a pool that
    breaks, raises ``GateError`` (the gate could not run).
    """
    started = time.perf_counter()
    base_manifest = _load_baseline(baseline)
    base_info = _info("baseline", baseline_label or str(baseline), baseline, base_manifest)
    cand_manifest, reason = _verify_candidate(candidate)
    cand_info = _info("candidate", candidate_label or str(candidate), candidate, cand_manifest)
    if cand_manifest is not None:
        check_languages(eval_set, cand_manifest, base_manifest)
    references = read_references(settings.references)
    plan = plan_rounds(
        len(eval_set.utterances), len(eval_set.pool), settings.round_size, settings.confidence
    )
    notes = [SEED_NOTE]
    report_args = _report_args(cand_info, base_info, eval_set, settings, notes)
    if cand_manifest is None:
        verdict = Verdict.of(Outcome.FAIL, f"candidate {cand_info.label} did not load: {reason}")
        return GateReport(verdict, timing={"wall_s": time.perf_counter() - started}, **report_args)

    key = cache_key(eval_set, settings, references)
    sides = _Sides(_read_cache(cache, fresh_baseline, base_manifest.digest, key, eval_set, notes))
    order = round_order(eval_set)
    first = order[: plan.looks[0]]
    needs_baseline = any(u.id not in sides.cached for u in first)
    requested = workers or settings.workers or default_workers()
    count = max(1, min(requested, 2 * len(first)))
    bundles = {"candidate": str(candidate), "baseline": str(baseline)}
    eager = ("candidate", "baseline") if needs_baseline else ("candidate",)
    audio = str(audio_dir) if audio_dir is not None else None
    timing: dict[str, Any] = {"workers": count}
    rounds: list[dict[str, Any]] = []
    progress = _Progress(on_progress)
    config = worker.WorkerConfig(eval_set.languages, references, settings.asr_timeout_s)
    with (
        started_services({"candidate": candidate, "baseline": baseline}, notes) as services,
        _Workers(
            bundles,
            eager,
            settings.synthesis_seed,
            count,
            audio,
            replace(config, services=services.urls, speak_locks=services.locks),
        ) as pool,
    ):
        errors, timing["load_s"], prompts = _load(pool, services)
        if "baseline" in errors:
            raise GateError(
                f"baseline {base_info.label} did not load, so there is nothing to compare "
                f"with: {errors['baseline']}. Fix the baseline or pass another --baseline"
            )
        if "candidate" in errors:
            verdict = Verdict.of(
                Outcome.FAIL, f"candidate {cand_info.label} did not load: {errors['candidate']}"
            )
            timing["wall_s"] = time.perf_counter() - started
            return GateReport(verdict, timing=timing, **report_args)
        scope, report_args["similarity"] = similarity_scope(
            references, prompts, sides.cached, cand_manifest, base_manifest, notes
        )
        verdict = _rounds(
            pool, plan, eval_set, sides, settings, cand_manifest, rounds, progress, on_round, scope
        )
    scored = rounds[-1]["sentences"]
    used = order[:scored]
    cand = [sides.candidate[u.id] for u in used]
    base = [b for u in used if (b := sides.baseline_view(u)) is not None]
    if cache is not None:
        stored = _store(cache, key, cand_manifest, base_manifest, sides, notes)
    else:
        stored = {}
    summaries = summarize(
        cand,
        base,
        confidence=plan.confidence,
        resamples=settings.bootstrap_resamples,
        seed=settings.seed,
    )
    fresh = [*cand, *sides.baseline.values(), *sides.timing.values()]
    timing["wall_s"] = time.perf_counter() - started
    timing["stage_s"] = _stage_totals(fresh)
    return GateReport(
        verdict,
        summaries=summaries,
        utterances=cand + base,
        timing=timing,
        rounds=rounds,
        plan=plan.to_dict(),
        provenance=_provenance(sides, used, cache is not None, fresh_baseline, stored),
        **report_args,
    )


def _load(
    pool: _Workers, services: StartedServices
) -> tuple[dict[str, str], dict[str, float], dict[str, bool]]:
    """Load the workers: load errors (a service's that did not start included), seconds
    spent per part (starting services included) and who takes a reference clip."""
    errors, load_s, prompts = pool.start()
    return {**errors, **services.errors}, {**services.start_s, **load_s}, prompts


def _report_args(
    cand: ModelInfo, base: ModelInfo, eval_set: EvalSet, settings: GateSettings, notes: list[str]
) -> dict[str, Any]:
    return {
        "candidate": cand,
        "baseline": base,
        "eval_set": {
            "name": eval_set.name,
            "version": eval_set.version,
            "digest": eval_set.digest,
            "count": len(eval_set.utterances),
            "extra": len(eval_set.extra),
            "label": eval_set.label,
            "languages": list(eval_set.languages),
        },
        "settings": settings.model_dump(mode="json"),
        "notes": notes,
    }


def _rounds(
    pool: _Workers,
    plan: RoundPlan,
    eval_set: EvalSet,
    sides: _Sides,
    settings: GateSettings,
    manifest: Manifest,
    rounds: list[dict[str, Any]],
    progress: _Progress,
    on_round: RoundFn | None,
    similarity: SimilarityScope = "off",
) -> Verdict:
    """Score round after round until ``decide`` stops; the final (annotated) verdict."""
    order = round_order(eval_set)
    strict = look_settings(settings, plan)
    # A cached baseline's timing is re-taken on the core's last sentences (the rounds where
    # a pass becomes possible: a voice that fails earlier never loads the baseline) and on
    # every reserve sentence (more pairs, should rtf_ratio be the undecided check).
    timed_from = max(0, plan.core - settings.timing_sentences)
    done = 0
    verdict = Verdict.from_checks(())
    for number, look in enumerate(plan.looks, start=1):
        jobs: list[_Job] = []
        for index in range(done, look):
            utt = order[index]
            jobs.append(("candidate", utt, False))
            if utt.id not in sides.cached:
                jobs.append(("baseline", utt, False))
            elif index >= timed_from and settings.timing_sentences > 0:
                jobs.append(("baseline", utt, True))
        for result, timing_only in pool.run(jobs, progress):
            sides.add(result, timing_only)
        done = look
        used = order[:look]
        cand = [sides.candidate[u.id] for u in used]
        base = [b for u in used if (b := sides.baseline_view(u)) is not None]
        verdict = judge(
            cand, base, strict, expected_rate=manifest.sample_rate, similarity=similarity
        )
        decision = decide(verdict, look, plan, settings)
        new = sum(1 for j in jobs if j[0] == "candidate")
        fresh = sum(1 for j in jobs if j[0] == "baseline" and not j[2])
        record = {
            "round": number,
            "sentences": look,
            "new": new,
            "baseline_scored": fresh,
            "baseline_cached": new - fresh,
            "baseline_timed": sum(1 for j in jobs if j[2]),
            "outcome": verdict.outcome.value,
            "stop": decision.stop,
            "why": decision.why,
            "undecided": list(decision.undecided),
        }
        rounds.append(record)
        if on_round is not None:
            on_round(record)
        if decision.stop:
            return annotate(verdict, decision, look, plan)
    return verdict


def round_order(eval_set: EvalSet) -> tuple[Utterance, ...]:
    """The order sentences are scored in: the core shortest first, then the pool likewise.

    The first round is where a broken voice fails, so it takes the cheapest sentences (a
    fail on them is a fail: every kind of sentence must be spoken well); a pass still needs
    every core sentence, so the order never decides a pass. Sentences of several languages
    take turns (each language shortest first), so every round hears every language.
    """

    def shortest(utts: tuple[Utterance, ...]) -> tuple[Utterance, ...]:
        by_language = [
            sorted((u for u in utts if u.language == lang), key=lambda u: len(u.text))
            for lang in dict.fromkeys(u.language for u in utts)
        ]
        turns = (u for row in itertools.zip_longest(*by_language) for u in row)
        return tuple(u for u in turns if u is not None)

    return shortest(eval_set.utterances) + shortest(eval_set.extra)


def _read_cache(
    cache: ScoreStore | None,
    fresh: bool,
    digest: str,
    key: CacheKey,
    eval_set: EvalSet,
    notes: list[str],
) -> dict[str, Cached]:
    if cache is None or fresh:
        return {}
    try:
        return load_cached(cache, digest, key, "baseline", (u.id for u in eval_set.pool))
    except TtsopsError as exc:
        notes.append(f"the score cache could not be read, so the baseline was scored: {exc}")
        return {}


def _store(
    cache: ScoreStore,
    key: CacheKey,
    cand: Manifest,
    base: Manifest,
    sides: _Sides,
    notes: list[str],
) -> dict[str, int]:
    stored: dict[str, int] = {}
    try:
        stored["candidate"] = store_results(cache, cand.digest, key, sides.candidate.values())
        stored["baseline"] = store_results(cache, base.digest, key, sides.baseline.values())
    except TtsopsError as exc:
        notes.append(f"scores were not stored in the cache: {exc.message}")
    return stored


def _provenance(
    sides: _Sides,
    used: tuple[Utterance, ...],
    with_cache: bool,
    fresh_baseline: bool,
    stored: dict[str, int],
) -> dict[str, Any]:
    cached = [
        sides.cached[u.id] for u in used if u.id in sides.cached and u.id not in sides.baseline
    ]
    fresh = sum(1 for u in used if u.id in sides.baseline)
    source = "cache" if cached and not fresh else "fresh" if not cached else "cache and fresh"
    baseline: dict[str, Any] = {"source": source, "cached": len(cached), "fresh": fresh}
    if cached:
        baseline["scored_at"] = min(c.scored_at for c in cached).isoformat()
        if sides.timing:
            baseline["timing"] = (
                f"real-time factor and first-audio latency re-measured on {len(sides.timing)} "
                "sentences synthesized alongside the candidate (cached timing is not comparable)"
            )
        else:
            baseline["timing"] = (
                "timing not re-measured: the gate stopped before the round where a pass "
                "becomes possible (cached timing is not comparable)"
            )
    cache_state = "off" if not with_cache else "refreshed" if fresh_baseline else "on"
    return {
        "candidate": {"source": "fresh", "fresh": len(used)},
        "baseline": baseline,
        "cache": {"state": cache_state, "stored": stored},
    }


def _verify_candidate(path: Path) -> tuple[Manifest | None, str]:
    """The candidate's manifest, or None and why it failed verification (a FAIL)."""
    try:
        return verify_bundle(path), ""
    except ManifestError:
        raise
    except TtsopsError as exc:
        return None, exc.message


def _load_baseline(path: Path) -> Manifest:
    try:
        return verify_bundle(path)
    except TtsopsError as exc:
        raise GateError(
            f"baseline {path} cannot be used: {exc.message}. Pass a working --baseline"
        ) from None


def _stage_totals(results: list[UtteranceResult]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for result in results:
        for stage, seconds in result.timings.items():
            totals[stage] = totals.get(stage, 0.0) + seconds
    return {k: round(v, 3) for k, v in sorted(totals.items())}


class _Progress:
    """Counts jobs over all rounds for the caller's ``ProgressFn``."""

    def __init__(self, on_progress: ProgressFn | None) -> None:
        self._notify = on_progress or (lambda done, total, result: None)
        self.done = 0
        self.total = 0
        self._notify(0, 0, None)

    def planned(self, jobs: int) -> None:
        self.total += jobs
        self._notify(self.done, self.total, None)

    def finished(self, result: UtteranceResult) -> None:
        self.done += 1
        self._notify(self.done, self.total, result)


class _Workers:
    """The worker processes of one gate (or this process, for one worker), kept over rounds."""

    def __init__(
        self,
        bundles: dict[str, str],
        eager: tuple[str, ...],
        seed: int,
        count: int,
        audio: str | None,
        config: worker.WorkerConfig,
    ) -> None:
        self._args = (bundles, eager, seed, config)
        self._count = count
        self._audio = audio
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> _Workers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def start(self) -> tuple[dict[str, str], dict[str, float], dict[str, bool]]:
        """Start loading; the first worker's load errors by role, load seconds by part and
        whether each loaded model takes a reference clip."""
        if self._count <= 1:
            worker.init_worker(*self._args)
            return worker.load_status()
        import multiprocessing

        # spawn, not fork: the parent may run threads (progress display), and onnxruntime's
        # state does not survive a fork.
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(self._count, context, worker.init_worker, self._args)
        # One submit per worker: the executor spawns a process per submit it cannot hand to
        # an idle one, so all workers load at once and the first one ready starts scoring.
        statuses = [self._pool.submit(worker.load_status) for _ in range(self._count)]
        try:
            return next(as_completed(statuses)).result()
        except BrokenProcessPool:
            raise _died() from None

    def run(self, jobs: list[_Job], progress: _Progress) -> list[tuple[UtteranceResult, bool]]:
        """Score ``jobs`` (all workers at once); each result with its timing-only flag."""
        progress.planned(len(jobs))
        out: list[tuple[UtteranceResult, bool]] = []
        if self._pool is None:
            for role, utt, timing_only in jobs:
                out.append(
                    (worker.score_utterance(role, utt, self._audio, timing_only), timing_only)
                )
                progress.finished(out[-1][0])
            return out
        futures: dict[Future[UtteranceResult], bool] = {
            self._pool.submit(
                worker.score_utterance, role, utt, self._audio, timing_only
            ): timing_only
            for role, utt, timing_only in jobs
        }
        try:
            for future in as_completed(futures):
                out.append((future.result(), futures[future]))
                progress.finished(out[-1][0])
        except BrokenProcessPool:
            raise _died() from None
        return out


def _died() -> GateError:
    return GateError(
        "a gate worker process died (out of memory, or killed); run with fewer "
        "--workers or free memory, then run the gate again"
    )
