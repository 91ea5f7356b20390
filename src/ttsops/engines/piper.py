"""The Piper engine: VITS voices in ONNX, run by onnxruntime through ``piper-tts``.

Seeds: the model's in-graph noise is rewritten at load into a look-up in a constant table
at an offset fed per run (see :mod:`ttsops.engines.noise` for why onnxruntime's own seed
cannot do this), so ``seed=`` gives bit-identical audio and ``None`` fresh noise per piece.
``PiperVoice`` calls ``session.run`` itself; for each piece it gets a copy of the voice
whose session is a small proxy adding the offset input.

Threads: onnxruntime fixes ``intra_op_num_threads`` per session, so with
``EngineOptions.solo_threads`` the engine holds a second, wide session of the same model.
A piece runs on it when its stream is the only one open in this engine (a lone request
then uses the idle cores), and on the narrow one otherwise (under load, one thread per
synthesis, no oversubscription). Both give the same samples for the same seed.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ttsops.engines.base import AudioChunk, EngineOptions, Reference, join_chunks
from ttsops.engines.noise import NOISE_INPUT, noise_offset, seedable_model
from ttsops.engines.text import split_text
from ttsops.errors import (
    EngineLoadError,
    InvalidInputError,
    ReferenceNotSupportedError,
    SynthesisError,
)

if TYPE_CHECKING:
    from ttsops.bundle.manifest import Manifest

__all__ = ["PiperEngine"]

_SCALES = ("length_scale", "noise_scale", "noise_w_scale")


class PiperEngine:
    """A loaded Piper voice; ``stream`` may be called from several threads at once."""

    supports_prompt_audio = False

    def __init__(self, bundle_dir: Path, manifest: Manifest, options: EngineOptions) -> None:
        import onnxruntime
        from piper.config import PiperConfig, SynthesisConfig
        from piper.voice import PiperVoice

        opts = manifest.engine_options
        model_path = bundle_dir / str(opts.get("model", ""))
        config_path = bundle_dir / str(opts.get("config", f"{opts.get('model', '')}.json"))
        for path, what in ((model_path, "model"), (config_path, "config")):
            if not path.is_file():
                raise EngineLoadError(
                    f"piper bundle {bundle_dir}: {what} file {path.name!r} not found; "
                    f"engine_options.{what} in bundle.toml must name a file of the bundle"
                )
        try:
            config_dict = json.loads(config_path.read_text(encoding="utf-8"))
            config = PiperConfig.from_dict(config_dict)
        except (ValueError, KeyError) as exc:
            raise EngineLoadError(
                f"piper bundle {bundle_dir}: {config_path.name} is not a Piper voice config ({exc})"
            ) from None
        widths = {"narrow": options.threads}
        if options.solo_threads > options.threads:
            widths["wide"] = options.solo_threads
        with tempfile.TemporaryDirectory(prefix="ttsops-model-") as tmp:
            source = _seedable_copy(model_path, Path(tmp))
            self._seedable = source is not None
            self._sessions: dict[str, Any] = {
                name: _session(
                    onnxruntime,
                    str(source or model_path),
                    threads,
                    options,
                    f"piper bundle {bundle_dir}",
                    model_path.name,
                    wide=name == "wide",
                )
                for name, threads in widths.items()
            }
        _return_freed_memory()
        self._lock = threading.Lock()
        self._active = 0
        self._pieces = dict.fromkeys(self._sessions, 0)
        self._voice = PiperVoice(session=self._sessions["narrow"], config=config)
        self._base: dict[str, Any] = {
            "length_scale": config.length_scale,
            "noise_scale": config.noise_scale,
            "noise_w_scale": config.noise_w_scale,
        }
        for key in _SCALES:
            if key in opts:
                self._base[key] = float(opts[key])
            if key in options.overrides:
                self._base[key] = float(options.overrides[key])
        self._config_cls = SynthesisConfig
        self.sample_rate = int(config.sample_rate)
        self.voices: tuple[str, ...] = tuple(manifest.voices)
        self._speakers = dict(config.speaker_id_map)

    def stream(
        self,
        text: str,
        voice: str,
        speed: float,
        *,
        seed: int | None = None,
        reference: Reference | None = None,
    ) -> Iterator[AudioChunk]:
        """Yield one chunk per sentence (or piece of a long sentence)."""
        if reference is not None:
            raise ReferenceNotSupportedError(
                "the piper engine cannot use a reference voice (it neither clones nor matches "
                "voices); leave the reference out, or use a version whose engine can "
                "(kokoro matches voices)"
            )
        if voice not in self.voices:
            raise InvalidInputError(
                f"unknown voice {voice!r}; this model has: {', '.join(self.voices)}"
            )
        syn = self._config_cls(
            speaker_id=self._speakers.get(voice),
            length_scale=self._base["length_scale"] / speed,
            noise_scale=self._base["noise_scale"],
            noise_w_scale=self._base["noise_w_scale"],
        )
        with self._lock:
            self._active += 1
        try:
            for index, piece in enumerate(split_text(text)):
                try:
                    chunks = self._piece(piece, syn, seed, index)
                except Exception as exc:
                    raise SynthesisError(f"piper failed on {piece[:40]!r}…: {exc}") from exc
                for chunk in chunks:
                    yield AudioChunk(
                        samples=np.asarray(chunk.audio_float_array, dtype=np.float32),
                        sample_rate=self.sample_rate,
                        text=piece,
                    )
        finally:  # also when the consumer closes the stream early
            with self._lock:
                self._active -= 1

    @property
    def pieces_by_session(self) -> dict[str, int]:
        """Pieces synthesized so far by each session: ``narrow`` and, if enabled, ``wide``."""
        with self._lock:
            return dict(self._pieces)

    @property
    def seedable(self) -> bool:
        """Whether a seed makes the audio reproducible (the model's noise was rewritten)."""
        return self._seedable

    def _piece(self, piece: str, syn: Any, seed: int | None, index: int) -> list[Any]:
        """Synthesize one piece: on the wide session if no other stream is open, else narrow."""
        with self._lock:
            name = "wide" if self._active == 1 and "wide" in self._sessions else "narrow"
            self._pieces[name] += 1
        session = _SeededSession(self._sessions[name], seed, index, self._seedable)
        voice = dataclasses.replace(self._voice, session=session)
        chunks = list(voice.synthesize(piece, syn_config=syn))
        if self._voice.tashkeel_diacritizier is None:  # Arabic: made lazily; keep it, once
            self._voice.tashkeel_diacritizier = voice.tashkeel_diacritizier
        return chunks

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


class _SeededSession:
    """What ``PiperVoice`` runs for one piece: a real session, fed this piece's noise offsets.

    Piper may run the model more than once for one piece (espeak splits sentences again),
    so each run gets its own offset.
    """

    def __init__(self, session: Any, seed: int | None, piece: int, seedable: bool) -> None:
        self._session = session
        self._seed = seed
        self._piece = piece
        self._seedable = seedable
        self._runs = 0

    def run(self, output_names: Sequence[str] | None, feed: dict[str, Any]) -> Any:
        """Run the model with ``feed`` plus the noise offset input."""
        if self._seedable:
            offset = noise_offset(self._seed, self._piece, self._runs)
            feed = {**feed, NOISE_INPUT: np.array(offset, dtype=np.int64)}
        self._runs += 1
        return self._session.run(output_names, feed)


def _seedable_copy(model_path: Path, tmp: Path) -> Path | None:
    """The model with seedable noise, written under ``tmp``; None if it has no noise node.

    A file, not bytes: onnxruntime keeps the bytes it was given for the session's lifetime,
    which would cost the model's size in memory for nothing. A file onnx cannot parse is
    left to onnxruntime, whose load error the caller reports.
    """
    import onnx

    try:
        proto = onnx.load(str(model_path))
    except Exception:  # noqa: BLE001 - onnx raises DecodeError and friends, untyped
        return None
    if seedable_model(proto) == 0:
        return None
    out = tmp / model_path.name
    onnx.save(proto, str(out))
    return out


def _return_freed_memory() -> None:
    """Give the heap freed by parsing the model back to the OS (glibc keeps ~30 MB of it)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _session(
    onnxruntime: Any,
    source: str,
    threads: int,
    options: EngineOptions,
    where: str,
    name: str,
    *,
    wide: bool = False,
) -> Any:
    """One onnxruntime session of the model with ``threads`` intra-op threads."""
    session_options = onnxruntime.SessionOptions()
    session_options.intra_op_num_threads = threads
    session_options.inter_op_num_threads = 1
    session_options.enable_cpu_mem_arena = options.memory_arena
    session_options.log_severity_level = 3
    if wide:  # idle pool threads must not spin on cores another request's synthesis needs
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(
            source, sess_options=session_options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
        raise EngineLoadError(f"{where}: onnxruntime cannot load {name}: {exc}") from None
