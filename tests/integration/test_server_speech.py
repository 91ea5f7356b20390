"""The speech API of a real `ttsops serve` with the real joe voice, over real HTTP."""

from __future__ import annotations

import base64
import io
import json
import time

import av
import httpx
import numpy as np
import pytest
import soundfile as sf

from ttsops.bundle import Manifest
from ttsops.testing import ServerProcess

SENTENCE = "The quick brown fox jumps over the lazy dog."


def _speech(server: ServerProcess, **body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/audio/speech", json=body, timeout=120)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))


def test_wav_is_valid_plausible_and_not_silent(joe_server: ServerProcess) -> None:
    """A wav answer has the model's rate, a duration fitting the text, and real sound."""
    resp = _speech(joe_server, model="joe", input=SENTENCE, voice="joe", response_format="wav")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "audio/wav"
    samples, rate = sf.read(io.BytesIO(resp.content), dtype="float32")
    assert rate == 22050
    duration = len(samples) / rate
    assert 1.5 < duration < 6.0  # 44 characters spoken at a natural pace
    assert _rms(samples) > 0.02


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_compressed_formats_decode(joe_server: ServerProcess, fmt: str) -> None:
    """mp3, opus, aac and flac answers decode with FFmpeg to audio of plausible length."""
    resp = _speech(joe_server, input=SENTENCE, voice="joe", response_format=fmt)
    assert resp.status_code == 200
    with av.open(io.BytesIO(resp.content)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        assert 1.5 < samples / stream.rate < 6.0


def test_pcm_and_sample_rate(joe_server: ServerProcess) -> None:
    """pcm at a requested 16 kHz is raw 16-bit audio whose length fits 16 kHz."""
    resp = _speech(joe_server, input=SENTENCE, response_format="pcm", sample_rate=16000)
    assert resp.status_code == 200
    assert resp.headers["x-ttsops-sample-rate"] == "16000"
    pcm = np.frombuffer(resp.content, dtype="<i2")
    assert 1.5 < len(pcm) / 16000 < 6.0
    assert np.abs(pcm).max() > 1000


def test_speed_changes_duration(joe_server: ServerProcess) -> None:
    """speed 2.0 speaks the same text in roughly half the time of speed 1.0."""

    def seconds(speed: float) -> float:
        resp = _speech(joe_server, input=SENTENCE, response_format="wav", speed=speed)
        return float(sf.info(io.BytesIO(resp.content)).duration)

    ratio = seconds(2.0) / seconds(1.0)
    assert 0.35 < ratio < 0.7


def test_long_unpunctuated_input_is_spoken_in_full(joe_server: ServerProcess) -> None:
    """900 characters with no punctuation come back as audio long enough for every word."""
    words = ["seven", "green", "apples", "fell", "from", "the", "old", "tree", "near", "the"]
    text = " ".join(words[i % len(words)] for i in range(150))
    resp = _speech(joe_server, input=text, response_format="wav")
    assert resp.status_code == 200
    duration = sf.info(io.BytesIO(resp.content)).duration
    assert duration > len(text) / 25  # well over the pace of any real speech being cut short


def test_every_response_names_the_model(joe_server: ServerProcess, joe_manifest: Manifest) -> None:
    """Audio, health, errors and unknown routes all carry X-TTSOps-Version and -Digest."""
    for resp in (
        _speech(joe_server, input="Hi.", response_format="wav"),
        httpx.get(f"{joe_server.url}/healthz"),
        _speech(joe_server, input=""),
        httpx.get(f"{joe_server.url}/no/such/route"),
    ):
        assert resp.headers["x-ttsops-version"] == "joe@1.0.0"
        assert resp.headers["x-ttsops-digest"] == joe_manifest.digest


def test_openai_client_works_unchanged(joe_server: ServerProcess) -> None:
    """The official openai client creates speech, plain and streamed."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{joe_server.url}/v1", api_key="not-needed")
    audio = client.audio.speech.create(
        model="tts-1", voice="joe", input=SENTENCE, response_format="wav"
    )
    samples, rate = sf.read(io.BytesIO(audio.content))
    assert rate == 22050 and len(samples) > rate
    with client.audio.speech.with_streaming_response.create(
        model="joe", voice="joe", input=SENTENCE, response_format="mp3"
    ) as streamed:
        data = b"".join(streamed.iter_bytes())
    assert len(data) > 4000
    assert next(m.id for m in client.models.list()) == "joe"


def test_sse_stream_has_deltas_then_done(joe_server: ServerProcess) -> None:
    """stream_format=sse sends base64 audio deltas that join into the whole, then a done event."""
    text = "First sentence here. Second sentence there. Third and last."
    resp = _speech(joe_server, input=text, response_format="pcm", stream_format="sse")
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = [
        json.loads(line[len("data: ") :])
        for line in resp.text.splitlines()
        if line.startswith("data: ")
    ]
    assert [e["type"] for e in events][-1] == "speech.audio.done"
    deltas = [e for e in events if e["type"] == "speech.audio.delta"]
    assert len(deltas) >= 3  # one per sentence at least
    pcm = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert len(pcm) / 2 / 22050 > 2.0
    assert events[-1]["usage"]["audio_bytes"] == len(pcm)


def test_first_audio_arrives_before_the_whole(joe_server: ServerProcess) -> None:
    """With streaming, the first bytes of a long paragraph arrive while the rest is still made."""
    paragraph = " ".join(["This sentence is one of many in a long paragraph."] * 8)
    started = time.monotonic()
    arrivals: list[float] = []
    with httpx.stream(
        "POST",
        f"{joe_server.url}/v1/audio/speech",
        json={"input": paragraph, "response_format": "pcm"},
        timeout=120,
    ) as resp:
        for chunk in resp.iter_raw():
            if chunk:
                arrivals.append(time.monotonic() - started)
    assert len(arrivals) >= 4
    assert arrivals[0] < 0.5 * arrivals[-1]


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b'{"input": ""}', 400, "invalid_input"),
        (b'{"input": "   \\n\\t "}', 400, "invalid_input"),
        (b'{"input": "hi", "voice": "bob"}', 400, "invalid_input"),
        (b'{"input": "hi", "response_format": "ogg"}', 400, "invalid_input"),
        (b'{"input": "hi", "speed": 4.5}', 400, "invalid_input"),
        (b'{"input": "hi", "speed": 0.1}', 400, "invalid_input"),
        (b'{"input": "hi", "speed": NaN}', 400, "invalid_input"),
        (b'{"input": "hi", "speed": "fast"}', 400, "invalid_input"),
        (b'{"input": 42}', 400, "invalid_input"),
        (b'{"input": "hi", "model": "nope"}', 400, "invalid_input"),
        (b'{"input": "hi", "sample_rate": 1000}', 400, "invalid_input"),
        (b"not json", 400, "invalid_input"),
        (b"[1, 2]", 400, "invalid_input"),
        (b'{"input": "caf\xe9"}', 400, "invalid_input"),
        (b"", 400, "invalid_input"),
        (json.dumps({"input": "a" * 5001}).encode(), 413, "input_too_long"),
    ],
)
def test_bad_input_gets_a_clear_4xx(
    joe_server: ServerProcess, content: bytes, status: int, code: str
) -> None:
    """Each kind of bad input gets its 4xx and a JSON error saying what to fix."""
    resp = httpx.post(f"{joe_server.url}/v1/audio/speech", content=content, timeout=30)
    assert resp.status_code == status
    error = resp.json()["error"]
    assert error["code"] == code
    assert len(error["message"]) > 20


def test_control_characters_are_stripped_not_refused(joe_server: ServerProcess) -> None:
    """Text with NUL and escape characters is spoken without them."""
    resp = _speech(joe_server, input="Hello\x00 there\x1b, friend.", response_format="wav")
    assert resp.status_code == 200
    assert sf.info(io.BytesIO(resp.content)).duration > 0.5


def test_version_models_and_readiness(joe_server: ServerProcess, joe_manifest: Manifest) -> None:
    """/version names the exact bundle; /readyz is 200; /v1/models lists it."""
    info = httpx.get(f"{joe_server.url}/version").json()
    assert (info["name"], info["version"], info["digest"]) == (
        "joe",
        "1.0.0",
        joe_manifest.digest,
    )
    assert info["workers"] >= 1
    assert info["supports_prompt_audio"] is False  # piper cannot clone voices
    assert httpx.get(f"{joe_server.url}/readyz").json()["status"] == "ready"
    ids = [m["id"] for m in httpx.get(f"{joe_server.url}/v1/models").json()["data"]]
    assert ids == ["joe", "joe@1.0.0"]


def test_metrics_count_requests_audio_and_version(joe_server: ServerProcess) -> None:
    """/metrics exposes request counts by status, audio seconds, RTF and the model version."""
    _speech(joe_server, input="Counting this one.", response_format="wav")
    text = httpx.get(f"{joe_server.url}/metrics").text
    assert 'ttsops_requests_total{route="/v1/audio/speech",status="200"}' in text
    assert 'version="1.0.0"' in text
    for name in (
        "ttsops_audio_seconds_total",
        "ttsops_synthesis_rtf_bucket",
        "ttsops_request_duration_seconds_bucket",
        "ttsops_queue_depth",
        "ttsops_in_flight",
    ):
        assert name in text
    audio = next(
        line for line in text.splitlines() if line.startswith("ttsops_audio_seconds_total")
    )
    assert float(audio.split()[-1]) > 0


def test_web_ui_shows_the_live_version(joe_server: ServerProcess) -> None:
    """/ui serves the Gradio app, and its config shows the live version and digest."""
    page = httpx.get(f"{joe_server.url}/ui/", follow_redirects=True, timeout=30)
    assert page.status_code == 200
    config = httpx.get(f"{joe_server.url}/ui/config", timeout=30).text
    assert "1.0.0" in config
    assert "Speak" in config
