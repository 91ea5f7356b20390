"""`ttsops serve` as a drop-in for OpenAI's speech API: voices, formats, rates, seeds, 405s.

A real server of joe over loopback HTTP; the official ``openai`` client where a user would
use it. Seeded requests make every format carry the very same synthesis, so each decoded
length can be held against the exact length of the wav answer.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
import soundfile as sf
import soxr

from ttsops.testing import ServerProcess

SENTENCE = "The quick brown fox jumps over the lazy dog."
SENTENCES = "First sentence here. Second one there. And a third to end."
SEED = 1234
# Encoder delay and padding of mp3 (LAME) and aac make them up to ~0.08 s longer.
TOLERANCE_S = 0.1


def _speech(server: ServerProcess, **body: object) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/audio/speech", json=body, timeout=120)


def _pyav(data: bytes, fmt: str, pcm_rate: int = 24000) -> tuple[int, float]:
    """(sample rate, seconds) as FFmpeg decodes ``data``; raw pcm read as s16le."""
    if fmt == "pcm":
        container = av.open(
            io.BytesIO(data), format="s16le", options={"sample_rate": str(pcm_rate)}
        )
    else:
        container = av.open(io.BytesIO(data))
    with container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return int(stream.rate), samples / stream.rate


def _soundfile(data: bytes, fmt: str, pcm_rate: int = 24000) -> tuple[int, float]:
    """(sample rate, seconds) as libsndfile reads ``data`` with ``soundfile.read``."""
    if fmt == "pcm":
        samples, rate = sf.read(
            io.BytesIO(data), format="RAW", subtype="PCM_16", samplerate=pcm_rate, channels=1
        )
    else:
        samples, rate = sf.read(io.BytesIO(data))
    return int(rate), len(samples) / rate


@pytest.fixture(scope="module")
def seeded_wav(joe_server: ServerProcess) -> tuple[np.ndarray, int]:
    """The seeded sentence as wav: the exact synthesized samples and rate."""
    resp = _speech(joe_server, input=SENTENCE, seed=SEED, response_format="wav")
    samples, rate = sf.read(io.BytesIO(resp.content), dtype="float32")
    return samples, int(rate)


_RATES = {"mp3": 22050, "opus": 48000, "aac": 22050, "flac": 22050, "wav": 22050, "pcm": 24000}
# libsndfile reads every format but ADTS aac (it has no aac decoder at all).
_SOUNDFILE_READS = ("mp3", "opus", "flac", "wav", "pcm")


@pytest.mark.parametrize("fmt", list(_RATES))
def test_every_format_decodes_to_the_synthesized_length(
    joe_server: ServerProcess, seeded_wav: tuple[np.ndarray, int], fmt: str
) -> None:
    """Each format decodes (PyAV, and soundfile where it can) at its rate to the audio's length."""
    samples, rate = seeded_wav
    synthesized_s = len(samples) / rate
    resp = _speech(joe_server, input=SENTENCE, seed=SEED, response_format=fmt)
    assert resp.status_code == 200
    assert int(resp.headers["x-ttsops-sample-rate"]) == _RATES[fmt]
    decoders = [_pyav] + ([_soundfile] if fmt in _SOUNDFILE_READS else [])
    for decode in decoders:
        got_rate, seconds = decode(resp.content, fmt)
        assert got_rate == _RATES[fmt], decode.__name__
        assert seconds == pytest.approx(synthesized_s, abs=TOLERANCE_S), decode.__name__


def test_flac_reads_with_soundfile_sample_exact(
    joe_server: ServerProcess, seeded_wav: tuple[np.ndarray, int]
) -> None:
    """A flac answer opens with soundfile.read and holds exactly the wav's samples (lossless)."""
    wav, _ = seeded_wav
    resp = _speech(joe_server, input=SENTENCE, seed=SEED, response_format="flac")
    info = sf.info(io.BytesIO(resp.content))
    assert info.frames == len(wav)  # STREAMINFO states the total, not 0 ("unknown")
    flac, rate = sf.read(io.BytesIO(resp.content), dtype="float32")
    assert rate == 22050
    assert np.array_equal(flac, wav)


def test_pcm_is_24_khz_and_streamed_without_clicks(joe_server: ServerProcess) -> None:
    """Several sentences as pcm: 24 kHz, equal to resampling the whole wav at once."""
    wav = _speech(joe_server, input=SENTENCES, seed=SEED, response_format="wav")
    whole, rate = sf.read(io.BytesIO(wav.content), dtype="float32")
    with httpx.stream(
        "POST",
        f"{joe_server.url}/v1/audio/speech",
        json={"input": SENTENCES, "seed": SEED, "response_format": "pcm"},
        timeout=120,
    ) as resp:
        assert resp.headers["x-ttsops-sample-rate"] == "24000"
        pieces = [chunk for chunk in resp.iter_raw() if chunk]
    assert len(pieces) >= 3  # streamed sentence by sentence, not in one go
    pcm = np.frombuffer(b"".join(pieces), dtype="<i2").astype(np.float32) / 32767
    expected = soxr.resample(whole, rate, 24000, quality="HQ")
    assert abs(len(pcm) - len(expected)) <= 2
    n = min(len(pcm), len(expected))
    # A click at a chunk join would differ by far more than int16 rounding.
    assert np.abs(pcm[:n] - expected[:n]).max() < 0.01


def test_pcm_keeps_an_asked_sample_rate(joe_server: ServerProcess) -> None:
    """sample_rate still wins over pcm's 24 kHz default, and the header says so."""
    resp = _speech(joe_server, input=SENTENCE, response_format="pcm", sample_rate=22050)
    assert resp.headers["x-ttsops-sample-rate"] == "22050"


def test_same_seed_gives_identical_audio(joe_server: ServerProcess) -> None:
    """Two requests with one seed give the same wav bytes; another seed gives other audio."""
    first, second, other = (
        _speech(joe_server, input=SENTENCE, seed=seed, response_format="wav").content
        for seed in (7, 7, 8)
    )
    assert first == second
    assert first != other


def test_openai_voice_names_are_aliases(joe_server: ServerProcess) -> None:
    """voice=alloy speaks with joe, says so in a header, and /v1/models shows the mapping."""
    resp = _speech(joe_server, input=SENTENCE, voice="alloy", response_format="wav")
    assert resp.status_code == 200
    assert resp.headers["x-ttsops-voice"] == "joe"
    model = httpx.get(f"{joe_server.url}/v1/models").json()["data"][0]
    assert model["voices"] == ["joe"]
    assert model["voice_aliases"]["alloy"] == "joe"
    assert set(model["voice_aliases"]) >= {"alloy", "echo", "nova", "shimmer", "verse"}


def test_official_openai_client_every_format(joe_server: ServerProcess) -> None:
    """openai's client with model tts-1 and voice alloy gets decodable audio in every format."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{joe_server.url}/v1", api_key="not-needed")
    for fmt, expected_rate in _RATES.items():
        audio = client.audio.speech.create(
            model="tts-1", voice="alloy", input=SENTENCE, response_format=fmt
        )  # type: ignore[call-overload]
        rate, seconds = _pyav(audio.content, fmt)
        assert rate == expected_rate, fmt
        assert 1.5 < seconds < 6.0, fmt


def test_official_openai_client_streams_pcm_at_24_khz(joe_server: ServerProcess) -> None:
    """Streamed pcm through the openai client is as long at 24 kHz as the same wav."""
    from openai import OpenAI

    client = OpenAI(base_url=f"{joe_server.url}/v1", api_key="not-needed")
    body = {"seed": SEED}
    wav = client.audio.speech.create(
        model="tts-1", voice="alloy", input=SENTENCE, response_format="wav", extra_body=body
    )
    wav_s = sf.info(io.BytesIO(wav.content)).duration
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=SENTENCE, response_format="pcm", extra_body=body
    ) as streamed:
        pcm = b"".join(streamed.iter_bytes())
    assert len(pcm) / 2 / 24000 == pytest.approx(wav_s, abs=0.01)


def test_official_openai_client_unknown_voice(joe_server: ServerProcess) -> None:
    """An unknown voice raises the client's BadRequestError naming the voices and aliases."""
    from openai import BadRequestError, OpenAI

    client = OpenAI(base_url=f"{joe_server.url}/v1", api_key="not-needed")
    with pytest.raises(BadRequestError) as refused:
        client.audio.speech.create(model="tts-1", voice="bob", input=SENTENCE)
    message = str(refused.value)
    assert "unknown voice 'bob'" in message
    assert "joe" in message and "alloy → joe" in message


def test_wrong_method_gets_405_with_allow(joe_server: ServerProcess) -> None:
    """GET on the speech route is 405 with Allow: POST and a JSON error."""
    resp = httpx.get(f"{joe_server.url}/v1/audio/speech")
    assert resp.status_code == 405
    assert resp.headers["allow"] == "POST"
    assert resp.json()["error"]["code"] == "method_not_allowed"


def test_schema_states_the_servers_input_rules(joe_server: ServerProcess) -> None:
    """/openapi.json says input is non-blank and within the limit, voices are an enum, seed."""
    spec = httpx.get(f"{joe_server.url}/openapi.json").json()
    post = spec["paths"]["/v1/audio/speech"]["post"]
    props = post["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert props["input"]["minLength"] == 1 and props["input"]["maxLength"] == 5000
    assert "pattern" in props["input"]
    assert "alloy" in props["voice"]["anyOf"][0]["enum"]
    assert props["seed"]["anyOf"][0]["minimum"] == 0
    assert "text/event-stream" in post["responses"]["200"]["content"]
    assert {"400", "405", "413", "503", "504"} <= set(post["responses"])


def test_alias_to_a_missing_voice_is_refused_at_start(joe_bundle: Path, tmp_path: Path) -> None:
    """A configured alias naming a voice the bundle lacks stops `ttsops serve` with the fix."""
    config = tmp_path / "ttsops.toml"
    config.write_text('[server]\nvoice_aliases = {nova = "nobody"}\n')
    done = subprocess.run(
        [sys.executable, "-m", "ttsops", "serve", "--bundle", str(joe_bundle), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TTSOPS_CONFIG": str(config)},
    )
    assert done.returncode == 1
    assert "'nova' to 'nobody'" in done.stderr
    assert "its voices are: joe" in done.stderr


def test_configured_alias_is_used(joe_bundle: Path, tmp_path: Path) -> None:
    """voice_aliases adds a name of the user's own that speaks with the mapped voice."""
    config = tmp_path / "ttsops.toml"
    config.write_text('[server]\nvoice_aliases = {narrator = "joe"}\n')
    env = {"TTSOPS_CONFIG": str(config)}
    with ServerProcess(joe_bundle, ["--no-ui", "--workers", "1"], env=env) as server:
        resp = _speech(server, input="Hi there.", voice="narrator", response_format="wav")
        assert resp.status_code == 200
        assert resp.headers["x-ttsops-voice"] == "joe"
        aliases = httpx.get(f"{server.url}/v1/models").json()["data"][0]["voice_aliases"]
        assert aliases["narrator"] == "joe" and aliases["alloy"] == "joe"
