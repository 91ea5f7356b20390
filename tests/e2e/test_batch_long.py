"""`ttsops batch` speaks texts longer than the server's input limit: an audiobook chapter.

A real `ttsops serve` of joe that refuses inputs over 200 characters, and a ~1,500-character
chapter line: the batch cuts it at sentences, makes the parts, and writes one file per
line, one line in results.jsonl each.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
import soundfile

from ttsops.batch.parts import pack
from ttsops.testing import ServerProcess

pytestmark = pytest.mark.slow

LIMIT = 200
CHAPTER = " ".join(
    [
        "Chapter one. The lighthouse keeper woke before dawn, as he had every day for thirty "
        "years, and climbed the spiral stairs to the lamp room.",
        "The sea was calm; the gulls were already circling the harbour, and a thin mist lay "
        "over the water like a sheet of grey wool.",
        "He wiped the great lens with a soft cloth, checked the oil, and wrote the time in his "
        "logbook in small, careful letters.",
        "Down in the village, the baker was lighting her ovens, and the smell of fresh bread "
        "drifted up the hill on the morning breeze.",
        "Nobody had come to the lighthouse in weeks, so when he saw a small boat rowing "
        "steadily towards the rocks, he put down his cup and watched.",
        "A girl sat at the oars, no older than twelve, with a red scarf tied around her head "
        "and a wooden box wedged between her feet.",
        "She rowed as if she had done it all her life, reading the swell, and brought the boat "
        "into the narrow cove without a single scrape.",
        "The keeper went down to meet her. She held out the box and said that her grandmother "
        "had asked her to bring it to him, and to nobody else.",
        "Inside, wrapped in oilcloth, lay a brass key and a letter in a hand he had not seen "
        "for forty years.",
        "He read it twice, standing on the wet stones, while the girl waited and the tide "
        "turned quietly behind her.",
        "Then he folded the letter, put the key in his pocket, and asked her whether she would "
        "like some tea before the long row home.",
        "She said yes, and they climbed the hill together as the sun broke through the mist.",
    ]
)


def ttsops(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess and wait for it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTSOPS_")}
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**env, "COLUMNS": "120"},
    )


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _seconds(path: Path) -> float:
    """Duration of an audio file, by decoding all of it."""
    if path.suffix == ".wav":
        data, rate = soundfile.read(path)
        return float(len(data) / rate)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = sum(frame.samples for frame in container.decode(stream))
        return float(frames / stream.rate)


def av_rate(path: Path) -> int:
    """Sample rate of a compressed file's audio stream."""
    with av.open(str(path)) as container:
        return int(container.streams.audio[0].rate)


@pytest.fixture(scope="module")
def small_server(joe_bundle: Path) -> Iterator[ServerProcess]:
    """`ttsops serve` of joe with --max-input-chars 200."""
    with ServerProcess(joe_bundle, ["--max-input-chars", str(LIMIT), "--workers", "2"]) as server:
        yield server


def test_a_chapter_over_the_limit_is_one_file(small_server: ServerProcess, tmp_path: Path) -> None:
    """A 1,500-character line: exit 0, one file as long as its parts together, one results line."""
    assert len(CHAPTER) > 1400
    refused = httpx.post(f"{small_server.url}/v1/audio/speech", json={"input": CHAPTER}, timeout=60)
    assert refused.status_code == 413  # what made batch fail before
    tasks = tmp_path / "book.jsonl"
    lines = [
        {"input_text": CHAPTER, "output_name": "ch01", "chapter": 1},
        {"input_text": CHAPTER[:450], "output_name": "ch01-16k.mp3", "sample_rate": 16000},
        {"input_text": CHAPTER[:450], "output_name": "ch01-raw", "response_format": "pcm"},
        {"input_text": "A short line.", "output_name": "short"},
        {"input_text": "A short raw line.", "output_name": "short-raw", "response_format": "pcm"},
    ]
    tasks.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    out = tmp_path / "book"
    done = ttsops("batch", str(tasks), "--out", str(out), "--server", small_server.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ttsops batch" not in done.stderr  # no advice to use what is running
    assert (out / "failed.jsonl").read_text() == ""
    rows = {r["path"]: r for r in _rows(out / "results.jsonl")}
    made = ["ch01-16k.mp3", "ch01-raw.pcm", "ch01.wav", "short-raw.pcm", "short.wav"]
    assert sorted(rows) == made
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        [*made, "failed.jsonl", "results.jsonl"]
    )
    parts = pack(CHAPTER, LIMIT)
    assert all(len(p) <= LIMIT for p in parts) and len(parts) >= 8
    assert rows["ch01.wav"]["parts"] == len(parts) and rows["short.wav"]["parts"] == 1
    assert rows["ch01.wav"]["extra"] == {"chapter": 1}
    # The parts spoken one by one, as wav: together about as long as the batch's file.
    alone = 0.0
    for text in parts:
        answer = httpx.post(
            f"{small_server.url}/v1/audio/speech",
            json={"input": text, "response_format": "wav"},
            timeout=120,
        )
        assert answer.status_code == 200
        data, rate = soundfile.read(io.BytesIO(answer.content))
        alone += len(data) / rate
    wav = _seconds(out / "ch01.wav")
    assert abs(wav - alone) / alone < 0.15, (wav, alone)
    assert rows["ch01.wav"]["duration_s"] == pytest.approx(wav, abs=0.01)
    assert soundfile.info(out / "ch01.wav").samplerate == 22050
    mp3 = _seconds(out / "ch01-16k.mp3")  # parts joined, resampled and encoded once
    assert rows["ch01-16k.mp3"]["parts"] == len(pack(CHAPTER[:450], LIMIT)) > 1
    assert rows["ch01-16k.mp3"]["duration_s"] == pytest.approx(mp3, abs=0.05)
    assert 0.03 * 450 < mp3 < 0.2 * 450  # the gate's plausible seconds per character
    assert (rows["ch01-16k.mp3"]["sample_rate"], av_rate(out / "ch01-16k.mp3")) == (16000, 16000)

    # Raw pcm is 24 kHz, as one request answers (OpenAI's rate), in parts or not.
    for name in ("ch01-raw.pcm", "short-raw.pcm"):
        size = (out / name).stat().st_size
        assert rows[name]["sample_rate"] == 24000
        assert rows[name]["duration_s"] == pytest.approx(size / 2 / 24000, abs=0.001)
    assert rows["ch01-raw.pcm"]["duration_s"] == pytest.approx(mp3, rel=0.15)

    again = ttsops("batch", str(tasks), "--out", str(out), "--server", small_server.url, "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    summary = json.loads(again.stdout)
    assert (summary["skipped"], summary["done"]) == (5, 0)  # resumes: nothing made twice


def test_in_process_batch_speaks_a_chapter(joe_bundle: Path, tmp_path: Path) -> None:
    """`--bundle` has no input limit: the chapter is one file of plausible length."""
    tasks = tmp_path / "book.jsonl"
    tasks.write_text(json.dumps({"input_text": CHAPTER, "output_name": "ch01.flac"}) + "\n")
    out = tmp_path / "book"
    done = ttsops("batch", str(tasks), "--out", str(out), "--bundle", str(joe_bundle))
    assert done.returncode == 0, done.stdout + done.stderr
    [row] = _rows(out / "results.jsonl")
    seconds = _seconds(out / "ch01.flac")
    assert row["duration_s"] == pytest.approx(seconds, abs=0.05)
    assert 0.03 * len(CHAPTER) < seconds < 0.2 * len(CHAPTER)  # the gate's plausible range
