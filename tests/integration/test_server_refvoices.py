"""Reference voices through real `ttsops serve` processes of joe (Piper) over loopback HTTP.

Two servers share one ``TTSOPS_HOME``, as a host's blue and green slots do. The clip is joe's
own speech written as a 24 kHz wav; the bad clips are what users really send by mistake.
Piper cannot use a reference, so here every speech request naming one is refused; the
Kokoro tests (``test_server_refvoices_kokoro.py``) speak with one.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import soxr

from ttsops.engines import Engine
from ttsops.testing import ServerProcess

REF_ID = re.compile(r"ref-[0-9a-f]{12}")


def _wav(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def joe_clip(joe_engine: Engine) -> bytes:
    """Four seconds of joe's voice as a 24 kHz 16-bit wav, the way a user would export it."""
    audio = joe_engine.synthesize(
        "The quick brown fox jumps over the lazy dog. Then it ran away.", "joe", 1.0, seed=7
    )
    return _wav(soxr.resample(audio.samples, audio.sample_rate, 24000), 24000)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host's TTSOPS_HOME, shared by both slots."""
    return tmp_path_factory.mktemp("refvoices-home")


@pytest.fixture(scope="module")
def blue(joe_bundle: Path, home: Path) -> Iterator[ServerProcess]:
    """Slot blue: joe."""
    args = ["--no-ui", "--workers", "1", "--solo-threads", "0"]
    with ServerProcess(joe_bundle, args, env={"TTSOPS_HOME": str(home)}) as server:
        yield server


@pytest.fixture(scope="module")
def green(joe_bundle: Path, home: Path) -> Iterator[ServerProcess]:
    """Slot green: another `ttsops serve` process on the same host."""
    args = ["--no-ui", "--workers", "1", "--solo-threads", "0"]
    with ServerProcess(joe_bundle, args, env={"TTSOPS_HOME": str(home)}) as server:
        yield server


def _register(
    server: ServerProcess, data: bytes, name: str = "clip.wav", **fields: str
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/voices", files={"file": (name, data)}, data=fields, timeout=60
    )


def test_a_clip_registered_on_blue_is_listed_and_deleted_on_green(
    blue: ServerProcess, green: ServerProcess, joe_clip: bytes, home: Path
) -> None:
    """Register on blue (201, then 200 for the same clip), list and delete it from green."""
    first = _register(blue, joe_clip, "joe.wav", text="The quick brown fox.")
    assert first.status_code == 201, first.text
    voice = first.json()
    assert REF_ID.fullmatch(voice["id"])
    assert (voice["name"], voice["text"]) == ("joe", "The quick brown fox.")
    assert voice["duration_s"] == pytest.approx(sf.info(io.BytesIO(joe_clip)).duration, abs=1e-3)
    assert first.headers["location"] == f"/v1/voices/{voice['id']}"
    again = _register(green, joe_clip, "same-again.wav")
    assert (again.status_code, again.json()["id"]) == (200, voice["id"])

    listed = httpx.get(f"{green.url}/v1/voices", timeout=10).json()
    assert [v["id"] for v in listed["data"]] == [voice["id"]]
    assert (listed["stock"], listed["supports_prompt_audio"]) == (["joe"], False)
    assert sorted(p.name for p in (home / "voices").iterdir()) == [
        f"{voice['id']}.json",
        f"{voice['id']}.wav",
    ]

    gone = httpx.delete(f"{green.url}/v1/voices/{voice['id']}", timeout=10)
    assert gone.json() == {"id": voice["id"], "object": "voice", "deleted": True}
    assert httpx.get(f"{blue.url}/v1/voices/{voice['id']}", timeout=10).status_code == 404
    again = httpx.delete(f"{blue.url}/v1/voices/{voice['id']}", timeout=10)
    assert again.status_code == 404 and again.json()["error"]["code"] == "reference_not_found"


def test_piper_refuses_to_speak_with_a_reference_voice(
    blue: ServerProcess, joe_clip: bytes
) -> None:
    """A speech request naming a registered voice gets 400 saying Piper cannot use one."""
    voice_id = _register(blue, joe_clip).json()["id"]
    answer = httpx.post(
        f"{blue.url}/v1/audio/speech", json={"input": "Hello there.", "voice": voice_id}, timeout=60
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "reference_not_supported"
    assert "engine piper) cannot use reference voices" in error["message"]
    assert "kokoro" in error["message"] and "supports_prompt_audio" in error["message"]
    stock = httpx.post(f"{blue.url}/v1/audio/speech", json={"input": "Hello."}, timeout=60)
    assert stock.status_code == 200 and "x-ttsops-reference" not in stock.headers


def _bad_clips(joe_clip: bytes) -> dict[str, tuple[bytes, int, str]]:
    speech, rate = sf.read(io.BytesIO(joe_clip), dtype="float32")
    long_speech = np.tile(speech, int(40 * rate / len(speech)) + 1)[: 40 * rate]
    return {
        "a text file named .wav": (b"voice notes, not audio\n" * 100, 415, "not audio"),
        "40 s long": (_wav(long_speech, rate), 400, "the limit is 30 s"),
        "half a second": (_wav(speech[: rate // 2], rate), 400, "at least 1 s"),
        "all zeros": (_wav(np.zeros(3 * rate, dtype=np.float32), rate), 400, "silent"),
        "8 kHz": (_wav(soxr.resample(speech, rate, 8000), 8000), 400, "8000 Hz"),
        "17 MiB": (b"RIFF" + bytes(17 * 2**20), 413, "at most 16 MiB"),
    }


def test_bad_clips_get_clear_4xx_and_leave_no_file(
    green: ServerProcess, joe_clip: bytes, home: Path
) -> None:
    """Not audio, too long, too short, silent, 8 kHz, too big: each its 4xx, none stored."""
    before = sorted((home / "voices").iterdir()) if (home / "voices").is_dir() else []
    for label, (data, status, words) in _bad_clips(joe_clip).items():
        answer = _register(green, data)
        assert answer.status_code == status, (label, answer.text)
        assert answer.json()["error"]["code"] == "invalid_reference", label
        assert words in answer.json()["error"]["message"], (label, answer.text)
    not_multipart = httpx.post(f"{green.url}/v1/voices", json={"file": "x"}, timeout=10)
    assert not_multipart.status_code == 400
    assert "multipart/form-data" in not_multipart.json()["error"]["message"]
    no_file = httpx.post(f"{green.url}/v1/voices", files={"name": (None, "x")}, timeout=10)
    assert no_file.status_code == 400 and "field 'file'" in no_file.json()["error"]["message"]
    after = sorted((home / "voices").iterdir()) if (home / "voices").is_dir() else []
    assert after == before


def test_openapi_documents_the_voices_routes_and_reference_ids(green: ServerProcess) -> None:
    """The schema has /v1/voices (multipart upload, its 4xx); piper's takes no ref-… voice."""
    spec = httpx.get(f"{green.url}/openapi.json", timeout=10).json()
    post = spec["paths"]["/v1/voices"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert {"201", "400", "413", "415"} <= set(post["responses"])
    assert "matching with kokoro; cloning where the engine clones" in post["description"]
    assert set(spec["paths"]["/v1/voices/{voice_id}"]) == {"get", "delete"}
    speech = spec["paths"]["/v1/audio/speech"]["post"]
    voice = speech["requestBody"]["content"]["application/json"]["schema"]["properties"]["voice"]
    assert voice["anyOf"][0]["enum"][0] == "joe"
    assert not [choice for choice in voice["anyOf"] if "pattern" in choice]
    assert "404" in speech["responses"]
