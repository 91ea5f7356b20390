"""The speech adapters against real servers on 127.0.0.1: ``ttsops serve`` of joe (its OpenAI
API and its Gradio UI), a Gradio app with a reference-audio input, and a plain HTTP API."""

from __future__ import annotations

import base64
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytest
import soundfile
from fastapi import FastAPI, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from ttsops.engines import Engine
from ttsops.errors import ReferenceNotSupportedError, SpeechError
from ttsops.service.manifest import ReadyCheck
from ttsops.speech import (
    EngineSpeaker,
    GradioSpeech,
    HttpSpeech,
    OpenAISpeech,
    ReferenceClip,
    SpeechRequest,
    bundle_speaker,
    check_ready,
    is_silent,
    open_speaker,
)
from ttsops.testing import ServerProcess

pytestmark = pytest.mark.slow

RATE = 16000
SECONDS_PER_CHAR = 0.05

# ttsops' own UI at /ui: on_speak(text, voice, speed, fmt, clip, clip_text) -> (audio, note)
TTSOPS_UI = GradioSpeech(
    protocol="gradio",
    api_name="/on_speak",
    voice="voice",
    reference_audio="clip",
    reference_text="clip_text",
    timeout_s=60,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tone_wav(seconds: float, rate: int = RATE) -> bytes:
    """A 220 Hz tone as 16-bit WAV: the test servers' stand-in for speech."""
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    buffer = io.BytesIO()
    soundfile.write(buffer, 0.3 * np.sin(2 * np.pi * 220 * t), rate, format="WAV")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, joe_engine: Engine) -> Path:
    """A real joe recording (WAV) to use as a reference clip."""
    chunk = joe_engine.synthesize("The birch canoe slid on the smooth planks.", "joe", 1.0, seed=3)
    path = tmp_path_factory.mktemp("clips") / "joe.wav"
    soundfile.write(path, chunk.samples, chunk.sample_rate)
    return path


# --- ttsops serve of joe: the OpenAI API and the Gradio UI ---------------------------------


def test_openai_adapter_speaks_with_ttsops_serve(joe_server: ServerProcess) -> None:
    """The openai adapter gets joe's audio and version from a real `ttsops serve`."""
    speaker = open_speaker(OpenAISpeech(), joe_server.url)
    try:
        speech = speaker.speak(SpeechRequest("Hello from the speech seam.", seed=1))
        again = speaker.speak(SpeechRequest("Hello from the speech seam.", seed=1))
        assert speech.sample_rate == 22050
        assert speech.version == "joe@1.0.0"
        assert speech.duration_s > 0.5
        assert np.array_equal(speech.samples, again.samples)  # ttsops' server honours seed
        assert check_ready(speaker, ReadyCheck()) is None
        with pytest.raises(ReferenceNotSupportedError):
            speaker.speak(SpeechRequest("Hi.", reference=ReferenceClip(Path("x.wav"))))
    finally:
        speaker.close()


def test_gradio_adapter_speaks_through_the_ui_mounted_at_a_path(
    joe_server: ServerProcess,
) -> None:
    """The gradio adapter speaks through ttsops' own Gradio UI under /ui/, voice mapped."""
    speaker = open_speaker(TTSOPS_UI, f"{joe_server.url}/ui/")
    try:
        assert speaker.can_reference
        speech = speaker.speak(SpeechRequest("Hello from the Gradio UI.", voice="alloy"))
        assert speech.sample_rate == 22050
        assert speech.duration_s > 0.5
        assert not is_silent(speech.samples)
        assert check_ready(speaker, ReadyCheck()) is None
    finally:
        speaker.close()


def test_gradio_adapter_passes_on_what_the_app_says(joe_server: ServerProcess) -> None:
    """An error the app raises (gr.Error) reaches the caller with the app's own words, and
    is not worth trying again."""
    speaker = open_speaker(TTSOPS_UI, f"{joe_server.url}/ui")
    try:
        with pytest.raises(
            SpeechError, match=r"refused the request: .*nobody is not in the list"
        ) as refused:
            speaker.speak(SpeechRequest("Hello.", voice="nobody"))
        assert not refused.value.retryable
        with pytest.raises(SpeechError, match="nothing to speak"):
            speaker.speak(SpeechRequest("   "))
    finally:
        speaker.close()


def test_gradio_adapter_names_endpoints_and_parameters(joe_server: ServerProcess) -> None:
    """A wrong api_name lists the app's endpoints; a wrong or unmapped parameter lists them."""
    cases = [
        (TTSOPS_UI.model_copy(update={"api_name": "/speak"}), r"its endpoints are /on_speak"),
        (TTSOPS_UI.model_copy(update={"voice": "speaker"}), r"no parameter speaker.*clip_text"),
        (GradioSpeech(protocol="gradio", api_name="/on_speak"), r"requires clip, clip_text"),
    ]
    for spec, message in cases:
        speaker = open_speaker(spec, f"{joe_server.url}/ui/")
        try:
            with pytest.raises(SpeechError, match=message) as caught:
                speaker.speak(SpeechRequest("Hello."))
            assert f"{joe_server.url}/ui/" in caught.value.message
        finally:
            speaker.close()


# --- a Gradio app with a reference-audio input ---------------------------------------------


def _clone_app(calls: list[dict[str, Any]]) -> Any:
    """A GLM-TTS style Blocks app: text + prompt clip + transcript -> (note, audio).

    It answers with the uploaded clip itself and records what it was sent.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    def synthesize(text: str, prompt_audio: str | None, prompt_text: str) -> tuple[str, str]:
        if not prompt_audio:
            raise gr.Error("this app clones: send a prompt_audio clip")
        calls.append(
            {"text": text, "clip": Path(prompt_audio).read_bytes(), "prompt_text": prompt_text}
        )
        return f"spoke {len(text)} characters", prompt_audio

    with gr.Blocks(analytics_enabled=False) as demo:
        text = gr.Textbox(label="Text")
        prompt_audio = gr.Audio(type="filepath", label="Prompt audio")
        prompt_text = gr.Textbox(label="Prompt text")
        note = gr.Textbox(label="Note")
        audio = gr.Audio(type="filepath", label="Audio")
        gr.Button("Go").click(
            synthesize, [text, prompt_audio, prompt_text], [note, audio], api_name="synthesize"
        )
        gr.Button("Numbers").click(numbers, [text], [gr.JSON()], api_name="numbers")
        gr.Button("Slow").click(slow, [text], [audio], api_name="slow")
    return demo


def numbers(text: str) -> list[Any]:
    """(rate, 16-bit samples) as JSON: half a second of tone per character."""
    t = np.arange(int(len(text) * 0.5 * RATE)) / RATE
    return [RATE, np.round(0.3 * 32767 * np.sin(2 * np.pi * 220 * t)).astype(int).tolist()]


def slow(text: str) -> None:
    """Takes longer than the test's timeout."""
    del text
    time.sleep(3)


def _launch(demo: Any, port: int) -> None:
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        show_error=True,
    )


CLONE = GradioSpeech(
    protocol="gradio",
    api_name="/synthesize",
    reference_audio="prompt_audio",
    reference_text="prompt_text",
    output=1,
    timeout_s=60,
)


@pytest.fixture(scope="module")
def clone_app() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The cloning Gradio app on a loopback port, and the list of calls it got."""
    calls: list[dict[str, Any]] = []
    demo = _clone_app(calls)
    port = _free_port()
    _launch(demo, port)
    try:
        yield f"http://127.0.0.1:{port}", calls
    finally:
        demo.close()


def test_gradio_adapter_uploads_the_reference_clip(
    clone_app: tuple[str, list[dict[str, Any]]], clip: Path
) -> None:
    """The clip is uploaded as a file, its transcript sent, and output 1 is the audio."""
    url, calls = clone_app
    speaker = open_speaker(CLONE, url)
    try:
        reference = ReferenceClip(clip, text="The birch canoe slid on the smooth planks.")
        speech = speaker.speak(SpeechRequest("Say it like me.", reference=reference))
    finally:
        speaker.close()
    sent = calls[-1]
    assert sent["text"] == "Say it like me."
    assert sent["prompt_text"] == "The birch canoe slid on the smooth planks."
    original, rate = soundfile.read(clip, dtype="float32")
    uploaded, _ = soundfile.read(io.BytesIO(sent["clip"]), dtype="float32")
    assert np.allclose(uploaded, original, atol=1e-4)
    assert speech.sample_rate == rate
    assert np.allclose(speech.samples, original, atol=1e-4)


def test_gradio_adapter_without_a_clip_sends_none(
    clone_app: tuple[str, list[dict[str, Any]]],
) -> None:
    """With no reference the clip parameter is empty, and the app's refusal is reported."""
    url, _ = clone_app
    speaker = open_speaker(CLONE, url)
    try:
        reason = check_ready(speaker, ReadyCheck())
    finally:
        speaker.close()
    assert reason is not None
    assert "this app clones: send a prompt_audio clip" in reason


def test_gradio_adapter_decodes_rate_and_samples(
    clone_app: tuple[str, list[dict[str, Any]]],
) -> None:
    """An output of (rate, 16-bit samples) is scaled to float audio at that rate."""
    url, _ = clone_app
    speaker = open_speaker(GradioSpeech(protocol="gradio", api_name="/numbers"), url)
    try:
        speech = speaker.speak(SpeechRequest("abc"))
    finally:
        speaker.close()
    assert speech.sample_rate == RATE
    assert speech.duration_s == pytest.approx(1.5)
    assert float(np.max(np.abs(speech.samples))) == pytest.approx(0.3, abs=0.01)


def test_gradio_adapter_gives_up_after_timeout_s(
    clone_app: tuple[str, list[dict[str, Any]]],
) -> None:
    """A call slower than [speech] timeout_s fails saying how long it waited."""
    url, _ = clone_app
    spec = GradioSpeech(protocol="gradio", api_name="/slow", timeout_s=1)
    speaker = open_speaker(spec, url)
    try:
        with pytest.raises(SpeechError, match="gave no answer in 1 s; raise"):
            speaker.speak(SpeechRequest("Wait."))
    finally:
        speaker.close()


def test_gradio_adapter_connects_once_the_app_is_up(clip: Path) -> None:
    """A speaker made before the app listens fails clearly, then works once it is up."""
    port = _free_port()
    speaker = open_speaker(CLONE, f"http://127.0.0.1:{port}")
    demo = None
    try:
        reason = check_ready(speaker, ReadyCheck())
        assert reason is not None
        assert "did not answer" in reason
        assert f"127.0.0.1:{port}" in reason
        demo = _clone_app([])
        _launch(demo, port)
        speech = speaker.speak(SpeechRequest("Now.", reference=ReferenceClip(clip)))
        assert speech.duration_s > 1.0
    finally:
        speaker.close()
        if demo is not None:
            demo.close()


# --- a plain HTTP API ----------------------------------------------------------------------


def _http_app(got: list[dict[str, Any]]) -> FastAPI:
    """An HTTP TTS API answering audio in the body, as base64, or as a URL; and errors."""
    app = FastAPI()

    def speech_for(text: str) -> bytes:
        return _tone_wav(len(text) * SECONDS_PER_CHAR)

    @app.post("/tts")
    async def tts(request: Request) -> Response:
        body = await request.json()
        got.append(body)
        return Response(speech_for(body["text"]), media_type="audio/wav")

    @app.get("/say")
    async def say(text: str) -> Response:
        got.append({"text": text})
        return Response(speech_for(text), media_type="audio/wav")

    @app.post("/b64")
    async def b64(request: Request) -> dict[str, Any]:
        body = await request.json()
        return {"data": {"audio": base64.b64encode(speech_for(body["text"])).decode()}}

    @app.post("/link")
    async def link(request: Request) -> dict[str, Any]:
        body = await request.json()
        return {"result": {"files": [{"url": f"files/{len(body['text'])}.wav"}]}}

    @app.get("/files/{chars}.wav")
    async def files(chars: int) -> Response:
        return Response(_tone_wav(chars * SECONDS_PER_CHAR), media_type="audio/wav")

    @app.post("/clone")
    async def clone(
        text: Annotated[str, Form()],
        speed: Annotated[str, Form()],
        prompt: Annotated[UploadFile, File()],
    ) -> Response:
        data = await prompt.read()
        got.append({"text": text, "speed": speed, "name": prompt.filename, "clip": data})
        return Response(data, media_type="audio/wav")

    @app.post("/busy")
    async def busy() -> JSONResponse:
        return JSONResponse({"error": {"message": "model is still loading"}}, status_code=503)

    @app.post("/garbage")
    async def garbage() -> Response:
        return Response(b"RIFF, but not really a wave file", media_type="audio/wav")

    return app


@pytest.fixture(scope="module")
def http_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The HTTP API served by uvicorn in a thread on a loopback port, and what it got."""
    import uvicorn

    got: list[dict[str, Any]] = []
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(_http_app(got), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", got
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


BODY = '{"text": {{ text | tojson }}, "voice": {{ voice | tojson }}, "speed": {{ speed }}}'


def _http(url: str, **fields: Any) -> Any:
    return open_speaker(HttpSpeech(protocol="http", **fields), url)


def test_http_adapter_reads_audio_from_the_body(http_api: tuple[str, list[dict[str, Any]]]) -> None:
    """A JSON body rendered from the template is sent; the answer's body is the audio."""
    url, got = http_api
    speaker = _http(url, path="/tts", json_body=BODY)
    try:
        speech = speaker.speak(SpeechRequest("Hello there.", voice="anna", speed=1.25))
    finally:
        speaker.close()
    assert got[-1] == {"text": "Hello there.", "voice": "anna", "speed": 1.25}
    assert speech.sample_rate == RATE
    assert speech.duration_s == pytest.approx(len("Hello there.") * SECONDS_PER_CHAR, abs=0.01)


def test_http_adapter_renders_a_get_path(http_api: tuple[str, list[dict[str, Any]]]) -> None:
    """A GET whose path template urlencodes the text reaches the API with the text intact."""
    url, got = http_api
    speaker = _http(url, method="GET", path="/say?text={{ text | urlencode }}")
    try:
        speech = speaker.speak(SpeechRequest("Fish & chips? 100%."))
    finally:
        speaker.close()
    assert got[-1] == {"text": "Fish & chips? 100%."}
    assert speech.duration_s > 0.5


def test_http_adapter_decodes_a_base64_field(http_api: tuple[str, list[dict[str, Any]]]) -> None:
    """audio = base64 decodes the dotted field of the JSON answer."""
    url, _ = http_api
    speaker = _http(url, path="/b64", json_body=BODY, audio="base64", field="data.audio")
    try:
        speech = speaker.speak(SpeechRequest("Base sixty four."))
        assert check_ready(speaker, ReadyCheck()) is None
    finally:
        speaker.close()
    assert speech.duration_s == pytest.approx(len("Base sixty four.") * SECONDS_PER_CHAR, abs=0.01)


def test_http_adapter_downloads_a_relative_url(http_api: tuple[str, list[dict[str, Any]]]) -> None:
    """audio = url downloads the file the field names, relative to the service."""
    url, _ = http_api
    speaker = _http(url, path="/link", json_body=BODY, audio="url", field="result.files.0.url")
    try:
        speech = speaker.speak(SpeechRequest("Twenty characters!!"))
    finally:
        speaker.close()
    assert speech.duration_s == pytest.approx(
        len("Twenty characters!!") * SECONDS_PER_CHAR, abs=0.01
    )


def test_http_adapter_uploads_the_clip_as_multipart(
    http_api: tuple[str, list[dict[str, Any]]], clip: Path
) -> None:
    """With reference_field the clip is a file field and the body's fields are form fields."""
    url, got = http_api
    speaker = _http(
        url,
        path="/clone",
        json_body='{"text": {{ text | tojson }}, "speed": {{ speed }}}',
        reference_field="prompt",
    )
    try:
        assert speaker.can_reference
        speech = speaker.speak(SpeechRequest("Copy me.", reference=ReferenceClip(clip)))
    finally:
        speaker.close()
    assert got[-1]["text"] == "Copy me."
    assert got[-1]["speed"] == "1.0"
    assert got[-1]["name"] == "joe.wav"
    assert got[-1]["clip"] == clip.read_bytes()
    assert speech.duration_s == pytest.approx(soundfile.info(clip).duration, abs=0.01)


def test_http_adapter_errors_say_what_the_api_answered(
    http_api: tuple[str, list[dict[str, Any]]],
) -> None:
    """A 404, a refusal, a missing field and bytes that are not audio each get a clear error;
    only a busy (503) or unreachable API is worth trying again (what batch retries)."""
    url, _ = http_api
    cases: list[tuple[dict[str, Any], str, bool]] = [
        ({"path": "/nowhere", "json_body": BODY}, r"/nowhere answered 404: Not Found", False),
        ({"path": "/busy"}, r"answered 503: model is still loading", True),
        (
            {"path": "/b64", "json_body": BODY, "audio": "base64", "field": "data.wav"},
            r"no field data.wav: at data, its keys are audio",
            False,
        ),
        ({"path": "/b64", "json_body": BODY}, r"answered application/json, not audio", False),
        ({"path": "/garbage"}, r"bytes that are not audio", False),
    ]
    for fields, message, retryable in cases:
        speaker = _http(url, **fields)
        try:
            with pytest.raises(SpeechError, match=message) as raised:
                speaker.speak(SpeechRequest("Hello."))
            assert raised.value.retryable is retryable, message
        finally:
            speaker.close()
    down = _http(f"http://127.0.0.1:{_free_port()}")
    try:
        assert "did not answer" in (check_ready(down, ReadyCheck()) or "")
        with pytest.raises(SpeechError, match="did not answer") as raised:
            down.speak(SpeechRequest("Hello."))
        assert raised.value.retryable
    finally:
        down.close()


# --- a bundle in this process --------------------------------------------------------------


def test_engine_adapter_speaks_with_a_loaded_bundle(joe_engine: Engine, joe_bundle: Path) -> None:
    """The engine adapter gives the engine's own audio; a clip is refused for Piper joe."""
    speaker = EngineSpeaker(joe_engine, version="joe@1.0.0")
    speech = speaker.speak(SpeechRequest("In this process.", seed=4))
    direct = joe_engine.synthesize("In this process.", "joe", 1.0, seed=4)
    assert np.array_equal(speech.samples, direct.samples)
    assert speech.version == "joe@1.0.0"
    assert not speaker.can_reference
    with pytest.raises(ReferenceNotSupportedError):
        speaker.speak(SpeechRequest("Hi.", reference=ReferenceClip(joe_bundle / "x.wav")))
    loaded = bundle_speaker(joe_bundle)
    try:
        assert loaded.version == "joe@1.0.0"
        assert check_ready(loaded, ReadyCheck()) is None
    finally:
        loaded.close()
