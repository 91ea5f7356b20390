"""The gate in Mandarin on real Kokoro voices, heard by the real multilingual Whisper base.

Kokoro bundles come from the session's ``kokoro_bundle_factory`` (each with its match pool
of stock Mandarin voices, so it can take a reference clip). Whisper is loaded once per
session in this process, and the gates run in-process (one worker), so they share it. The
gates speak five Mandarin sentences of the shipped set (a percentage, a year, a price, a
polyphone, a question: the fewest a verdict may rest on, as a core of five with
``round_size`` 5) through the real gate path; the good voice is gated first and its
baseline's scores go into a SQLite ledger, so the worse voice's gate reuses them. The
reference clip is joe's real (Piper) speech: a voice none of the bundles has.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ttsops.engines import Engine
from ttsops.errors import GateError
from ttsops.gate import EvalSet, GateReport, Outcome, run_gate
from ttsops.gate.corpus import eval_set_for, load_eval_set
from ttsops.gate.whisper import Whisper
from ttsops.registry import Ledger
from ttsops.settings import GateSettings

# Latin words inside Chinese (zh-latin-*) are left to the full 30-sentence gate: Kokoro says
# them through espeak, Whisper writes them as it likes ("PPT" → "BBD"), and one such sentence
# (CER 0.27 against 0.09) would decide a five-sentence paired interval on its own.
KINDS = ("zh-numbers-03", "zh-dates-02", "zh-money-01", "zh-polyphone-01", "zh-question-03")
SETTINGS = GateSettings(round_size=len(KINDS), timing_sentences=0)
# Real models gate real voices here: a few seconds a sentence on an idle machine, but the
# shared 2-core test machine can be ten times slower; this guards against a hang only.
pytestmark = pytest.mark.timeout(900)


def _five() -> EvalSet:
    zh = load_eval_set(languages=("zh",))
    return replace(zh, utterances=tuple(u for u in zh.utterances if u.id in KINDS), extra=())


@pytest.fixture(scope="session")
def whisper_model() -> Whisper:
    """The gate's Whisper, loaded once for the session (the in-process gates reuse it)."""
    from ttsops.gate.whisper import whisper

    started = time.perf_counter()
    model = whisper(threads=1)
    print(f"whisper load {time.perf_counter() - started:.2f} s")
    return model


@pytest.fixture(scope="module")
def voices(kokoro_bundle_factory: Callable[..., Path]) -> dict[str, Path]:
    """One Mandarin Kokoro bundle per voice."""
    return {v: kokoro_bundle_factory((v,)) for v in ("zm_yunxi", "zf_xiaobei", "zf_xiaoni")}


@pytest.fixture(scope="module")
def joe_clip(joe_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Joe's voice, about four seconds, as a wav file: the reference clip."""
    audio = joe_engine.synthesize(
        "Every morning I walk to the station and buy a newspaper.", "joe", 1.0, seed=3
    )
    path = tmp_path_factory.mktemp("refs") / "joe.wav"
    sf.write(path, audio.samples, audio.sample_rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """A SQLite ledger: the gates' score cache in this module."""
    return Ledger.open(f"sqlite:///{tmp_path_factory.mktemp('cache') / 'ledger.db'}")


@pytest.fixture(scope="module")
def good(
    voices: dict[str, Path], joe_clip: Path, ledger: Ledger, whisper_model: Whisper
) -> GateReport:
    """zm_yunxi gated against zf_xiaobei on five Mandarin sentences, with the reference clip."""
    settings = SETTINGS.model_copy(update={"references": [joe_clip]})
    started = time.perf_counter()
    report = run_gate(
        voices["zm_yunxi"],
        voices["zf_xiaobei"],
        settings=settings,
        eval_set=_five(),
        workers=1,
        cache=ledger,
    )
    print(f"mandarin gate {time.perf_counter() - started:.1f} s")
    return report


@pytest.fixture(scope="module")
def worse(
    voices: dict[str, Path], joe_clip: Path, ledger: Ledger, whisper_model: Whisper
) -> GateReport:
    """zf_xiaoni gated against zf_xiaobei (whose scores come from the cache)."""
    settings = SETTINGS.model_copy(update={"references": [joe_clip]})
    return run_gate(
        voices["zf_xiaoni"],
        voices["zf_xiaobei"],
        settings=settings,
        eval_set=_five(),
        workers=1,
        cache=ledger,
    )


def _checks(report: GateReport) -> dict[str, Outcome]:
    return {c.name: c.outcome for c in report.verdict.checks}


def _mean_cer(report: GateReport, role: str) -> float:
    return float(np.mean([r.metrics["cer"] for r in report.results(role)]))


def test_whisper_hears_a_kokoro_mandarin_sentence(
    whisper_model: Whisper, voices: dict[str, Path]
) -> None:
    """Whisper from the in-memory weights hears zm_yunxi's sentence nearly word for word."""
    from ttsops.bundle import load_manifest
    from ttsops.engines import EngineOptions, load_engine
    from ttsops.gate.cer import character_error_rate
    from ttsops.gate.scorers import resample

    bundle = voices["zm_yunxi"]
    engine = load_engine(bundle, load_manifest(bundle), EngineOptions(threads=1))
    audio = engine.synthesize("请问去火车站怎么走？", "zm_yunxi", 1.0, seed=0)
    heard = whisper_model.transcribe(resample(audio.samples, audio.sample_rate, 16000))
    assert character_error_rate("请问去火车站怎么走", heard) <= 0.2, heard


def test_a_good_mandarin_voice_passes_on_cer(good: GateReport) -> None:
    """zm_yunxi against zf_xiaobei: CER is low on both and its checks pass; no WER check."""
    checks = _checks(good)
    assert checks["cer_ceiling"] is Outcome.PASS, good.verdict.reasons
    assert checks["cer_rise"] is Outcome.PASS, good.verdict.reasons
    assert "wer_rise" not in checks and "wer_ceiling" not in checks
    # Other checks are not this test's business: rtf_ceiling depends on the machine's load,
    # and Kokoro ends every clip with about 1.1 s of silence (signal_sanity's limit is 1 s).
    assert good.eval_set["languages"] == ["zh"]
    assert _mean_cer(good, "candidate") < 0.15
    assert all(r.language == "zh" and r.transcript for r in good.results("candidate"))
    print(
        f"CER zm_yunxi {_mean_cer(good, 'candidate'):.3f} "
        f"zf_xiaobei {_mean_cer(good, 'baseline'):.3f}"
    )


def test_speaker_similarity_to_the_reference_is_judged_on_both_sides(good: GateReport) -> None:
    """With a reference clip both Kokoro voices speak with it; the paired drop is a check."""
    assert good.similarity["state"] == "on"
    assert good.similarity["references"] == ["joe.wav"]
    assert "similarity_drop" in _checks(good)
    for role in ("candidate", "baseline"):
        values = [r.metrics.get("similarity") for r in good.results(role)]
        assert all(v is not None and -1 <= v <= 1 for v in values)
        assert {r.reference_voice for r in good.results(role)} == {"joe.wav"}


def test_a_clearly_worse_voice_fails_naming_cer(worse: GateReport) -> None:
    """zf_xiaoni (CER about 0.4) fails against zf_xiaobei, and a reason names the CER."""
    assert worse.verdict.outcome is Outcome.FAIL
    assert _checks(worse)["cer_rise"] is Outcome.FAIL
    assert any("ASR CER" in reason for reason in worse.verdict.reasons)
    assert worse.provenance["baseline"]["source"] == "cache"
    assert _mean_cer(worse, "candidate") > _mean_cer(worse, "baseline") + 0.1
    print(f"CER zf_xiaoni {_mean_cer(worse, 'candidate'):.3f}")


def test_an_english_voice_is_refused_a_mandarin_gate(
    joe_bundle: Path, voices: dict[str, Path]
) -> None:
    """joe against a Mandarin baseline, or with the zh set forced: refused before any work."""
    with pytest.raises(GateError, match=r"baseline kokoro@1.0.0 speaks zh-CN.*sentences in en"):
        run_gate(
            joe_bundle,
            voices["zf_xiaobei"],
            settings=SETTINGS,
            eval_set=eval_set_for(("en-US",)),
        )
    with pytest.raises(GateError, match=r"candidate joe@1.0.0 speaks en-US.*sentences in zh"):
        run_gate(joe_bundle, joe_bundle, settings=SETTINGS, eval_set=_five())


def test_the_cli_refuses_with_exit_2_and_says_why(
    joe_bundle: Path, voices: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ttsops gate joe --baseline <zh> --language zh`: exit 2, the message names languages."""
    from typer.testing import CliRunner

    from ttsops.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TTSOPS_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        app,
        ["gate", str(joe_bundle), "--baseline", str(voices["zf_xiaobei"]), "--language", "zh"],
    )
    assert result.exit_code == 2, result.output
    assert "speaks en-US" in result.output and "sentences in zh" in result.output


def test_a_model_that_cannot_take_a_reference_skips_similarity_with_a_reason(
    joe_bundle: Path, joe_clip: Path
) -> None:
    """Piper cannot take a reference: similarity is skipped, and the report says why."""
    one = load_eval_set().limit(1)  # the skip is decided before the first sentence
    settings = GateSettings(
        round_size=1, min_utterances=1, references=[joe_clip], timing_sentences=0
    )
    report = run_gate(joe_bundle, joe_bundle, settings=settings, eval_set=one, workers=1)
    assert report.similarity["state"] == "skipped"
    assert "supports_prompt_audio is False" in report.similarity["reason"]
    assert any("speaker similarity skipped" in note for note in report.notes)
    assert "speaker similarity skipped" in report.to_markdown()
    assert not any(c.name.startswith("similarity") for c in report.verdict.checks)


def test_a_reference_that_is_not_audio_is_refused(joe_bundle: Path, tmp_path: Path) -> None:
    """A --reference that is not audio: a GateError naming the file, before any synthesis."""
    bad = tmp_path / "notes.wav"
    bad.write_bytes(b"not a wav at all" * 8)
    settings = GateSettings(references=[bad])
    with pytest.raises(GateError, match=r"reference clip .*notes.wav cannot be read as audio"):
        run_gate(joe_bundle, joe_bundle, settings=settings, eval_set=load_eval_set().limit(1))
