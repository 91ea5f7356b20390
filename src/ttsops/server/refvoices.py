"""The reference-voice store: clips registered as voices, shared by every slot on a host.

A directory (``[server] voices_dir``, default ``$TTSOPS_HOME/voices``) holds per voice
``<id>.wav`` (the normalised clip, 16-bit mono at ``CLIP_RATE``) and ``<id>.json`` (name,
transcript, duration, rates, creation time). Ids are content addresses (``ref-`` and 12 hex
of the clip's sha256), so the same clip registered twice, on blue or on green, is one
voice. Both files are written under a temporary name and renamed into place, the sidecar
last: a voice exists once its sidecar does, and a crash leaves no half-written one. Every
lookup reads the directory again, because another slot may have changed it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ttsops.engines.base import Reference
from ttsops.errors import ConfigError, InvalidReferenceError, ReferenceNotFoundError
from ttsops.server.refclip import CLIP_RATE, REF_ID_PATTERN, Clip, decode_clip

__all__ = ["MAX_NAME_CHARS", "MAX_TEXT_CHARS", "RefVoice", "RefVoiceStore", "is_ref_id"]

log = logging.getLogger("ttsops.server")

MAX_NAME_CHARS = 100
"""Longest display name of a reference voice."""

MAX_TEXT_CHARS = 2000
"""Longest transcript of a reference clip."""

_ID = re.compile(REF_ID_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def is_ref_id(voice: str | None) -> bool:
    """Whether ``voice`` has the shape of a reference voice's id (``ref-`` + 12 hex)."""
    return voice is not None and _ID.fullmatch(voice) is not None


@dataclass(frozen=True)
class RefVoice:
    """A registered reference voice, as its sidecar records it."""

    id: str
    """``ref-`` and 12 hex of the clip's sha256; usable as ``voice`` in speech requests."""

    name: str
    """Display name (the upload's file name when none was given)."""

    text: str | None
    """What the clip says, if the uploader said."""

    duration_s: float
    """Length of the clip in seconds."""

    sample_rate: int
    """Rate of the stored clip (``CLIP_RATE``)."""

    source_rate: int
    """Rate of the audio as uploaded."""

    source_format: str
    """Container of the upload (``WAV``, ``FLAC``, ``mp3``…)."""

    sha256: str
    """sha256 of the clip's 16-bit samples."""

    created: str
    """When it was first registered (ISO 8601, UTC)."""


class RefVoiceStore:
    """Reference voices in one directory; safe to share between processes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def register(
        self, data: bytes, *, name: str | None = None, text: str | None = None, filename: str = ""
    ) -> tuple[RefVoice, bool]:
        """Check and store a clip; the voice and whether it is new (an equal clip is reused)."""
        name = _clean(name, "name", MAX_NAME_CHARS)
        text = _clean(text, "text", MAX_TEXT_CHARS)
        clip = decode_clip(data, f"clip {filename!r}" if filename else "the clip")
        existing = self._read(clip.id)
        if existing is not None:
            return existing, False
        voice = RefVoice(
            id=clip.id,
            name=name or Path(filename).stem or clip.id,
            text=text,
            duration_s=round(clip.duration_s, 3),
            sample_rate=CLIP_RATE,
            source_rate=clip.source_rate,
            source_format=clip.source_format,
            sha256=clip.sha256,
            created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        )
        self._write(clip, voice)
        log.info(
            "registered reference voice %s (%s, %.1f s)", voice.id, voice.name, clip.duration_s
        )
        return voice, True

    def list(self) -> list[RefVoice]:
        """Every registered voice, oldest first."""
        if not self.root.is_dir():
            return []
        found = [self._read(path.stem) for path in self.root.glob("ref-*.json")]
        return sorted((v for v in found if v is not None), key=lambda v: (v.created, v.id))

    def get(self, voice_id: str) -> RefVoice:
        """The voice registered as ``voice_id``, or a 404 saying how to register one."""
        voice = self._read(voice_id) if is_ref_id(voice_id) else None
        if voice is None:
            raise ReferenceNotFoundError(
                f"no reference voice {voice_id!r} is registered on this host; register a clip "
                "with POST /v1/voices (multipart field 'file') and use the id it answers, or "
                "list them with GET /v1/voices"
            )
        return voice

    def load(self, voice_id: str) -> Reference:
        """The voice's clip as a ``Reference`` for an engine."""
        import soundfile

        voice = self.get(voice_id)
        try:
            pcm, rate = soundfile.read(self._wav(voice_id), dtype="int16")
        except (soundfile.LibsndfileError, OSError) as exc:
            raise ReferenceNotFoundError(
                f"reference voice {voice_id!r} has no readable clip in {self.root} ({exc}); "
                "delete it (DELETE /v1/voices/{id}) and register the clip again"
            ) from None
        samples = (np.asarray(pcm, dtype=np.float32) / 32768.0).reshape(-1)
        return Reference(samples=samples, sample_rate=int(rate), text=voice.text, name=voice.id)

    def delete(self, voice_id: str) -> RefVoice:
        """Remove a voice (sidecar first, so it stops existing at once); what was removed."""
        voice = self.get(voice_id)
        self._json(voice_id).unlink(missing_ok=True)
        self._wav(voice_id).unlink(missing_ok=True)
        log.info("deleted reference voice %s (%s)", voice.id, voice.name)
        return voice

    # -- files ------------------------------------------------------------------------

    def _json(self, voice_id: str) -> Path:
        return self.root / f"{voice_id}.json"

    def _wav(self, voice_id: str) -> Path:
        return self.root / f"{voice_id}.wav"

    def _read(self, voice_id: str) -> RefVoice | None:
        """The sidecar of ``voice_id`` if it and its clip are there; None otherwise."""
        path = self._json(voice_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            voice = RefVoice(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring unreadable reference voice sidecar %s: %s", path, exc)
            return None
        return voice if voice.id == voice_id and self._wav(voice_id).is_file() else None

    def _write(self, clip: Clip, voice: RefVoice) -> None:
        """Clip, then sidecar, each to a temporary name renamed into place."""
        import soundfile

        try:
            self.root.mkdir(parents=True, exist_ok=True)
            pcm = np.frombuffer(clip.pcm16, dtype="<i2")
            with _temp(self.root, ".wav") as tmp:
                soundfile.write(tmp, pcm, CLIP_RATE, subtype="PCM_16", format="WAV")
                tmp.replace(self._wav(voice.id))
            with _temp(self.root, ".json") as tmp:
                tmp.write_text(json.dumps(asdict(voice), ensure_ascii=False, indent=1) + "\n")
                tmp.replace(self._json(voice.id))
        except OSError as exc:
            raise ConfigError(
                f"cannot store reference voices in {self.root} ({exc.strerror or exc}); set "
                "[server] voices_dir in ttsops.toml to a writable directory shared by the "
                "host's slots"
            ) from None


@contextlib.contextmanager
def _temp(root: Path, suffix: str) -> Iterator[Path]:
    """A temporary file name in ``root`` (hidden, so listings skip it), removed if left over."""
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=root)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _clean(value: str | None, field: str, limit: int) -> str | None:
    """A name or transcript without control characters; None when empty."""
    if value is None:
        return None
    cleaned = _CONTROL.sub(" ", value).strip()
    if len(cleaned) > limit:
        raise InvalidReferenceError(
            f"{field} is {len(cleaned)} characters; the limit is {limit}. Shorten it"
        )
    return cleaned or None
