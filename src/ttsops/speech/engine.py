"""The ``engine`` adapter: a bundle's model loaded in this process, no server in between."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from ttsops.engines.base import Engine, Reference
from ttsops.errors import ReferenceNotSupportedError, SpeechError
from ttsops.speech.base import Speech, SpeechRequest

__all__ = ["EngineSpeaker", "bundle_speaker"]


class EngineSpeaker:
    """Speaks with a loaded ``Engine``; reference clips are checked as ``POST /v1/voices``
    checks them (length, rate, not silence) and decoded once each."""

    def __init__(self, engine: Engine, *, version: str | None = None) -> None:
        """``version`` is what ``Speech.version`` reports (a bundle's ``name@version``)."""
        self.engine = engine
        self.version = version
        self.can_reference = bool(engine.supports_prompt_audio)
        self._refs: dict[tuple[Path, str | None], Reference] = {}
        self._lock = threading.Lock()

    def speak(self, request: SpeechRequest) -> Speech:
        """Synthesize all of ``request`` at once."""
        from ttsops.engines.text import clean_text

        reference = self._reference(request) if request.reference is not None else None
        voice = request.voice or self.engine.voices[0]
        started = time.monotonic()
        chunk = self.engine.synthesize(
            clean_text(request.text),
            voice,
            request.speed,
            seed=request.seed,
            reference=reference,
        )
        if chunk.samples.size == 0:
            raise SpeechError(
                f"{self.version or 'the engine'} made no audio for {request.text[:60]!r}"
            )
        samples = np.ascontiguousarray(chunk.samples, dtype=np.float32)
        return Speech(samples, chunk.sample_rate, time.monotonic() - started, self.version)

    def close(self) -> None:
        """Forget decoded clips; the engine itself is the caller's to drop."""
        with self._lock:
            self._refs.clear()

    def _reference(self, request: SpeechRequest) -> Reference:
        """The request's clip as a ``Reference``, decoded and checked once per (path, text)."""
        from ttsops.server.refclip import CLIP_RATE, decode_clip

        clip = request.reference
        assert clip is not None
        if not self.can_reference:
            raise ReferenceNotSupportedError(
                f"{self.version or 'this engine'} takes no reference clip (its engine cannot "
                "use one); drop prompt_audio, or use a bundle whose engine can (kokoro)"
            )
        key = (clip.path, clip.text)
        with self._lock:
            if key not in self._refs:
                try:
                    data = clip.path.read_bytes()
                except OSError as exc:
                    raise SpeechError(
                        f"cannot read the reference clip {clip.path}: {exc}"
                    ) from None
                decoded = decode_clip(data, f"the reference clip {clip.path.name!r}")
                self._refs[key] = Reference(
                    samples=decoded.samples, sample_rate=CLIP_RATE, text=clip.text, name=decoded.id
                )
            return self._refs[key]


def bundle_speaker(bundle_dir: Path, *, threads: int = 1) -> EngineSpeaker:
    """Verify the bundle at ``bundle_dir``, load it with its engine, and speak with it."""
    from ttsops.bundle import verify_bundle
    from ttsops.engines import EngineOptions, load_engine

    manifest = verify_bundle(bundle_dir)
    engine = load_engine(bundle_dir, manifest, EngineOptions(threads=threads))
    return EngineSpeaker(engine, version=manifest.ref)
