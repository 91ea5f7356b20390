"""One gate worker: the models and every scorer loaded once, then sentence after sentence.

A gate run starts one worker per core (a process each, since pocketsphinx's decoder holds
the GIL for a whole utterance); each loads the models it is told to load up front (the
candidate, and the baseline unless its scores come from the cache), DNSMOS and the ASR of
each language of the set once (pocketsphinx for English, Whisper for Mandarin), warms
them, and then synthesizes and scores whatever sentence it is handed. A model not loaded
up front is loaded the first time a sentence asks for it. Load failures up front are kept,
not raised, so the parent can tell a candidate that does not load (a fail) from a gate
that cannot run (an error).

A sentence is spoken with the model's default voice, or, when that voice speaks another
language than the sentence, with the model's first voice of the sentence's language.
With reference clips, each sentence is spoken once more with one of them (``reference=``,
chosen by the sentence's id, so candidate and baseline use the same clip) by a model that
can take one; the cosine similarity of that audio's speaker embedding to the clip's is the
sentence's ``similarity``.

Every sentence is synthesized with a seed derived from ``synthesis_seed`` and its id
(``sentence_seed``), so candidate and baseline draw the same noise for it and a repeat gate
gets bit-identical audio.

A model that is a service (``engine = "service"``, started by the parent with
``running_service``) is not loaded: the worker asks its ``Speaker`` at the URL the parent
gives (``WorkerConfig.services``), one request at a time per service across all workers
(``speak_locks``), so its timing is not a queue's; the scoring is the same.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ttsops.errors import GateError, TtsopsError
from ttsops.gate import scorers
from ttsops.gate.corpus import Utterance, language_of
from ttsops.gate.results import Role, UtteranceResult
from ttsops.gate.speaking import (
    can_reference,
    open_service_speaker,
    sentence_seed,
    synthesize,
    with_similarity,
    write_wav,
)

if TYPE_CHECKING:
    from ttsops.bundle import Manifest
    from ttsops.engines import Engine, Reference
    from ttsops.gate.asr import Transcriber
    from ttsops.gate.mos import Dnsmos
    from ttsops.gate.whisper import Whisper
    from ttsops.speech import Speaker

__all__ = [
    "ReferenceClip",
    "WorkerConfig",
    "WorkerState",
    "init_worker",
    "load_status",
    "score_utterance",
    "sentence_seed",
    "voice_for",
]

_WARM_TEXT = {"en": "Hello there.", "zh": "你好。"}


@dataclass(frozen=True)
class ReferenceClip:
    """A reference voice clip, read by the parent (so a bad file fails before any work)."""

    name: str
    """The clip's file name, for reports."""

    samples: scorers.FloatArray
    """Mono float32 samples."""

    sample_rate: int
    """Samples per second."""

    path: str = ""
    """The clip's file, for a service's speech adapter to upload."""


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker of one gate needs besides the bundles."""

    languages: tuple[str, ...] = ("en",)
    """Languages of the sentences it will score (which ASRs to load)."""

    references: tuple[ReferenceClip, ...] = ()
    """Reference clips for the speaker-similarity score (none: no similarity)."""

    asr_timeout_s: float = 60.0
    """Longest a Whisper transcript may take."""

    services: dict[str, str] = field(default_factory=dict)
    """Base URL of each role that is a running service (the parent started it)."""

    speak_locks: dict[str, Any] = field(default_factory=dict)
    """A multiprocessing lock per service role: one request in flight per service."""


@dataclass
class WorkerState:
    """What one worker has loaded."""

    engines: dict[str, Engine] = field(default_factory=dict)
    """Loaded engines by role."""

    speakers: dict[str, Speaker] = field(default_factory=dict)
    """Speakers of the roles that are services, by role."""

    voices: dict[str, str] = field(default_factory=dict)
    """Default voice of each model, by role."""

    manifests: dict[str, Manifest] = field(default_factory=dict)
    """Manifest of each loaded model, by role."""

    load_errors: dict[str, str] = field(default_factory=dict)
    """Why a model did not load, by role."""

    load_s: dict[str, float] = field(default_factory=dict)
    """Seconds spent loading each part (engines by role, ``scorers``, ``whisper``, ``speaker``)."""

    bundles: dict[str, str] = field(default_factory=dict)
    """Bundle directory by role, loaded up front or on first use."""

    synthesis_seed: int = 0
    """Base of every sentence's synthesis seed."""

    config: WorkerConfig = field(default_factory=WorkerConfig)
    """Languages, references and limits of this gate."""

    mos: Dnsmos | None = None
    asr: Transcriber | None = None
    whisper: Whisper | None = None
    references: tuple[tuple[Reference, scorers.FloatArray], ...] = ()
    """Each reference clip with its speaker embedding."""


_state: WorkerState | None = None


def voice_for(manifest: Manifest, language: str) -> str:
    """The voice that speaks ``language``: the default, unless it speaks another one.

    Which voice speaks which language is known when the bundle speaks one language (all its
    voices do) and by Kokoro's naming (``z*`` Mandarin, ``a*``/``b*`` English).
    """
    default = manifest.voices[0]
    if len(manifest.languages) == 1 or manifest.engine != "kokoro":
        return default
    from ttsops.engines.kokoro_voices import language_of as voice_language

    def speaks(voice: str) -> str | None:
        try:
            return language_of(voice_language(voice))
        except TtsopsError:
            return None

    if speaks(default) == language:
        return default
    return next((v for v in manifest.voices if speaks(v) == language), default)


def _load(state: WorkerState, role: str) -> None:
    """Load and warm the ``role`` model; a failure is kept in ``state.load_errors``."""
    from ttsops.bundle import load_manifest
    from ttsops.engines import EngineOptions, load_engine

    path = state.bundles[role]
    started = time.perf_counter()
    try:
        manifest = load_manifest(Path(path))  # the parent verified the digests
        if manifest.engine == "service":
            state.speakers[role] = open_service_speaker(state, role, Path(path))
            state.voices[role] = manifest.voices[0]
            state.manifests[role] = manifest
            return
        engine = load_engine(Path(path), manifest, EngineOptions(threads=1))
        first = language_of(manifest.languages[0]) or "en"
        engine.synthesize(_WARM_TEXT.get(first, "Hello."), manifest.voices[0], 1.0, seed=0)
    except TtsopsError as exc:
        state.load_errors[role] = exc.message
    except Exception as exc:  # noqa: BLE001 - any failure to load is the model's verdict
        state.load_errors[role] = f"{type(exc).__name__}: {exc}"
    else:
        state.engines[role] = engine
        state.voices[role] = manifest.voices[0]
        state.manifests[role] = manifest
    finally:
        state.load_s[role] = time.perf_counter() - started


def init_worker(
    bundles: dict[str, str],
    eager: tuple[str, ...] | None = None,
    synthesis_seed: int = 0,
    config: WorkerConfig | None = None,
) -> None:
    """Load the ``eager`` roles' bundles (default all, in order) and the scorers; never raises.

    ``bundles`` maps role → directory; a role not in ``eager`` loads on first use. Loading
    stops at the first model that fails, whose error ``load_status`` reports.
    """
    global _state  # noqa: PLW0603 - one state per worker process, set by its initializer
    cfg = config or WorkerConfig()
    state = WorkerState(bundles=dict(bundles), synthesis_seed=synthesis_seed, config=cfg)
    for role in bundles if eager is None else eager:
        _load(state, role)
        if state.load_errors:
            _state = state  # the run stops here: nothing is scored without its models
            return
    started = time.perf_counter()
    from ttsops.gate.mos import MOS_RATE, Dnsmos

    state.mos = Dnsmos(threads=1)
    warm = np.random.default_rng(0).normal(0, 0.1, MOS_RATE).astype(np.float32)
    state.mos.score(warm)
    if "en" in cfg.languages:
        from ttsops.gate.asr import transcriber

        state.asr = transcriber()
        state.asr.transcribe(warm)
    scorers.loudness_lufs(warm, MOS_RATE)  # imports scipy.signal: seconds, once
    state.load_s["scorers"] = time.perf_counter() - started
    if "zh" in cfg.languages:
        from ttsops.gate.whisper import whisper

        started = time.perf_counter()
        state.whisper = whisper(threads=1)
        state.load_s["whisper"] = time.perf_counter() - started
    if cfg.references:
        started = time.perf_counter()
        state.references = _embed_references(cfg.references)
        state.load_s["speaker"] = time.perf_counter() - started
    _state = state


def _embed_references(
    clips: tuple[ReferenceClip, ...],
) -> tuple[tuple[Reference, scorers.FloatArray], ...]:
    from ttsops.engines import Reference
    from ttsops.speaker import embed

    return tuple(
        (Reference(c.samples, c.sample_rate, name=c.name), embed(c.samples, c.sample_rate))
        for c in clips
    )


def load_status() -> tuple[dict[str, str], dict[str, float], dict[str, bool]]:
    """This worker's load errors by role, load seconds by part, and by role whether the
    loaded model can take a reference clip."""
    if _state is None:
        raise RuntimeError("init_worker was not called in this process")
    prompts = {r: bool(e.supports_prompt_audio) for r, e in _state.engines.items()}
    prompts |= {r: bool(s.can_reference) for r, s in _state.speakers.items()}
    return dict(_state.load_errors), dict(_state.load_s), prompts


def _failed(role: Role, utterance: Utterance, error: str) -> UtteranceResult:
    return UtteranceResult(
        role,
        utterance.id,
        utterance.text,
        utterance.reference,
        error=error,
        language=utterance.language,
    )


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
    loaded = role in _state.engines or role in _state.speakers
    if not loaded and role not in _state.load_errors and role in _state.bundles:
        _load(_state, role)
        if role in _state.load_errors:
            raise GateError(
                f"the {role} model did not load: {_state.load_errors[role]}; fix it or pass "
                "another bundle"
            )
    if role not in _state.engines and role not in _state.speakers:
        return _failed(role, utterance, _state.load_errors.get(role, "not loaded"))
    voice = voice_for(_state.manifests[role], utterance.language)
    seed = sentence_seed(_state.synthesis_seed, utterance.id)
    try:
        samples, rate, synthesis_s, first = synthesize(_state, role, utterance.text, voice, seed)
    except TtsopsError as exc:
        return _failed(role, utterance, exc.message)
    except Exception as exc:  # noqa: BLE001 - a model crashing on a sentence is its verdict
        return _failed(role, utterance, f"{exc!r}")
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
            language=utterance.language,
        )
    if audio_dir is not None:
        write_wav(Path(audio_dir) / role / f"{utterance.id}.wav", samples, rate)
    try:
        result = _measure(role, utterance, samples, rate, synthesis_s, first)
        if _state.references and can_reference(_state, role):
            result = with_similarity(_state, result, role, voice, audio_dir)
    except Exception as exc:  # noqa: BLE001 - any scorer crash becomes a GateError (exit 2)
        raise GateError(
            f"scoring the {role}'s sentence {utterance.id} failed ({exc!r}); the audio was "
            "made, so this is a fault of the gate's scorers, not of the model: report it"
        ) from None
    return result


def _measure(
    role: Role,
    utterance: Utterance,
    samples: scorers.FloatArray,
    rate: int,
    synthesis_s: float,
    first_s: float | None,
) -> UtteranceResult:
    assert _state is not None and _state.mos is not None
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
        if utterance.language == "zh":
            transcript, metrics["cer"] = _mandarin(utterance, at_16k)
        else:
            if _state.asr is None:  # a set of another language: load it now
                from ttsops.gate.asr import transcriber

                _state.asr = transcriber()
            transcript = _state.asr.transcribe(at_16k)
            metrics["wer"] = scorers.word_error_rate(utterance.reference, transcript)
        timings["asr"] = time.perf_counter() - started
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
        language=utterance.language,
    )


def _mandarin(utterance: Utterance, at_16k: scorers.FloatArray) -> tuple[str, float]:
    """Whisper's transcript and its CER; a transcript that times out counts as CER 1.0."""
    from ttsops.gate.cer import character_error_rate, units
    from ttsops.gate.whisper import WhisperTimeoutError, whisper

    assert _state is not None
    if _state.whisper is None:
        _state.whisper = whisper(threads=1)
    # Whisper spends one to three tokens on a character: three per unit and a margin bound
    # a transcript of the right length, and cut off a run-away loop on bad audio.
    tokens = 3 * len(units(utterance.reference)) + 16
    try:
        transcript = _state.whisper.transcribe(
            at_16k, language="zh", max_new_tokens=tokens, timeout_s=_state.config.asr_timeout_s
        )
    except WhisperTimeoutError:
        return "", 1.0
    return transcript, character_error_rate(utterance.reference, transcript)
