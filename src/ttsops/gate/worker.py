"""One gate worker: the models and every scorer loaded once, then sentence after sentence.

A gate run starts one worker per core (a process each, since pocketsphinx's decoder holds
the GIL for a whole utterance); each loads the models it is told to load up front (the
candidate, and the baseline unless its scores come from the cache), DNSMOS and the ASR once,
warms them, and then synthesizes and scores whatever sentence it is handed. A model not
loaded up front is loaded the first time a sentence asks for it. Load failures up front are
kept, not raised, so the parent can tell a candidate that does not load (a fail) from a gate
that cannot run (an error).

Every sentence is synthesized with a seed derived from ``synthesis_seed`` and its id
(``sentence_seed``), so candidate and baseline draw the same noise for it and a repeat gate
gets bit-identical audio.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ttsops.errors import GateError, TtsopsError
from ttsops.gate import scorers
from ttsops.gate.corpus import Utterance
from ttsops.gate.results import Role, UtteranceResult

if TYPE_CHECKING:
    from ttsops.engines import Engine
    from ttsops.gate.asr import Transcriber
    from ttsops.gate.mos import Dnsmos

__all__ = ["WorkerState", "init_worker", "load_status", "score_utterance", "sentence_seed"]

_WARM_TEXT = "Hello there."


@dataclass
class WorkerState:
    """What one worker has loaded."""

    engines: dict[str, Engine] = field(default_factory=dict)
    """Loaded engines by role."""

    voices: dict[str, str] = field(default_factory=dict)
    """Default voice of each model, by role."""

    load_errors: dict[str, str] = field(default_factory=dict)
    """Why a model did not load, by role."""

    load_s: dict[str, float] = field(default_factory=dict)
    """Seconds spent loading each part (engines by role, ``scorers``)."""

    bundles: dict[str, str] = field(default_factory=dict)
    """Bundle directory by role, loaded up front or on first use."""

    synthesis_seed: int = 0
    """Base of every sentence's synthesis seed."""

    mos: Dnsmos | None = None
    asr: Transcriber | None = None


_state: WorkerState | None = None


def sentence_seed(synthesis_seed: int, utterance_id: str) -> int:
    """The synthesis seed of one sentence: stable across runs and processes, 0 ≤ seed < 2³¹."""
    digest = hashlib.sha256(f"{synthesis_seed}:{utterance_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def _load(state: WorkerState, role: str) -> None:
    """Load and warm the ``role`` model; a failure is kept in ``state.load_errors``."""
    from ttsops.bundle import load_manifest
    from ttsops.engines import EngineOptions, load_engine

    path = state.bundles[role]
    started = time.perf_counter()
    try:
        manifest = load_manifest(Path(path))  # the parent verified the digests
        engine = load_engine(Path(path), manifest, EngineOptions(threads=1))
        engine.synthesize(_WARM_TEXT, manifest.voices[0], 1.0, seed=0)
    except TtsopsError as exc:
        state.load_errors[role] = exc.message
    except Exception as exc:  # noqa: BLE001 - any failure to load is the model's verdict
        state.load_errors[role] = f"{type(exc).__name__}: {exc}"
    else:
        state.engines[role] = engine
        state.voices[role] = manifest.voices[0]
    state.load_s[role] = time.perf_counter() - started


def init_worker(
    bundles: dict[str, str], eager: tuple[str, ...] | None = None, synthesis_seed: int = 0
) -> None:
    """Load the ``eager`` roles' bundles (default all, in order) and the scorers; never raises.

    ``bundles`` maps role → directory; a role not in ``eager`` loads on first use. Loading
    stops at the first model that fails, whose error ``load_status`` reports.
    """
    global _state  # noqa: PLW0603 - one state per worker process, set by its initializer
    state = WorkerState(bundles=dict(bundles), synthesis_seed=synthesis_seed)
    for role in bundles if eager is None else eager:
        _load(state, role)
        if state.load_errors:
            _state = state  # the run stops here: nothing is scored without its models
            return
    started = time.perf_counter()
    from ttsops.gate.asr import transcriber
    from ttsops.gate.mos import MOS_RATE, Dnsmos

    state.mos = Dnsmos(threads=1)
    state.asr = transcriber()
    warm = np.random.default_rng(0).normal(0, 0.1, MOS_RATE).astype(np.float32)
    state.mos.score(warm)
    state.asr.transcribe(warm)
    scorers.loudness_lufs(warm, MOS_RATE)  # imports scipy.signal: seconds, once
    state.load_s["scorers"] = time.perf_counter() - started
    _state = state


def load_status() -> tuple[dict[str, str], dict[str, float]]:
    """This worker's load errors by role and load seconds by part."""
    if _state is None:
        raise RuntimeError("init_worker was not called in this process")
    return dict(_state.load_errors), dict(_state.load_s)


def score_utterance(
    role: Role, utterance: Utterance, audio_dir: str | None, timing_only: bool = False
) -> UtteranceResult:
    """Synthesize ``utterance`` with the ``role`` model and measure everything on it.

    ``timing_only`` measures only real-time factor, first-audio latency and duration (the
    cached baseline's timing, taken again under today's load). Raises ``GateError`` when a
    model loaded on first use does not load.
    """
    if _state is None:
        raise RuntimeError("init_worker was not called in this process")
    if role not in _state.engines and role not in _state.load_errors and role in _state.bundles:
        _load(_state, role)
        if role in _state.load_errors:
            raise GateError(
                f"the {role} model did not load: {_state.load_errors[role]}; fix it or pass "
                "another bundle"
            )
    engine = _state.engines.get(role)
    if engine is None:
        reason = _state.load_errors.get(role, "not loaded")
        return UtteranceResult(
            role, utterance.id, utterance.text, utterance.reference, error=reason
        )
    started = time.perf_counter()
    first: float | None = None
    parts = []
    try:
        seed = sentence_seed(_state.synthesis_seed, utterance.id)
        for chunk in engine.stream(utterance.text, _state.voices[role], 1.0, seed=seed):
            if first is None:
                first = time.perf_counter() - started
            parts.append(chunk.samples)
    except TtsopsError as exc:
        return UtteranceResult(
            role, utterance.id, utterance.text, utterance.reference, error=exc.message
        )
    except Exception as exc:  # noqa: BLE001 - a model crashing on a sentence is its verdict
        return UtteranceResult(
            role, utterance.id, utterance.text, utterance.reference, error=f"{exc!r}"
        )
    synthesis_s = time.perf_counter() - started
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    rate = engine.sample_rate
    if timing_only:
        duration = samples.size / rate
        return UtteranceResult(
            role,
            utterance.id,
            utterance.text,
            utterance.reference,
            metrics={
                "rtf": scorers.real_time_factor(synthesis_s, duration),
                "latency_s": first,
                "duration_s": duration,
            },
            sample_rate=rate,
            timings={"synthesis": synthesis_s},
        )
    if audio_dir is not None:
        _write_wav(Path(audio_dir) / role / f"{utterance.id}.wav", samples, rate)
    try:
        return _measure(role, utterance, samples, rate, synthesis_s, first)
    except Exception as exc:  # noqa: BLE001 - any scorer crash becomes a GateError (exit 2)
        raise GateError(
            f"scoring the {role}'s sentence {utterance.id} failed ({exc!r}); the audio was "
            "made, so this is a fault of the gate's scorers, not of the model: report it"
        ) from None


def _measure(
    role: Role,
    utterance: Utterance,
    samples: scorers.FloatArray,
    rate: int,
    synthesis_s: float,
    first_s: float | None,
) -> UtteranceResult:
    assert _state is not None and _state.mos is not None and _state.asr is not None
    timings = {"synthesis": synthesis_s}
    duration = samples.size / rate
    nonfinite = scorers.nonfinite_count(samples)
    started = time.perf_counter()
    clean = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    silence = scorers.silences(clean, rate)
    metrics: dict[str, float | None] = {
        "rtf": scorers.real_time_factor(synthesis_s, duration),
        "latency_s": first_s,
        "duration_s": duration,
        "sec_per_char": scorers.seconds_per_char(duration, utterance.text),
        "leading_silence_s": silence.leading_s,
        "trailing_silence_s": silence.trailing_s,
        "longest_pause_s": silence.longest_pause_s,
        "clipping": scorers.clipping_ratio(clean),
        "lufs": scorers.loudness_lufs(clean, rate),
    }
    timings["signal"] = time.perf_counter() - started
    transcript = None
    if nonfinite == 0:  # NaN audio is judged by the finite check; models would score noise
        from ttsops.gate.mos import MOS_RATE

        at_16k = scorers.resample(samples, rate, MOS_RATE)
        started = time.perf_counter()
        mos = _state.mos.score(at_16k)
        timings["dnsmos"] = time.perf_counter() - started
        if mos is not None:
            metrics.update(ovrl=mos.ovrl, sig=mos.sig, bak=mos.bak, p808=mos.p808)
        started = time.perf_counter()
        transcript = _state.asr.transcribe(at_16k)
        timings["asr"] = time.perf_counter() - started
        metrics["wer"] = scorers.word_error_rate(utterance.reference, transcript)
    return UtteranceResult(
        role,
        utterance.id,
        utterance.text,
        utterance.reference,
        metrics=metrics,
        transcript=transcript,
        sample_rate=rate,
        nonfinite=nonfinite,
        speech_s=silence.speech_s,
        timings=timings,
    )


def _write_wav(path: Path, samples: scorers.FloatArray, rate: int) -> None:
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    clean = np.clip(np.nan_to_num(samples), -1.0, 1.0)
    soundfile.write(str(path), clean, rate, subtype="PCM_16")
