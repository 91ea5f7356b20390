"""The Piper engine: VITS voices in ONNX, run by onnxruntime through ``piper-tts``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ttsops.engines.base import AudioChunk, EngineOptions
from ttsops.engines.text import split_text
from ttsops.errors import EngineLoadError, InvalidInputError, SynthesisError

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
        session_options = onnxruntime.SessionOptions()
        session_options.intra_op_num_threads = options.threads
        session_options.inter_op_num_threads = 1
        session_options.enable_cpu_mem_arena = options.memory_arena
        session_options.log_severity_level = 3
        try:
            session = onnxruntime.InferenceSession(
                str(model_path), sess_options=session_options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
            raise EngineLoadError(
                f"piper bundle {bundle_dir}: onnxruntime cannot load {model_path.name}: {exc}"
            ) from None
        self._voice = PiperVoice(session=session, config=config)
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
        self, text: str, voice: str, speed: float, *, seed: int | None = None
    ) -> Iterator[AudioChunk]:
        """Yield one chunk per sentence (or piece of a long sentence)."""
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
        for piece in split_text(text):
            try:
                chunks = list(self._voice.synthesize(piece, syn_config=syn))
            except Exception as exc:
                raise SynthesisError(f"piper failed on {piece[:40]!r}…: {exc}") from exc
            for chunk in chunks:
                yield AudioChunk(
                    samples=np.asarray(chunk.audio_float_array, dtype=np.float32),
                    sample_rate=self.sample_rate,
                    text=piece,
                )

    def synthesize(
        self, text: str, voice: str, speed: float, *, seed: int | None = None
    ) -> AudioChunk:
        """All audio for ``text`` in one chunk."""
        parts = [c.samples for c in self.stream(text, voice, speed, seed=seed)]
        samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        return AudioChunk(samples=samples, sample_rate=self.sample_rate, text=text)
