"""`ttsops probe URL`: is a speech service really speaking? (the image's health check)."""

from __future__ import annotations

import time
from typing import Annotated, NoReturn

import typer

_SENTENCE = "The quick brown fox jumps over the lazy dog."


def probe(
    url: Annotated[str, typer.Argument(help="Base URL of a ttsops (or OpenAI-compatible) server.")],
    text: Annotated[str, typer.Option(help="What to say.")] = _SENTENCE,
    min_seconds: Annotated[
        float, typer.Option(min=0.0, help="Audio shorter than this is a failure.")
    ] = 1.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for the answer.")] = 25,
) -> None:
    """Speak a sentence through URL's speech API; exit 0 when the audio is long enough, else 1.

    One line either way. Used by the container image's HEALTHCHECK; works against any
    ttsops URL (a slot, the router) and any OpenAI-compatible speech server.

    Example: ttsops probe http://127.0.0.1:6006
    """
    import httpx

    endpoint = url.rstrip("/") + "/v1/audio/speech"
    body = {"model": "tts-1", "input": text, "voice": "alloy", "response_format": "pcm"}
    started = time.monotonic()
    try:
        answer = httpx.post(endpoint, json=body, timeout=timeout)
    except httpx.HTTPError as exc:
        _fail(f"{endpoint}: {type(exc).__name__}: {exc or 'no answer'}")
    took = time.monotonic() - started
    if answer.status_code != 200:
        _fail(f"{endpoint} answered {answer.status_code}: {answer.text[:160].strip()}")
    try:
        rate = int(answer.headers.get("x-ttsops-sample-rate", "24000"))
    except ValueError:
        _fail(f"{endpoint}: X-TTSOps-Sample-Rate is not a number")
    seconds = len(answer.content) / 2 / rate  # pcm: 16-bit mono
    version = answer.headers.get("x-ttsops-version", "?")
    if seconds < min_seconds:
        _fail(
            f"{endpoint}: {seconds:.2f} s of audio from {version}, under the "
            f"{min_seconds:.2f} s a sentence needs"
        )
    typer.echo(f"ok: {seconds:.2f} s of audio from {version} in {took:.2f} s")


def _fail(line: str) -> NoReturn:
    typer.echo(f"fail: {line}")
    raise typer.Exit(1)
