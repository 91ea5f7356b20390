"""How a gate worker makes a sentence's audio: an engine in this process, or a service.

An engine streams its chunks (the first one is the first-audio latency); a service is one
request to its ``Speaker`` (its first audio is its whole answer), one in flight per service
across all workers (``WorkerConfig.speak_locks``). With reference clips, the sentence is
spoken once more with one of them (chosen by its id, so both sides use the same clip) and
its speaker similarity to the clip is scored.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ttsops.errors import GateError, TtsopsError
from ttsops.gate.results import UtteranceResult
from ttsops.speech.base import FloatArray

if TYPE_CHECKING:
    from ttsops.gate.worker import WorkerState
    from ttsops.speech import Speaker, Speech, SpeechRequest

__all__ = [
    "can_reference",
    "open_service_speaker",
    "sentence_seed",
    "service_voice",
    "speak",
    "synthesize",
    "with_similarity",
    "write_wav",
]


def sentence_seed(synthesis_seed: int, utterance_id: str) -> int:
    """The synthesis seed of one sentence: stable across runs and processes, 0 ≤ seed < 2³¹."""
    digest = hashlib.sha256(f"{synthesis_seed}:{utterance_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def open_service_speaker(state: WorkerState, role: str, path: Path) -> Speaker:
    """The speaker of a service role at the URL the parent started it on."""
    from ttsops.service import service_of
    from ttsops.speech import open_speaker

    url = state.config.services.get(role)
    service = service_of(path)
    if url is None or service is None:
        raise GateError(f"the {role} is a service version, and it was not started")
    return open_speaker(service.speech, url)


def can_reference(state: WorkerState, role: str) -> bool:
    """Whether the ``role`` model takes a reference clip."""
    if role in state.speakers:
        return bool(state.speakers[role].can_reference)
    return bool(state.engines[role].supports_prompt_audio)


def synthesize(
    state: WorkerState, role: str, text: str, voice: str, seed: int
) -> tuple[FloatArray, int, float, float | None]:
    """Speak ``text``: samples, their rate, synthesis seconds and first-audio seconds."""
    if role in state.speakers:
        from ttsops.speech import SpeechRequest

        request = SpeechRequest(text, voice=service_voice(state, role, voice), seed=seed)
        speech = speak(state, role, request)
        # a whole answer: its first audio is its last byte
        return speech.samples, speech.sample_rate, speech.took_s, speech.took_s
    engine = state.engines[role]
    started = time.perf_counter()
    first: float | None = None
    parts = []
    for chunk in engine.stream(text, voice, 1.0, seed=seed):
        if first is None:
            first = time.perf_counter() - started
        parts.append(chunk.samples)
    synthesis_s = time.perf_counter() - started
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return samples, engine.sample_rate, synthesis_s, first


def service_voice(state: WorkerState, role: str, voice: str) -> str | None:
    """The voice sent to a service: none for its default (its manifest's first voice)."""
    return None if voice == state.manifests[role].voices[0] else voice


def speak(state: WorkerState, role: str, request: SpeechRequest) -> Speech:
    """One request to a service role's speaker, alone in flight to that service."""
    from contextlib import nullcontext

    lock = state.config.speak_locks.get(role)
    with lock if lock is not None else nullcontext():
        return state.speakers[role].speak(request)


def with_similarity(
    state: WorkerState, result: UtteranceResult, role: str, voice: str, audio_dir: str | None
) -> UtteranceResult:
    """``result`` with the speaker similarity of its sentence spoken with a reference clip.

    The clip is chosen by the sentence's id, so candidate and baseline pair up; a model
    that fails to speak with a reference gets no similarity (missing, never a pass).
    """
    from ttsops.speaker import embed, similarity

    index = sentence_seed(0, result.id) % len(state.references)
    reference, wanted = state.references[index]
    started = time.perf_counter()
    seed = sentence_seed(state.synthesis_seed, result.id)
    try:
        if role in state.speakers:
            from ttsops.speech import ReferenceClip as Clip
            from ttsops.speech import SpeechRequest

            clip = Clip(Path(state.config.references[index].path))
            request = SpeechRequest(result.text, service_voice(state, role, voice), clip, seed=seed)
            speech = speak(state, role, request)
            samples, rate = np.nan_to_num(speech.samples), speech.sample_rate
        else:
            engine = state.engines[role]
            chunk = engine.synthesize(result.text, voice, 1.0, seed=seed, reference=reference)
            samples, rate = np.nan_to_num(chunk.samples), chunk.sample_rate
    except TtsopsError:
        return replace(result, reference_voice=reference.name)
    if audio_dir is not None:
        where = Path(audio_dir) / result.role / "reference" / f"{result.id}.wav"
        write_wav(where, samples, rate)
    score = None
    if samples.size >= rate // 2:
        score = similarity(embed(samples, rate), wanted)
    timings = {**result.timings, "similarity": time.perf_counter() - started}
    metrics = {**result.metrics, "similarity": score}
    return replace(result, metrics=metrics, reference_voice=reference.name, timings=timings)


def write_wav(path: Path, samples: FloatArray, rate: int) -> None:
    """Write mono ``samples`` as 16-bit PCM WAV, making its directory."""
    import soundfile

    path.parent.mkdir(parents=True, exist_ok=True)
    clean = np.clip(np.nan_to_num(samples), -1.0, 1.0)
    soundfile.write(str(path), clean, rate, subtype="PCM_16")
