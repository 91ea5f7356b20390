"""One replica: the bundle it serves, its inference pool, metrics, and input rules."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttsops import __version__
from ttsops.bundle.manifest import Manifest
from ttsops.engines import EngineOptions, Reference, load_engine
from ttsops.engines.text import clean_text
from ttsops.errors import (
    InputTooLongError,
    InvalidInputError,
    ReferenceNotSupportedError,
    TtsopsError,
)
from ttsops.server.metrics import ServerMetrics
from ttsops.server.pool import InferencePool
from ttsops.server.refvoices import RefVoiceStore, is_ref_id
from ttsops.server.schemas import OPENAI_MODEL_ALIASES, VersionInfo
from ttsops.server.voices import VoiceMap
from ttsops.settings import ServerSettings, Settings

__all__ = ["WARMUP_TEXT", "Replica", "SpeechInput"]

log = logging.getLogger("ttsops.server")

WARMUP_TEXT = "Ready to speak."
_SILENCE_RMS = 1e-3


@dataclass(frozen=True)
class SpeechInput:
    """A request's text and voice after validation."""

    text: str
    """Cleaned text, non-empty, within the limit."""

    voice: str
    """A voice the model has (with a reference: the default voice, the engine's base)."""

    reference: Reference | None = None
    """The registered reference voice the request named, loaded; None for a stock voice."""


class Replica:
    """Serves one bundle: loads it in the background and becomes ready after a real synthesis."""

    def __init__(
        self,
        bundle_dir: Path,
        manifest: Manifest,
        settings: ServerSettings,
        engine_options: EngineOptions | None = None,
    ) -> None:
        self.bundle_dir = bundle_dir
        self.manifest = manifest
        self.settings = settings
        self.engine_options = engine_options or EngineOptions(
            threads=settings.threads,
            solo_threads=(
                settings.solo_threads if settings.solo_threads is not None else os.cpu_count() or 1
            ),
        )
        self.voices = VoiceMap(manifest.voices, settings.voice_aliases)
        """The bundle's voices and their aliases (OpenAI's names); refuses a bad alias now."""
        self.references = RefVoiceStore(settings.voices_dir or Settings().home / "voices")
        """Reference voices registered on this host (shared with its other slots)."""
        self.metrics = ServerMetrics()
        workers = settings.workers or os.cpu_count() or 1
        self.pool = InferencePool(
            workers=workers,
            queue_size=settings.queue_size,
            request_timeout_s=settings.request_timeout_s,
            max_audio_s=settings.max_audio_seconds,
            on_change=self.metrics.set_load,
        )
        self.metrics.model.info(
            {
                "name": manifest.name,
                "version": manifest.version,
                "digest": manifest.digest,
                "git_sha": manifest.source.git_sha or "",
                "engine": manifest.engine,
                "ttsops_version": __version__,
            }
        )
        self.metrics.ready.set(0)

    @property
    def headers(self) -> dict[str, str]:
        """Headers every response carries, so any audio can be traced to its model."""
        return {"X-TTSOps-Version": self.manifest.ref, "X-TTSOps-Digest": self.manifest.digest}

    def version_info(self) -> VersionInfo:
        """What ``GET /version`` answers."""
        m = self.manifest
        return VersionInfo(
            name=m.name,
            version=m.version,
            digest=m.digest,
            git_sha=m.source.git_sha,
            ttsops_version=__version__,
            engine=m.engine,
            sample_rate=m.sample_rate,
            voices=list(m.voices),
            max_input_chars=self.settings.max_input_chars,
            workers=self.pool.workers,
            queue_size=self.pool.queue_size,
            supports_prompt_audio=bool(
                self.pool.engine is not None and self.pool.engine.supports_prompt_audio
            ),
            image=self.settings.image,
            image_id=self.settings.image_id,
        )

    # -- life -------------------------------------------------------------------------

    def load_in_background(self) -> threading.Thread:
        """Load and warm up the engine on a thread; readiness follows the outcome."""
        thread = threading.Thread(target=self.load, name="model-loader", daemon=True)
        thread.start()
        return thread

    def load(self) -> None:
        """Load the engine and run one real synthesis; ready only if it is not silent."""
        try:
            engine = load_engine(self.bundle_dir, self.manifest, self.engine_options)
            audio = engine.synthesize(WARMUP_TEXT, self.manifest.voices[0], 1.0)
        except TtsopsError as exc:
            log.error("model %s cannot serve: %s", self.manifest.ref, exc.message)  # noqa: TRY400 - the message says it all; no traceback for known errors
            self.pool.set_failed(exc.message)
            return
        except Exception as exc:
            log.exception("model %s failed to load", self.manifest.ref)
            self.pool.set_failed(f"model failed to load: {exc}")
            return
        samples = audio.samples
        rms = float(np.sqrt(np.mean(np.square(samples)))) if len(samples) else 0.0
        if not np.isfinite(rms) or rms < _SILENCE_RMS:
            self.pool.set_failed(
                f"warm-up synthesis of {WARMUP_TEXT!r} produced silence (rms {rms:.2e}); "
                "the model files are broken or the engine settings are wrong"
            )
            log.error("model %s: %s", self.manifest.ref, self.pool.reason)
            return
        self.pool.set_ready(engine)
        self.metrics.ready.set(1)
        log.info(
            "model %s ready (warm-up: %.2f s of audio, rms %.3f)",
            self.manifest.ref,
            audio.duration_s,
            rms,
        )

    def begin_drain(self) -> None:
        """Stop taking new work: readiness 503 from now on."""
        self.pool.begin_drain()
        self.metrics.ready.set(0)

    # -- input rules ------------------------------------------------------------------

    @property
    def model_names(self) -> list[str]:
        """Names a request's ``model`` may give: the served name, ``name@version``, OpenAI ids."""
        return [self.manifest.name, self.manifest.ref, *OPENAI_MODEL_ALIASES]

    def check_model(self, model: str | None) -> None:
        """Accept the served model's name, ``name@version`` or an OpenAI model id."""
        accepted = self.model_names
        if model is not None and model not in accepted:
            raise InvalidInputError(
                f"unknown model {model!r}; this server serves {self.manifest.ref}: "
                f"use {self.manifest.name!r} (or one of {', '.join(OPENAI_MODEL_ALIASES)})"
            )

    def check_input(self, text: str, voice: str | None) -> SpeechInput:
        """Validate and clean the text and voice, or raise a 4xx error saying what to fix."""
        limit = self.settings.max_input_chars
        if len(text) > limit:
            raise InputTooLongError(
                f"input is {len(text)} characters; the limit is {limit}. Split the text into "
                "several requests (`ttsops batch` splits long lines at sentence ends for you)"
            )
        cleaned = clean_text(text)
        if not any(ch.isalnum() for ch in cleaned):
            raise InvalidInputError(
                "input has nothing to speak: it is empty or only whitespace, punctuation or "
                "control characters"
            )
        if is_ref_id(voice):
            assert voice is not None
            return SpeechInput(cleaned, self.manifest.voices[0], self.reference(voice))
        return SpeechInput(text=cleaned, voice=self.voices.resolve(voice))

    def reference(self, voice_id: str) -> Reference:
        """A registered reference voice, loaded; 400 if this engine cannot use one, 404 if
        no such voice is registered."""
        self.require_reference_support(f"reference voices such as {voice_id!r}")
        return self.references.load(voice_id)

    def require_reference_support(self, what: str = "reference voices") -> None:
        """Raise a 400 naming the alternatives if this model's engine cannot use a reference."""
        engine = self.pool.engine
        if engine is not None and not engine.supports_prompt_audio:
            raise ReferenceNotSupportedError(
                f"model {self.manifest.ref} (engine {self.manifest.engine}) cannot use "
                f"{what}; use one of its voices ({', '.join(self.voices.voices)}), or a "
                "version whose engine can (its /version says supports_prompt_audio: true; "
                "kokoro bundles match a reference to their voices)"
            )
