"""Long texts: cut at sentence boundaries into parts a server accepts, and join their audio.

A server refuses an ``input`` longer than its ``max_input_chars`` with 413. A task longer
than that (an audiobook chapter) is made as several requests: its sentences are packed, in
order, into parts of at most that many characters; each part is requested as raw pcm at the
model's own rate; the samples are joined and encoded once, with the server's own encoder,
into the task's format and rate. The result is one file, one line in ``results.jsonl``.
"""

from __future__ import annotations

import io
import re
import wave
from collections.abc import Sequence

from ttsops.batch.client import Audio, TaskError, probe_audio
from ttsops.batch.tasks import Task
from ttsops.engines.text import split_text

__all__ = ["MIN_PART_CHARS", "join_parts", "pack", "smaller_limit"]

MIN_PART_CHARS = 40
"""A server that refuses parts this short is not refusing for length; the task fails."""

_LIMIT = re.compile(r"the limit is (\d+)")


def pack(text: str, max_chars: int) -> list[str]:
    """``text``'s sentences packed in order into parts of at most ``max_chars`` characters.

    A sentence longer than ``max_chars`` is cut at a clause mark or a space
    (``split_text``); no text is dropped, only runs of whitespace become one space.
    """
    parts: list[str] = []
    for piece in split_text(text, max_chars=max_chars, first_max=max_chars):
        if parts and len(parts[-1]) + 1 + len(piece) <= max_chars:
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return parts


def smaller_limit(error: TaskError, tried: int) -> int:
    """The part size to try after ``error`` (a 413) refused ``tried`` characters.

    The server's message says its limit; without that, half. Raises the error, reworded,
    when even ``MIN_PART_CHARS`` would be refused.
    """
    said = _LIMIT.search(error.message)
    limit = min(int(said.group(1)) if said else tried // 2, tried - 1)
    if limit < MIN_PART_CHARS:
        # Not the server's own advice (split the text): that is what the batch is doing.
        told = f", its limit is {said.group(1)}" if said else ""
        raise TaskError(
            f"the server refuses parts of {tried} characters as too long (413{told}); raise "
            f"its [server] max_input_chars to {MIN_PART_CHARS} or more",
            error.code,
        )
    return limit


def join_parts(task: Task, parts: Sequence[Audio], model_rate: int) -> Audio:
    """One file of ``task``'s format and rate from the parts' pcm at ``model_rate``."""
    versions = sorted({p.model_version or "unknown" for p in parts})
    if len(versions) > 1:
        raise TaskError(
            f"the {len(parts)} parts of this text were spoken by {' and '.join(versions)} "
            "(the service changed version meanwhile); rerun the same command to make it "
            "again with one version",
            "mixed_versions",
        )
    from ttsops.server.audio import PCM_RATE

    pcm = b"".join(p.data for p in parts)
    fmt = task.response_format
    # The rate one request would have got: pcm defaults to 24 kHz (OpenAI's), the rest to
    # the model's own.
    rate = task.sample_rate or (PCM_RATE if fmt == "pcm" else model_rate)
    if fmt == "pcm" and rate == model_rate:
        data = pcm
    elif fmt == "wav" and rate == model_rate:
        data = _wav(pcm, rate)
    else:
        import numpy as np

        from ttsops.server.audio import encode_audio

        # The inverse of the server's to_int16, so the one encoder sees what the model made.
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32767.0
        data = encode_audio(samples, model_rate, fmt, rate)
    duration, out_rate = probe_audio(data, task.response_format, rate)
    return Audio(
        data=data,
        duration_s=duration,
        sample_rate=out_rate,
        model_version=parts[0].model_version,
        model_digest=parts[0].model_digest,
        latency_s=sum(p.latency_s for p in parts),
    )


def _wav(pcm: bytes, rate: int) -> bytes:
    """Mono 16-bit wav around ``pcm``, with exact sizes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()
