"""The ``[speech]`` table of service.toml, adapter set-up errors, and ``check_ready``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import httpx
import numpy as np
import pytest

from ttsops.errors import ReferenceNotSupportedError, ServiceManifestError, SpeechError
from ttsops.service.manifest import ReadyCheck, load_service_manifest, parse_service_manifest
from ttsops.speech import (
    GradioSpeaker,
    GradioSpeech,
    HttpSpeaker,
    HttpSpeech,
    OpenAISpeech,
    ReferenceClip,
    Speaker,
    Speech,
    SpeechRequest,
    check_ready,
    open_speaker,
)

COMMAND = """
name = "glmtts"
languages = ["en-US"]
sample_rate = 22050

[command]
argv = ["python", "app.py"]
"""

GRADIO = """
[speech]
protocol = "gradio"
api_name = "/synthesize"
text = "text"
reference_audio = "prompt_audio"
reference_text = "prompt_text"
fixed = { seed = 42, temperature = 0.7 }
output = 1
timeout_s = 300
"""

HTTP = """
[speech]
protocol = "http"
path = "/v1/tts"
json_body = '{"text": {{ text | tojson }}, "ref": {{ reference_b64 | tojson }}}'
audio = "base64"
field = "data.audio"
headers = { Authorization = "Bearer abc" }
"""

OPENAI = """
[speech]
protocol = "openai"
voice = "alloy"
can_reference = true
"""


def _manifest(tmp_path: Path, speech: str) -> Path:
    path = tmp_path / "service.toml"
    path.write_text(COMMAND + speech)
    return path


def test_a_gradio_table_maps_parameters_by_name(tmp_path: Path) -> None:
    """A gradio [speech] table is read with its parameter names, fixed values and output."""
    manifest = load_service_manifest(_manifest(tmp_path, GRADIO))
    spec = manifest.speech
    assert isinstance(spec, GradioSpeech)
    assert spec.api_name == "/synthesize"
    assert spec.reference_audio == "prompt_audio"
    assert spec.fixed == {"seed": 42, "temperature": 0.7}
    assert spec.output == 1
    assert spec.timeout_s == 300
    assert manifest.can_reference


def test_an_http_table_keeps_its_templates(tmp_path: Path) -> None:
    """An http [speech] table keeps path, body template, audio location and headers."""
    manifest = load_service_manifest(_manifest(tmp_path, HTTP))
    spec = manifest.speech
    assert isinstance(spec, HttpSpeech)
    assert spec.audio == "base64"
    assert spec.field == "data.audio"
    assert spec.headers == {"Authorization": "Bearer abc"}
    assert manifest.can_reference  # reference_b64 is in the body template


def test_openai_is_the_protocol_when_speech_is_left_out(tmp_path: Path) -> None:
    """No [speech] table means the OpenAI speech API; an openai table sets voice and references."""
    bare = load_service_manifest(_manifest(tmp_path, ""))
    assert isinstance(bare.speech, OpenAISpeech)
    assert bare.speech.path == "/v1/audio/speech"
    assert not bare.can_reference
    told = load_service_manifest(_manifest(tmp_path, OPENAI))
    assert isinstance(told.speech, OpenAISpeech)
    assert told.speech.voice == "alloy"
    assert told.can_reference


def test_each_protocol_survives_a_round_trip_through_toml(tmp_path: Path) -> None:
    """Writing a manifest as TOML and reading it back gives the same speech spec."""
    for table in (GRADIO, HTTP, OPENAI):
        manifest = load_service_manifest(_manifest(tmp_path, table))
        again = parse_service_manifest(tomllib.loads(manifest.to_toml()), where="round trip")
        assert again.speech == manifest.speech


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('[speech]\nprotocol = "grpc"\n', "speech"),
        ('[speech]\nprotocol = "gradio"\napi = "/x"\n', "api"),
        ('[speech]\nprotocol = "http"\naudio = "stream"\n', "audio"),
        ('[speech]\nprotocol = "gradio"\ntimeout_s = 0\n', "timeout_s"),
        ('[speech]\nprotocol = "gradio"\noutput = -1\n', "output"),
    ],
)
def test_a_bad_speech_table_is_refused_naming_the_key(
    tmp_path: Path, table: str, named: str
) -> None:
    """An unknown protocol, an unknown key or a bad value is refused, naming where."""
    with pytest.raises(ServiceManifestError, match=named):
        load_service_manifest(_manifest(tmp_path, table))


def test_open_speaker_picks_the_adapter_of_the_protocol() -> None:
    """Each protocol opens its own adapter; none connects before it is used."""
    gradio = open_speaker(GradioSpeech(protocol="gradio"), "http://127.0.0.1:9/ui")
    http = open_speaker(HttpSpeech(protocol="http"), "http://127.0.0.1:9")
    try:
        assert isinstance(gradio, GradioSpeaker)
        assert isinstance(gradio, Speaker)
        assert isinstance(http, Speaker)
        assert gradio.base_url == "http://127.0.0.1:9/ui/"
        assert not gradio.can_reference
        assert isinstance(http, HttpSpeaker)
        assert not http.can_reference
    finally:
        gradio.close()
        http.close()


def test_gradio_without_a_reference_parameter_refuses_a_clip(tmp_path: Path) -> None:
    """A reference clip for a Gradio app with no reference_audio is refused before any call."""
    speaker = GradioSpeaker("http://127.0.0.1:9", GradioSpeech(protocol="gradio"))
    clip = ReferenceClip(tmp_path / "me.wav")
    with pytest.raises(ReferenceNotSupportedError, match="reference_audio"):
        speaker.speak(SpeechRequest("Hello.", reference=clip))


def test_http_without_a_reference_field_refuses_a_clip(tmp_path: Path) -> None:
    """A reference clip for an HTTP API whose template has no place for one is refused."""
    speaker = HttpSpeaker("http://127.0.0.1:9", HttpSpeech(protocol="http"))
    try:
        with pytest.raises(ReferenceNotSupportedError, match="reference_field"):
            speaker.speak(SpeechRequest("Hello.", reference=ReferenceClip(tmp_path / "me.wav")))
    finally:
        speaker.close()


def test_http_base64_without_a_field_is_refused() -> None:
    """audio = "base64" (or "url") without `field` is refused when the adapter is made."""
    with pytest.raises(SpeechError, match="needs `field`"):
        HttpSpeaker("http://127.0.0.1:9", HttpSpeech(protocol="http", audio="base64"))


def test_http_template_errors_are_named() -> None:
    """Broken Jinja fails at set-up; an undefined name fails naming the names defined."""
    with pytest.raises(SpeechError, match="not valid Jinja"):
        HttpSpeaker("http://127.0.0.1:9", HttpSpeech(protocol="http", json_body="{{ text "))
    speaker = HttpSpeaker("http://127.0.0.1:9", HttpSpeech(protocol="http", path="/t/{{ txt }}"))
    try:
        with pytest.raises(SpeechError, match="reference_b64, reference_text"):
            speaker.speak(SpeechRequest("Hello."))
    finally:
        speaker.close()


class _Scripted:
    """A seam fake of ``Speaker``: answers what it is given (check_ready's input only)."""

    can_reference = False

    def __init__(self, answer: Speech | BaseException) -> None:
        self.answer = answer
        self.asked: list[SpeechRequest] = []

    def speak(self, request: SpeechRequest) -> Speech:
        """The scripted speech, or raise the scripted error."""
        self.asked.append(request)
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    def close(self) -> None:
        """Nothing to release."""


def _tone(seconds: float, amplitude: float = 0.3, rate: int = 16000) -> Speech:
    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    return Speech((amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, 0.1)


def test_ready_passes_on_speech_long_enough() -> None:
    """Audio that is loud enough and longer than min_audio_s is ready, for the ready text."""
    speaker = _Scripted(_tone(1.2))
    ready = ReadyCheck(text="Ready when you are.")
    assert check_ready(speaker, ready) is None
    assert speaker.asked[0].text == "Ready when you are."


def test_ready_fails_on_silence() -> None:
    """Two seconds of silence is not ready, and the reason says so."""
    silence = Speech(np.zeros(32000, dtype=np.float32), 16000, 0.1)
    assert check_ready(_Scripted(silence), ReadyCheck()) == "answered 2.0 s of silence"


def test_ready_fails_on_audio_too_short() -> None:
    """Audio no longer than min_audio_s is not ready, and the reason gives both lengths."""
    reason = check_ready(_Scripted(_tone(0.2)), ReadyCheck(min_audio_s=0.5))
    assert reason is not None
    assert "only 0.20 s of audio" in reason
    assert "more than 0.5 s" in reason


def test_ready_reports_errors_instead_of_raising() -> None:
    """A refused request, a refused connection or any other failure is a reason, one line."""
    refused = check_ready(_Scripted(SpeechError("answered 503:\n model loading")), ReadyCheck())
    assert refused == "answered 503: model loading"
    down = check_ready(_Scripted(httpx.ConnectError("connection refused")), ReadyCheck())
    assert down == "did not answer: connection refused"
    broken = check_ready(_Scripted(RuntimeError("boom")), ReadyCheck())
    assert broken == "failed: RuntimeError: boom"
