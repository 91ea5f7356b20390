"""Running a gate: synthesize the evaluation set with both models, score it, decide.

The sentences go to a pool of worker processes (``ttsops.gate.worker``), one per core,
each holding both models and every scorer; candidate and baseline sentences alternate in
the queue so both models run under the same load, which keeps their timings comparable.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ttsops.bundle import Manifest, verify_bundle
from ttsops.errors import GateError, ManifestError, TtsopsError
from ttsops.gate import worker
from ttsops.gate.corpus import EvalSet, Utterance
from ttsops.gate.policy import judge
from ttsops.gate.report import GateReport, ModelInfo
from ttsops.gate.results import Role, UtteranceResult, summarize
from ttsops.settings import GateSettings
from ttsops.verdict import Outcome, Verdict

__all__ = ["MAX_DEFAULT_WORKERS", "ProgressFn", "default_workers", "run_gate"]

MAX_DEFAULT_WORKERS = 8
"""Most worker processes started by default (each holds two voices and the scorers)."""

ProgressFn = Callable[[int, int, UtteranceResult | None], None]
"""Called with (done, total, the result just finished or None before the first)."""

SEED_NOTE = (
    "Piper draws its synthesis noise inside the ONNX graph (RandomNormalLike), so synthesis "
    "cannot be seeded: WER moves by a few points from run to run while DNSMOS stays within "
    "about ±0.02, which is why the WER limit is wide. The bootstrap itself is seeded."
)


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
) -> GateReport:
    """Gate ``candidate`` against ``baseline`` (bundle directories) on ``eval_set``.

    A candidate that fails verification or loading gets a FAIL verdict; a baseline that
    does, or a pool that breaks, raises ``GateError`` (the gate could not run).
    """
    started = time.perf_counter()
    base_manifest = _load_baseline(baseline)
    base_info = _info("baseline", baseline_label or str(baseline), baseline, base_manifest)
    try:
        cand_manifest: Manifest | None = verify_bundle(candidate)
    except ManifestError:
        raise
    except TtsopsError as exc:
        cand_manifest, reason = None, exc.message
    cand_info = _info("candidate", candidate_label or str(candidate), candidate, cand_manifest)
    report_args: dict[str, Any] = {
        "candidate": cand_info,
        "baseline": base_info,
        "eval_set": {
            "name": eval_set.name,
            "version": eval_set.version,
            "digest": eval_set.digest,
            "count": len(eval_set.utterances),
            "label": eval_set.label,
        },
        "settings": settings.model_dump(mode="json"),
        "notes": [SEED_NOTE],
    }
    if cand_manifest is None:
        verdict = Verdict.of(Outcome.FAIL, f"candidate {cand_info.label} did not load: {reason}")
        return GateReport(verdict, timing={"wall_s": time.perf_counter() - started}, **report_args)

    count = min(workers or settings.workers or default_workers(), 2 * len(eval_set.utterances))
    bundles = {"candidate": str(candidate), "baseline": str(baseline)}
    results, load_errors, load_s = _collect(bundles, eval_set, count, audio_dir, on_progress)
    timing: dict[str, Any] = {"workers": count, "load_s": load_s}
    if "baseline" in load_errors:
        raise GateError(
            f"baseline {base_info.label} did not load, so there is nothing to compare with: "
            f"{load_errors['baseline']}. Fix the baseline or pass another --baseline"
        )
    if "candidate" in load_errors:
        verdict = Verdict.of(
            Outcome.FAIL,
            f"candidate {cand_info.label} did not load: {load_errors['candidate']}",
        )
        timing["wall_s"] = time.perf_counter() - started
        return GateReport(verdict, timing=timing, **report_args)

    order = {u.id: i for i, u in enumerate(eval_set.utterances)}
    results.sort(key=lambda r: (r.role != "candidate", order[r.id]))
    cand = [r for r in results if r.role == "candidate"]
    base = [r for r in results if r.role == "baseline"]
    verdict = judge(cand, base, settings, expected_rate=cand_manifest.sample_rate)
    summaries = summarize(
        cand,
        base,
        confidence=settings.confidence,
        resamples=settings.bootstrap_resamples,
        seed=settings.seed,
    )
    timing["wall_s"] = time.perf_counter() - started
    timing["stage_s"] = _stage_totals(results)
    return GateReport(
        verdict, summaries=summaries, utterances=results, timing=timing, **report_args
    )


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


def _collect(
    bundles: dict[str, str],
    eval_set: EvalSet,
    workers: int,
    audio_dir: Path | None,
    on_progress: ProgressFn | None,
) -> tuple[list[UtteranceResult], dict[str, str], dict[str, float]]:
    """Synthesize and score every (role, sentence); return results, load errors, load times."""
    audio = str(audio_dir) if audio_dir is not None else None
    jobs: list[tuple[Role, Utterance]] = [
        (role, utt) for utt in eval_set.utterances for role in ("candidate", "baseline")
    ]
    total = len(jobs)
    notify = on_progress or (lambda done, total, result: None)
    notify(0, total, None)
    if workers <= 1:
        worker.init_worker(bundles)
        errors, load_s = worker.load_status()
        results: list[UtteranceResult] = []
        for role, utt in jobs:
            if errors:
                break
            results.append(worker.score_utterance(role, utt, audio))
            notify(len(results), total, results[-1])
        return results, errors, load_s
    return _collect_pool(bundles, jobs, workers, audio, notify)


def _collect_pool(
    bundles: dict[str, str],
    jobs: list[tuple[Role, Utterance]],
    workers: int,
    audio: str | None,
    notify: ProgressFn,
) -> tuple[list[UtteranceResult], dict[str, str], dict[str, float]]:
    import multiprocessing
    from concurrent.futures import as_completed

    # spawn, not fork: the parent may run threads (progress display), and onnxruntime's
    # state does not survive a fork.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, context, worker.init_worker, (bundles,))
    try:
        status = pool.submit(worker.load_status)
        futures: list[Future[UtteranceResult]] = [
            pool.submit(worker.score_utterance, role, utt, audio) for role, utt in jobs
        ]
        errors, load_s = status.result()
        if errors:
            for future in futures:
                future.cancel()
            return [], errors, load_s
        results: list[UtteranceResult] = []
        for future in as_completed(futures):
            results.append(future.result())
            notify(len(results), len(jobs), results[-1])
    except BrokenProcessPool:
        raise GateError(
            "a gate worker process died (out of memory, or killed); run with fewer "
            "--workers or free memory, then run the gate again"
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results, errors, load_s
