"""A TTS service that loads fine and answers every synthesis with silence (a broken model).

Run as ``python silent_service.py PORT``: ``POST /tts`` with ``{"text": …}`` answers a WAV of
two seconds of zeros at 22050 Hz; every other request answers 404. A test's version of a
service that is up and answers HTTP 200 with audio, but says nothing.

``python silent_service.py PORT --tone-until FILE`` answers a one-second 440 Hz tone (audio
that is not silence) until ``FILE`` exists, then silence: a live service that goes quiet.
"""

from __future__ import annotations

import io
import math
import sys
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RATE = 22050


UNTIL = Path(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--tone-until" else None


def _wav(frames: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(frames)
    return buffer.getvalue()


def _silence(seconds: float = 2.0) -> bytes:
    return _wav(b"\0\0" * int(RATE * seconds))


def _tone(seconds: float = 1.0) -> bytes:
    samples = (
        int(9000 * math.sin(2 * math.pi * 440 * n / RATE)) for n in range(int(RATE * seconds))
    )
    return _wav(b"".join(v.to_bytes(2, "little", signed=True) for v in samples))


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        if self.path != "/tts":
            self.send_error(404)
            return
        body = _tone() if UNTIL is not None and not UNTIL.exists() else _silence()
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), _Handler).serve_forever()
