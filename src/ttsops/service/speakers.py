"""The speaker for a version running at a URL: its service's adapter, or ttsops' own API."""

from __future__ import annotations

from pathlib import Path

from ttsops.service.bundle import service_of
from ttsops.speech import OpenAISpeech, Speaker, open_speaker

__all__ = ["speaker_for"]


def speaker_for(version_dir: Path, base_url: str, *, timeout_s: float | None = None) -> Speaker:
    """How to get audio from the version fetched at ``version_dir``, served at ``base_url``.

    A service speaks its manifest's protocol; a bundle is served by ``ttsops serve``, which
    speaks the OpenAI API (and takes reference voices when its engine can, as its
    ``/version`` says: ``supports_prompt_audio``).
    """
    service = service_of(version_dir)
    if service is not None:
        spec = service.speech
        if timeout_s is not None:
            spec = spec.model_copy(update={"timeout_s": timeout_s})
        return open_speaker(spec, base_url)
    import httpx

    can_reference = False
    try:
        said = httpx.get(f"{base_url.rstrip('/')}/version", timeout=5).json()
        can_reference = bool(said.get("supports_prompt_audio", False))
    except (httpx.HTTPError, ValueError, AttributeError):
        pass  # not up yet: a reference request is then refused, not sent blind
    spec = OpenAISpeech(can_reference=can_reference, timeout_s=timeout_s or 120.0)
    return open_speaker(spec, base_url)
