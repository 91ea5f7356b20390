"""Reference voices spoken by a real `ttsops serve` of a Kokoro bundle, and by batch.

Kokoro matches a reference clip to its nearest stock voices (voice matching, not cloning).
The clip is joe's (Piper) speech written as a 24 kHz wav — a real voice the bundle does not
have. The official ``openai`` client speaks with the registered id as its ``voice``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import soxr

from ttsops.batch import BatchOptions, BundleBackend, HttpBackend, open_sink, run_batch
from ttsops.engines import Engine
from ttsops.testing import ServerProcess

TEXT = "The quick brown fox jumps over the lazy dog."


def _wav(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def joe_clip(joe_engine: Engine) -> bytes:
    """Joe's voice, about four seconds, as a 24 kHz wav."""
    audio = joe_engine.synthesize(
        "Every morning I walk to the station and buy a newspaper.", "joe", 1.0, seed=3
    )
    return _wav(soxr.resample(audio.samples, audio.sample_rate, 24000), 24000)


@pytest.fixture(scope="module")
def kokoro_bundle(kokoro_bundle_factory: Callable[..., Path]) -> Path:
    """A Kokoro bundle of two English voices (af_heart the default) with its match pool."""
    return kokoro_bundle_factory(("af_heart", "am_michael"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's TTSOPS_HOME (its voices store)."""
    return tmp_path_factory.mktemp("kokoro-refvoices-home")


@pytest.fixture(scope="module")
def kokoro_server(kokoro_bundle: Path, home: Path) -> Iterator[ServerProcess]:
    """A real `ttsops serve` of the Kokoro bundle, with its web UI."""
    args = ["--workers", "2", "--solo-threads", "0"]
    with ServerProcess(kokoro_bundle, args, env={"TTSOPS_HOME": str(home)}) as server:
        yield server


def _register(server: ServerProcess, data: bytes, name: str = "joe.wav") -> dict[str, Any]:
    answer = httpx.post(f"{server.url}/v1/voices", files={"file": (name, data)}, timeout=60)
    assert answer.status_code in (200, 201), answer.text
    return dict(answer.json())


def _similarity(a: np.ndarray, rate_a: int, b: np.ndarray, rate_b: int) -> float:
    from ttsops.speaker import embed, similarity

    return similarity(embed(a, rate_a), embed(b, rate_b))


def test_openai_client_speaks_with_a_registered_reference_voice(
    kokoro_server: ServerProcess, joe_clip: bytes
) -> None:
    """The openai client, voice=ref-…: 200, the reference named, and nearer joe than af_heart."""
    from openai import OpenAI

    voice_id = _register(kokoro_server, joe_clip)["id"]
    client = OpenAI(base_url=f"{kokoro_server.url}/v1", api_key="unused")
    raw = client.audio.speech.with_raw_response.create(
        model="tts-1", voice=voice_id, input=TEXT, response_format="wav"
    )
    assert raw.headers["x-ttsops-reference"] == voice_id
    assert raw.headers["x-ttsops-voice"] == "af_heart"
    matched, rate = sf.read(io.BytesIO(raw.content), dtype="float32")
    assert len(matched) / rate > 1.0
    stock = client.audio.speech.create(
        model="tts-1", voice="af_heart", input=TEXT, response_format="wav"
    )
    default, _ = sf.read(io.BytesIO(stock.content), dtype="float32")
    clip, clip_rate = sf.read(io.BytesIO(joe_clip), dtype="float32")
    assert _similarity(matched, rate, clip, clip_rate) > _similarity(default, rate, clip, clip_rate)


def test_unknown_reference_is_404_and_the_schema_takes_reference_ids(
    kokoro_server: ServerProcess,
) -> None:
    """An id never registered gets 404 saying how to register; the schema lists ref-… ids."""
    answer = httpx.post(
        f"{kokoro_server.url}/v1/audio/speech",
        json={"input": "Hello.", "voice": "ref-0123456789ab"},
        timeout=60,
    )
    assert answer.status_code == 404
    assert "POST /v1/voices" in answer.json()["error"]["message"]
    spec = httpx.get(f"{kokoro_server.url}/openapi.json", timeout=10).json()
    body = spec["paths"]["/v1/audio/speech"]["post"]["requestBody"]["content"]
    choices = body["application/json"]["schema"]["properties"]["voice"]["anyOf"]
    assert {"type": "string", "pattern": r"^ref-[0-9a-f]{12}$"}.items() <= choices[1].items()


def test_web_ui_speaks_with_an_uploaded_clip(
    kokoro_server: ServerProcess, joe_clip: bytes, tmp_path: Path
) -> None:
    """The UI's clip upload (gradio_client, as a browser uploads) speaks and names the voice."""
    from gradio_client import Client, handle_file

    clip = tmp_path / "mine.wav"
    clip.write_bytes(joe_clip)
    client = Client(f"{kokoro_server.url}/ui/", verbose=False, download_files=str(tmp_path))
    played, used = client.predict(
        "Hello there.", "af_heart", 1.0, "wav", handle_file(str(clip)), "", api_name="/on_speak"
    )
    assert sf.info(played).duration > 0.3
    listed = httpx.get(f"{kokoro_server.url}/v1/voices", timeout=10).json()
    assert listed["supports_prompt_audio"] is True
    assert any(f"`{v['id']}`" in used for v in listed["data"]), used


def _tasks(folder: Path, joe_clip: bytes) -> Path:
    """Four lines: two share joe's clip, one names a missing clip, one an 8 kHz clip."""
    (folder / "clips").mkdir()
    (folder / "clips" / "joe.wav").write_bytes(joe_clip)
    speech, rate = sf.read(io.BytesIO(joe_clip), dtype="float32")
    (folder / "clips" / "phone.wav").write_bytes(_wav(soxr.resample(speech, rate, 8000), 8000))
    lines = [
        {"input_text": "First line.", "output_name": "a", "prompt_audio": "clips/joe.wav"},
        {"input_text": "Second line.", "output_name": "b", "prompt_audio": "clips/joe.wav"},
        {"input_text": "Third line.", "output_name": "c", "prompt_audio": "clips/none.wav"},
        {"input_text": "Fourth line.", "output_name": "d", "prompt_audio": "clips/phone.wav"},
        {"input_text": "Stock voice.", "output_name": "e"},
    ]
    path = folder / "tasks.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _failed(out: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in (out / "failed.jsonl").read_text().splitlines()]
    return {row["output_name"]: row["code"] for row in rows}


def test_batch_prompt_audio_through_the_server_registers_each_clip_once(
    kokoro_server: ServerProcess, joe_clip: bytes, tmp_path: Path, home: Path
) -> None:
    """Lines sharing a clip register it once; a missing or 8 kHz clip fails only its line."""
    tasks = _tasks(tmp_path, joe_clip)
    before = _voice_posts(kokoro_server)
    backend = HttpBackend(kokoro_server.url, timeout_s=120)
    try:
        summary = run_batch(tasks, backend, open_sink(tmp_path / "out", None), BatchOptions())
    finally:
        backend.close()
    assert (summary.done, summary.failed) == (3, 2)
    assert _failed(tmp_path / "out") == {"c": "prompt_audio_not_found", "d": "invalid_reference"}
    assert sf.info(tmp_path / "out" / "a.wav").duration > 0.5
    assert _voice_posts(kokoro_server) - before == 2  # joe once, the 8 kHz clip once (refused)
    clip_ids = {p.stem for p in (home / "voices").glob("ref-*.json")}
    assert len(clip_ids) == 1


def _voice_posts(server: ServerProcess) -> float:
    """``POST /v1/voices`` requests the server has counted, any status."""
    from prometheus_client.parser import text_string_to_metric_families

    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "ttsops_requests_total" and sample.labels.get("route") == "/v1/voices"
    )


def test_batch_prompt_audio_in_process_matches_the_clip(
    kokoro_bundle: Path, joe_clip: bytes, tmp_path: Path
) -> None:
    """In-process, the same lines give the same answers: done, not found, refused as 8 kHz."""
    tasks = _tasks(tmp_path, joe_clip)
    backend = BundleBackend(kokoro_bundle)
    try:
        summary = run_batch(
            tasks, backend, open_sink(tmp_path / "out", None), BatchOptions(concurrency=1)
        )
    finally:
        backend.close()
    assert (summary.done, summary.failed) == (3, 2)
    assert _failed(tmp_path / "out") == {"c": "prompt_audio_not_found", "d": "invalid_reference"}
    matched, rate = sf.read(tmp_path / "out" / "a.wav", dtype="float32")
    stock, _ = sf.read(tmp_path / "out" / "e.wav", dtype="float32")
    clip, clip_rate = sf.read(io.BytesIO(joe_clip), dtype="float32")
    assert _similarity(matched, rate, clip, clip_rate) > _similarity(stock, rate, clip, clip_rate)
