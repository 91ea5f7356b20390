"""The Kokoro engine: Kokoro-82M v1.0 (int8 ONNX, 24 kHz), Mandarin and English voices.

One ONNX session computes audio from phoneme tokens and a 256-d style vector; voices are
style tables (:mod:`ttsops.engines.kokoro_voices`), text becomes tokens through
:mod:`ttsops.engines.kokoro_text`. Each piece of text is one model call, so streaming
starts after the first clause and a text of any length is spoken in full.

Seeds: the graph has no random nodes, so the same (model, text, voice, speed) always gives
the same audio; ``seed`` is accepted and ignored (the audio is reproducible without it).

Reference clips are used by voice matching (nearest stock voices, mixed), not cloning.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ttsops.engines.base import AudioChunk, EngineOptions, FloatArray, Reference, join_chunks
from ttsops.engines.kokoro_text import FrontEnd, make_phonemizer, normalizer_for, words_for
from ttsops.engines.kokoro_voices import (
    STYLE_ROWS,
    Match,
    VoiceMatcher,
    language_of,
    parse_style,
)
from ttsops.errors import (
    EngineLoadError,
    InvalidInputError,
    ReferenceNotSupportedError,
    SynthesisError,
)

if TYPE_CHECKING:
    from ttsops.bundle.manifest import Manifest

__all__ = ["SAMPLE_RATE", "KokoroEngine", "KokoroModel", "load_vocab", "trim_silence"]

SAMPLE_RATE = 24000
"""Kokoro's output rate in Hz."""


class KokoroEngine:
    """A loaded Kokoro bundle; ``stream`` may be called from several threads at once."""

    supports_prompt_audio = True

    def __init__(self, bundle_dir: Path, manifest: Manifest, options: EngineOptions) -> None:
        where = f"kokoro bundle {bundle_dir}"
        opts = manifest.engine_options
        model_path = _bundle_file(bundle_dir, opts, "model", where)
        vocab_path = _bundle_file(bundle_dir, opts, "vocab", where)
        self._vocab = load_vocab(vocab_path.read_bytes(), f"{where}: {vocab_path.name}")
        files = opts.get("voice_files")
        if not isinstance(files, dict) or not files:
            raise EngineLoadError(
                f"{where}: engine_options.voice_files in bundle.toml must map voice names to "
                "style files; re-create the bundle with `ttsops bundle kokoro`"
            )
        self._styles: dict[str, FloatArray] = {}
        for name, rel in files.items():
            path = bundle_dir / str(rel)
            if not path.is_file():
                raise EngineLoadError(f"{where}: voice file {rel!r} of {name!r} not found")
            self._styles[str(name)] = parse_style(path.read_bytes(), f"{where}: {rel}")
        missing = [v for v in manifest.voices if v not in self._styles]
        if missing:
            raise EngineLoadError(
                f"{where}: voices {', '.join(missing)} have no style file in "
                "engine_options.voice_files; re-create the bundle"
            )
        self.sample_rate = int(manifest.sample_rate)
        self.voices: tuple[str, ...] = tuple(manifest.voices)
        try:
            self._languages = {v: language_of(v) for v in self.voices}
        except InvalidInputError as exc:
            raise EngineLoadError(f"{where}: {exc.message}") from None
        self._fronts = {
            lang: FrontEnd(
                make_phonemizer(lang),
                self._vocab,
                words=words_for(lang),
                normalize=normalizer_for(lang),
            )
            for lang in dict.fromkeys(self._languages.values())
        }
        self._base_speed = float(options.overrides.get("speed", opts.get("speed", 1.0)))
        self._matcher = VoiceMatcher(self._styles, _embeddings(bundle_dir, opts, where))
        self.supports_prompt_audio = bool(self._matcher.pool)
        if self.supports_prompt_audio:
            from ttsops import speaker

            speaker.preload()
        self._model = KokoroModel(model_path, options, where)

    @property
    def match_pool(self) -> tuple[str, ...]:
        """Stock voices a reference clip can be matched to."""
        return self._matcher.pool

    def match(self, reference: Reference, voice: str | None = None) -> Match:
        """The mix of stock voices nearest ``reference`` in ``voice``'s language (cached)."""
        language = self._languages[self._voice(voice or self.voices[0])]
        return self._matcher.match(reference.samples, reference.sample_rate, language)

    def stream(
        self,
        text: str,
        voice: str,
        speed: float,
        *,
        seed: int | None = None,
        reference: Reference | None = None,
    ) -> Iterator[AudioChunk]:
        """Yield one chunk per piece (a sentence, a clause, or a cut of a long one).

        ``seed`` is ignored: Kokoro draws no noise, its audio is always reproducible.
        """
        del seed
        language = self._languages[self._voice(voice)]
        if reference is not None and not self.supports_prompt_audio:
            raise ReferenceNotSupportedError(
                f"this kokoro bundle has no voices to match a reference clip to (it was made "
                f"with --match-voices ''); leave the reference out, or serve a bundle made "
                f"with the default pool: ttsops bundle kokoro --voices {','.join(self.voices)}"
            )
        table = self._styles[voice] if reference is None else self.match(reference, voice).style
        for piece in self._fronts[language].pieces(text):
            if not piece.tokens:
                continue  # only symbols the model has no sound for
            try:
                samples = self._model.run(piece.tokens, table, speed * self._base_speed)
            except SynthesisError as exc:
                raise SynthesisError(f"kokoro failed on {piece.text[:40]!r}…: {exc}") from exc
            samples = _with_pause(trim_silence(samples, self.sample_rate), piece.text)
            yield AudioChunk(samples=samples, sample_rate=self.sample_rate, text=piece.text)

    def synthesize(
        self,
        text: str,
        voice: str,
        speed: float,
        *,
        seed: int | None = None,
        reference: Reference | None = None,
    ) -> AudioChunk:
        """All audio for ``text`` in one chunk."""
        pieces = self.stream(text, voice, speed, seed=seed, reference=reference)
        return join_chunks(pieces, self.sample_rate, text)

    def _voice(self, voice: str) -> str:
        if voice not in self._languages:
            raise InvalidInputError(
                f"unknown voice {voice!r}; this model has: {', '.join(self.voices)}"
            )
        return voice


_FRAME_S = 0.01
_KEEP_S = 0.05
_PAUSES_S = {**dict.fromkeys("。！？；.!?;…", 0.3), **dict.fromkeys("，、：,:", 0.15)}


def trim_silence(samples: FloatArray, rate: int) -> FloatArray:
    """``samples`` without the silence Kokoro leaves at both ends (about 0.4 s and 1.1 s).

    A 10 ms frame is silent when its RMS is 40 dB below the loudest frame's or under
    -60 dBFS; 50 ms of the edge is kept so no onset or decay is cut.
    """
    frame = max(1, int(rate * _FRAME_S))
    count = samples.size // frame
    if count == 0:
        return samples
    frames = samples[: count * frame].astype(np.float64).reshape(count, frame)
    with np.errstate(divide="ignore"):
        level = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)))
    speech = np.flatnonzero(level > max(float(np.max(level)) - 40.0, -60.0))
    if speech.size == 0:
        return samples
    keep = int(rate * _KEEP_S)
    start = max(0, int(speech[0]) * frame - keep)
    end = min(samples.size, (int(speech[-1]) + 1) * frame + keep)
    return samples[start:end]


def _with_pause(samples: FloatArray, text: str) -> FloatArray:
    """Append the pause a listener expects after the piece's closing mark."""
    mark = text.rstrip(" \"'”’」』)）")[-1:]
    pause = int(SAMPLE_RATE * _PAUSES_S.get(mark, 0.0))
    if pause == 0:
        return samples
    return np.concatenate([samples, np.zeros(pause, dtype=np.float32)])


class KokoroModel:
    """The Kokoro ONNX graph: phoneme tokens and a style table in, 24 kHz audio out."""

    def __init__(self, model_path: Path, options: EngineOptions, where: str) -> None:
        import onnxruntime

        self._session = _session(onnxruntime, model_path, options, where)

    def run(self, tokens: tuple[int, ...], table: FloatArray, speed: float) -> FloatArray:
        """Audio for one piece of at most 510 tokens, in the voice of style ``table``."""
        style = table[min(len(tokens), STYLE_ROWS - 1)][np.newaxis, :]
        feed = {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": np.ascontiguousarray(style, dtype=np.float32),
            "speed": np.array([speed], dtype=np.float32),
        }
        try:
            (audio,) = self._session.run(["audio"], feed)
        except Exception as exc:
            raise SynthesisError(str(exc)) from exc
        return np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)


def load_vocab(data: bytes, where: str) -> dict[str, int]:
    """Kokoro's phoneme → token id map from ``vocab.json`` bytes (``{"vocab": {…}}``)."""
    try:
        vocab = json.loads(data.decode("utf-8"))["vocab"]
        return {str(k): int(v) for k, v in vocab.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EngineLoadError(f"{where} is not a Kokoro vocabulary ({exc})") from None


def _bundle_file(bundle_dir: Path, opts: dict[str, Any], key: str, where: str) -> Path:
    """The bundle file ``engine_options[key]`` names, which must exist."""
    path = bundle_dir / str(opts.get(key, ""))
    if not opts.get(key) or not path.is_file():
        raise EngineLoadError(
            f"{where}: {key} file {opts.get(key)!r} not found; engine_options.{key} in "
            "bundle.toml must name a file of the bundle"
        )
    return path


def _embeddings(bundle_dir: Path, opts: dict[str, Any], where: str) -> dict[str, FloatArray]:
    """The pool voices' speaker embeddings recorded in the bundle (none: no matching)."""
    from ttsops.speaker import EMBEDDING_DIM, ENCODER_SHA256

    rel = opts.get("speakers")
    if not rel:
        return {}
    path = _bundle_file(bundle_dir, opts, "speakers", where)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        vectors = {str(n): np.asarray(v, dtype=np.float32) for n, v in data["voices"].items()}
        encoder = str(data["encoder_sha256"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EngineLoadError(f"{where}: {rel} is not a speakers file ({exc})") from None
    if encoder != ENCODER_SHA256 or any(v.shape != (EMBEDDING_DIM,) for v in vectors.values()):
        raise EngineLoadError(
            f"{where}: {rel} was made with another speaker encoder ({encoder[:12]}…); "
            "re-create the bundle with `ttsops bundle kokoro`"
        )
    return vectors


def _session(onnxruntime: Any, model_path: Path, options: EngineOptions, where: str) -> Any:
    """One onnxruntime session of the model with ``options.threads`` intra-op threads."""
    session_options = onnxruntime.SessionOptions()
    session_options.intra_op_num_threads = max(1, options.threads)
    session_options.inter_op_num_threads = 1
    session_options.enable_cpu_mem_arena = options.memory_arena
    session_options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(
            str(model_path), sess_options=session_options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise EngineLoadError(
            f"{where}: onnxruntime cannot load {model_path.name}: {exc}"
        ) from None
