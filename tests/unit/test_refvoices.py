"""The reference-voice store and its clip checks, on real files in a temporary directory.

Clips here are synthetic (a voiced buzz with syllable-like bursts) so the checks run without
a model; the integration tests register real voices' audio through a real server.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from ttsops.errors import InvalidReferenceError, ReferenceNotFoundError
from ttsops.server.refclip import CLIP_RATE, MAX_CLIP_BYTES, decode_clip
from ttsops.server.refvoices import RefVoiceStore, is_ref_id


def _buzz(seconds: float, rate: int = CLIP_RATE, f0: float = 120.0) -> np.ndarray:
    """A voiced-sounding signal: harmonics of ``f0`` in 4 Hz syllable bursts."""
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
    bursts = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    return (0.2 * tone * bursts / 3).astype(np.float32)


def _file(samples: np.ndarray, rate: int = CLIP_RATE, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
    sf.write(buf, pcm, rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def _files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def test_same_clip_is_one_voice_whatever_its_container(tmp_path: Path) -> None:
    """The same samples as wav or flac, registered twice, give one id and one stored voice."""
    store = RefVoiceStore(tmp_path / "voices")
    clip = _buzz(3.0)
    voice, new = store.register(_file(clip), name="Ann", text="Hello there.", filename="a.wav")
    again, new_again = store.register(_file(clip, fmt="FLAC"), filename="a.flac")
    assert is_ref_id(voice.id)
    assert (new, new_again) == (True, False)
    assert again == voice  # the first registration's name and transcript stay
    assert [v.id for v in store.list()] == [voice.id]
    assert (voice.name, voice.text, voice.duration_s) == ("Ann", "Hello there.", 3.0)
    assert _files(tmp_path / "voices") == [f"{voice.id}.json", f"{voice.id}.wav"]


def test_clip_is_stored_mono_at_the_clip_rate_and_loads_as_a_reference(tmp_path: Path) -> None:
    """A 44.1 kHz stereo clip loads back as a mono 24 kHz Reference named by its id."""
    store = RefVoiceStore(tmp_path)
    stereo = np.stack([_buzz(2.0, 44100), _buzz(2.0, 44100, f0=180.0)], axis=1)
    voice, _ = store.register(_file(stereo, 44100), filename="duet.wav")
    ref = store.load(voice.id)
    assert (ref.sample_rate, ref.name, voice.name, voice.source_rate) == (
        CLIP_RATE,
        voice.id,
        "duet",
        44100,
    )
    assert ref.samples.ndim == 1 and ref.duration_s == pytest.approx(2.0, abs=1e-3)
    assert float(np.max(np.abs(ref.samples))) > 0.1


def test_other_slot_sees_registrations_and_deletions_at_once(tmp_path: Path) -> None:
    """Two stores on one directory (blue and green) share voices without any restart."""
    blue, green = RefVoiceStore(tmp_path), RefVoiceStore(tmp_path)
    voice, _ = blue.register(_file(_buzz(2.0)))
    assert green.get(voice.id) == voice
    assert green.load(voice.id).duration_s == pytest.approx(2.0, abs=1e-3)
    green.delete(voice.id)
    assert blue.list() == []
    with pytest.raises(ReferenceNotFoundError, match="POST /v1/voices"):
        blue.load(voice.id)


@pytest.mark.parametrize("voice_id", ["ref-000000000000", "../../etc/passwd", "ref-ABC", ""])
def test_unknown_or_malformed_ids_are_404(tmp_path: Path, voice_id: str) -> None:
    """Ids not registered, or not shaped like one (a path, say), are not found, never read."""
    store = RefVoiceStore(tmp_path)
    with pytest.raises(ReferenceNotFoundError) as caught:
        store.delete(voice_id)
    assert caught.value.http_status == 404


def _m4a(samples: np.ndarray, rate: int = CLIP_RATE) -> bytes:
    """AAC in MP4 (what phones record): libsndfile cannot read it, FFmpeg decodes it."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"  # type: ignore[union-attr]
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buf.getvalue()


_BAD = {
    "text file": (b"this is not audio at all\n" * 200, 415, "not audio"),
    "empty": (b"", 400, "empty"),
    "40 s": (_file(_buzz(40.0)), 400, r"40\.0 s long; the limit is 30 s"),
    "0.5 s": (_file(_buzz(0.5)), 400, "at least 1 s"),
    "all zeros": (_file(np.zeros(3 * CLIP_RATE, dtype=np.float32)), 400, "silent"),
    "8 kHz": (_file(_buzz(3.0, 8000), 8000), 400, "8000 Hz"),
    "too big": (b"RIFF" + bytes(MAX_CLIP_BYTES), 413, "MiB"),
}


@pytest.mark.parametrize("case", list(_BAD))
def test_bad_clips_are_refused_with_a_4xx_and_leave_nothing(tmp_path: Path, case: str) -> None:
    """Each bad clip is refused with its status and reason, and nothing is written."""
    data, status, words = _BAD[case]
    store = RefVoiceStore(tmp_path / "voices")
    with pytest.raises(InvalidReferenceError, match=words) as caught:
        store.register(data, filename="clip.wav")
    assert caught.value.http_status == status
    assert _files(tmp_path / "voices") == []


def test_a_long_compressed_clip_is_refused_before_it_is_decoded() -> None:
    """Ten minutes of silence as flac (a few KB) is refused as too long, from its header."""
    data = _file(np.zeros(600 * 16000, dtype=np.float32), 16000, fmt="FLAC")
    assert len(data) < 200_000
    with pytest.raises(InvalidReferenceError, match=r"600\.0 s long"):
        decode_clip(data)


def test_m4a_clips_are_decoded_by_ffmpeg_and_checked_the_same() -> None:
    """A phone's m4a registers; 40 s of it is refused as too long like any other clip."""
    clip = decode_clip(_m4a(_buzz(3.0)))
    assert clip.duration_s == pytest.approx(3.0, abs=0.1)
    assert "mp4" in clip.source_format
    with pytest.raises(InvalidReferenceError, match="the limit is 30 s"):
        decode_clip(_m4a(_buzz(40.0)))


def test_half_written_voice_is_not_listed_and_registering_again_completes_it(
    tmp_path: Path,
) -> None:
    """A clip without its sidecar (a crash between the two renames) and temp files are no voice."""
    store = RefVoiceStore(tmp_path)
    data = _file(_buzz(2.0))
    voice, _ = store.register(data)
    (tmp_path / f"{voice.id}.json").unlink()
    (tmp_path / ".tmp-x.json").write_text("{")
    assert store.list() == []
    again, new = store.register(data)
    assert new and again.id == voice.id
    assert [v.id for v in store.list()] == [voice.id]


def test_unreadable_sidecar_is_skipped_not_fatal(tmp_path: Path) -> None:
    """A sidecar someone broke by hand hides that voice only; the others still list."""
    store = RefVoiceStore(tmp_path)
    one, _ = store.register(_file(_buzz(2.0)))
    two, _ = store.register(_file(_buzz(2.0, f0=200.0)))
    (tmp_path / f"{one.id}.json").write_text("not json")
    assert [v.id for v in store.list()] == [two.id]
    assert json.loads((tmp_path / f"{two.id}.json").read_text())["name"] == two.id


def test_name_and_text_are_bounded(tmp_path: Path) -> None:
    """A name over 100 characters is refused; control characters are dropped from the text."""
    store = RefVoiceStore(tmp_path)
    with pytest.raises(InvalidReferenceError, match="name is 101 characters"):
        store.register(_file(_buzz(2.0)), name="x" * 101)
    voice, _ = store.register(_file(_buzz(2.0)), text="Hi\x00 there\n")
    assert voice.text == "Hi  there"
