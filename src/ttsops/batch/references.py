"""A batch line's ``prompt_audio``: the clip's path, and the clip made usable by each backend.

Against a server the clip is registered once (``POST /v1/voices``) and its id sent as
``voice``; in-process it is decoded and checked by the same code the server uses and given
to the engine as a ``Reference``. Either way each distinct clip is read once per batch.
"""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from ttsops.batch.tasks import Task
from ttsops.engines.base import Reference

__all__ = ["ClipError", "ClipLoader", "ClipRegistrar", "clip_path"]


class ClipError(Exception):
    """A clip could not be read, registered or used; ``code`` as in the server's errors."""

    def __init__(self, message: str, code: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retryable = retryable


def clip_path(prompt_audio: str, tasks_file: Path) -> Path:
    """``prompt_audio`` as a path: absolute as given, else relative to the tasks file's folder."""
    path = Path(prompt_audio).expanduser()
    return path if path.is_absolute() else (tasks_file.parent / path).resolve()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ClipError(
            f"prompt_audio {str(path)!r} does not exist; give a path relative to the tasks "
            "file's folder (or an absolute one) of a 1–30 s recording of the voice",
            "prompt_audio_not_found",
        ) from None
    except OSError as exc:
        raise ClipError(
            f"cannot read prompt_audio {str(path)!r}: {exc.strerror or exc}",
            "prompt_audio_unreadable",
        ) from None


class ClipRegistrar:
    """Registers each distinct clip with a server once and remembers the voice id it got."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client
        self._ids: dict[tuple[Path, str | None], str] = {}
        self._lock = threading.Lock()

    def voice_id(self, task: Task) -> str:
        """The server's id for the task's clip, registering it the first time."""
        assert task.prompt_audio is not None
        key = (Path(task.prompt_audio), task.prompt_text)
        with self._lock:  # one registration per clip, even with many threads at once
            if key not in self._ids:
                self._ids[key] = self._register(key[0], task.prompt_text)
            return self._ids[key]

    def forget(self, task: Task) -> None:
        """Drop the remembered id (the server no longer has it): the next use registers again."""
        with self._lock:
            self._ids.pop((Path(task.prompt_audio or ""), task.prompt_text), None)

    def _register(self, path: Path, text: str | None) -> str:
        data = _read(path)
        fields = {"name": path.stem, **({"text": text} if text else {})}
        try:
            response = self._client.post(
                "/v1/voices", files={"file": (path.name, data)}, data=fields
            )
        except httpx.HTTPError as exc:
            raise ClipError(
                f"registering prompt_audio {path.name!r} failed ({exc})", "connection", True
            ) from None
        if response.status_code in (200, 201):
            return str(response.json()["id"])
        code, message = f"http_{response.status_code}", response.text[:300]
        try:
            error = response.json()["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            pass
        if response.status_code == 404:
            message = "the server has no /v1/voices (a ttsops older than reference voices?)"
        retryable = response.status_code in (429, 502, 503, 504)
        raise ClipError(
            f"the server refused prompt_audio {path.name!r} ({response.status_code}): {message}",
            code,
            retryable,
        )


class ClipLoader:
    """Decodes and checks each distinct clip once, for an engine in this process."""

    def __init__(self) -> None:
        self._refs: dict[tuple[Path, str | None], Reference] = {}
        self._lock = threading.Lock()

    def reference(self, task: Task) -> Reference:
        """The task's clip as a ``Reference`` (checked as ``POST /v1/voices`` checks it)."""
        from ttsops.errors import InvalidReferenceError
        from ttsops.server.refclip import CLIP_RATE, decode_clip

        assert task.prompt_audio is not None
        key = (Path(task.prompt_audio), task.prompt_text)
        with self._lock:
            if key not in self._refs:
                path = key[0]
                try:
                    clip = decode_clip(_read(path), f"prompt_audio {path.name!r}")
                except InvalidReferenceError as exc:
                    raise ClipError(exc.message, exc.code) from None
                self._refs[key] = Reference(
                    samples=clip.samples, sample_rate=CLIP_RATE, text=task.prompt_text, name=clip.id
                )
            return self._refs[key]
