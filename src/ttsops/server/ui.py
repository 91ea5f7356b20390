"""The web UI at ``/ui`` (Gradio): text, voice, speed, format → a player, and the live version."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from ttsops.errors import TtsopsError
from ttsops.server.audio import AudioFormat, encode_audio
from ttsops.server.refclip import MAX_CLIP_BYTES
from ttsops.server.replica import Replica

__all__ = ["UI_FORMATS", "mount_ui", "speak"]

UI_FORMATS: tuple[AudioFormat, ...] = ("wav", "mp3", "flac", "opus")
"""Formats a browser can play; aac and raw pcm are API-only."""


async def speak(
    replica: Replica,
    text: str,
    voice: str,
    speed: float,
    fmt: AudioFormat,
    out_dir: Path,
    *,
    clip: Path | None = None,
    clip_text: str | None = None,
) -> tuple[Path, str | None]:
    """Synthesize through the replica's pool (same limits as the API) into a file to play;
    the file and the reference voice spoken with, if any.

    With a ``clip`` it is registered as a reference voice (as ``POST /v1/voices`` does) and
    spoken with; ``voice`` is then ignored.
    """
    import numpy as np

    if clip is not None:
        replica.require_reference_support("a reference clip")
        registered, _ = replica.references.register(
            clip.read_bytes(), text=clip_text or None, filename=clip.name
        )
        voice = registered.id
    spoken = replica.check_input(text, voice)
    job = replica.pool.admit(spoken.text, spoken.voice, float(speed), reference=spoken.reference)
    parts = [chunk.samples async for chunk in replica.pool.run(job)]
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    data = encode_audio(samples, replica.manifest.sample_rate, fmt)
    fd, name = tempfile.mkstemp(suffix=f".{'ogg' if fmt == 'opus' else fmt}", dir=out_dir)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return Path(name), spoken.reference.name if spoken.reference else None


_REFERENCE_LABEL = "Reference voice (matching with kokoro; cloning where the engine clones)"


def _aliases(replica: Replica) -> str:
    """``alloy → joe · ash → joe · …``, the mapping the API applies."""
    return " · ".join(f"{alias} → {voice}" for alias, voice in replica.voices.aliases.items())


def _warm_matplotlib() -> None:
    """Import matplotlib now, if it is installed, not on the first press of Speak.

    Gradio wraps every event in ``matplotlib.get_backend()``, which imports pyplot: done
    lazily it blocks the slot's event loop for 1.5–4 s, long enough for the agent's
    readiness check to time out and roll a canary back.
    """
    try:
        import matplotlib
    except ImportError:
        return  # Gradio skips it too
    matplotlib.get_backend()


def mount_ui(app: FastAPI, replica: Replica) -> None:
    """Build the Gradio Blocks and mount them on ``app`` at ``/ui``."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    _warm_matplotlib()
    m = replica.manifest
    out_dir = Path(tempfile.mkdtemp(prefix="ttsops-ui-"))

    async def on_speak(
        text: str, voice: str, speed: float, fmt: str, clip: str | None, clip_text: str
    ) -> tuple[str, str]:
        try:
            path, reference = await speak(
                replica,
                text,
                voice,
                speed,
                fmt,  # type: ignore[arg-type]
                out_dir,
                clip=Path(clip) if clip else None,
                clip_text=clip_text,
            )
        except TtsopsError as exc:
            raise gr.Error(exc.message) from None
        used = f"Spoke with reference voice `{reference}` (usable as `voice` in the API)"
        return str(path), used if reference else ""

    with gr.Blocks(title=f"ttsops · {m.ref}", analytics_enabled=False) as blocks:
        gr.Markdown(
            f"## ttsops · {m.name}\n"
            f"Live version **{m.version}** · digest `{m.digest[:12]}` · engine {m.engine} · "
            f"{m.sample_rate} Hz · git {m.source.git_sha or '—'}\n\n"
            f"Voice aliases (OpenAI's names): {_aliases(replica)}"
        )
        text = gr.Textbox(
            label="Text",
            lines=4,
            max_length=replica.settings.max_input_chars,
            value="ttsops makes a voice release as boring as pushing a git tag.",
        )
        with gr.Row():
            voice = gr.Dropdown(replica.voices.names, value=m.voices[0], label="Voice")
            speed = gr.Slider(0.25, 4.0, value=1.0, step=0.05, label="Speed")
            fmt = gr.Dropdown(list(UI_FORMATS), value="wav", label="Format")
        with gr.Accordion(_REFERENCE_LABEL, open=False):
            clip = gr.Audio(
                sources=["upload", "microphone"], type="filepath", label="Reference clip (1–30 s)"
            )
            clip_text = gr.Textbox(label="What the clip says (optional)", lines=1)
        button = gr.Button("Speak", variant="primary")
        player = gr.Audio(label="Audio", type="filepath", interactive=False)
        used = gr.Markdown()
        button.click(
            on_speak, inputs=[text, voice, speed, fmt, clip, clip_text], outputs=[player, used]
        )
    kwargs: dict[str, Any] = {
        "path": "/ui",
        "allowed_paths": [str(out_dir)],
        "max_file_size": MAX_CLIP_BYTES,
    }
    gr.mount_gradio_app(app, blocks, **kwargs)
