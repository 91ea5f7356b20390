"""The gate in several languages: sets picked by the manifest, CER and similarity checks."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from ttsops.errors import GateError
from ttsops.gate.corpus import (
    ZH_SET_VERSION,
    eval_set_for,
    load_eval_set,
    set_languages,
)
from ttsops.gate.policy import judge, sanity_problems
from ttsops.gate.results import Role, UtteranceResult
from ttsops.gate.run import round_order
from ttsops.settings import GateSettings
from ttsops.verdict import Check, Outcome

# Changing data/eval_zh.jsonl changes this digest: bump ZH_SET_VERSION with it.
ZH_SHIPPED = {"1": "ed9244415caf"}
RATE = 24000


def test_the_mandarin_set_is_thirty_sentences_of_every_kind() -> None:
    """30 Mandarin sentences: numbers, dates, money, polyphones, Latin words, questions, long."""
    zh = load_eval_set(languages=("zh",))
    assert len(zh.utterances) == 30
    assert {u.language for u in zh.utterances} == {"zh"}
    assert {"numbers", "dates", "money", "polyphone", "latin", "question", "long"} <= {
        u.tag for u in zh.utterances
    }
    polyphones = "".join(u.text for u in zh.utterances if u.tag == "polyphone")
    assert all(ch in polyphones for ch in "重行长")
    # references are in characters: what a listener hears, no digits
    assert all(not any(ch.isdigit() for ch in u.reference) for u in zh.utterances)
    assert any(any(ch.isdigit() for ch in u.text) for u in zh.utterances)


def test_the_mandarin_set_version_pins_its_content() -> None:
    """An edit of eval_zh.jsonl without a version bump fails here (and the cache key moves)."""
    zh = load_eval_set(languages=("zh",))
    data = files("ttsops.gate").joinpath("data", "eval_zh.jsonl").read_bytes()
    assert zh.version == ZH_SET_VERSION
    assert zh.digest == hashlib.sha256(data).hexdigest()
    assert zh.digest.startswith(ZH_SHIPPED[zh.version])


@pytest.mark.parametrize(
    ("languages", "expected"),
    [
        (("en-US",), ("en",)),
        (("zh-CN",), ("zh",)),
        (("cmn",), ("zh",)),
        (("zh_CN", "en-GB", "ja-JP"), ("en", "zh")),
    ],
)
def test_sets_follow_the_manifest_languages(
    languages: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    """A bundle's manifest languages pick the shipped sets; ones without a set are left out."""
    assert set_languages(languages) == expected
    assert eval_set_for(languages).languages == expected


def test_a_bundle_that_speaks_both_gets_both_sets() -> None:
    """English and Mandarin: both cores, the English reserve, a new digest, turns per round."""
    both = eval_set_for(("en-US", "zh-CN"))
    en, zh = load_eval_set(), load_eval_set(languages=("zh",))
    assert len(both.utterances) == 60
    assert both.extra == en.extra
    assert both.digest not in {en.digest, zh.digest}
    assert both.label.startswith("ttsops-en+ttsops-zh v2+1")
    first_round = round_order(both)[:10]
    assert [u.language for u in first_round] == ["en", "zh"] * 5
    assert {u.language for u in both.limit(3).utterances} == {"en", "zh"}
    assert len(both.limit(3).utterances) == 6


def test_a_language_without_a_set_is_refused_clearly() -> None:
    """A Japanese-only bundle, or --language xx: a GateError naming what the gate knows."""
    with pytest.raises(GateError, match=r"speaks ja-JP.*only for en, zh.*--eval-set"):
        set_languages(("ja-JP",))
    with pytest.raises(GateError, match=r"no evaluation set or ASR for language 'fr'"):
        eval_set_for(("en-US",), languages=("fr",))


def test_a_team_set_takes_the_candidate_language_unless_a_line_says(tmp_path: Path) -> None:
    """Lines of one's own JSONL are in the candidate's first language unless they name one."""
    path = tmp_path / "mine.jsonl"
    lines = [{"text": "你好。"}, {"text": "Hello there.", "language": "en-US"}]
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    mine = eval_set_for(("zh-CN",), path)
    assert [u.language for u in mine.utterances] == ["zh", "en"]
    path.write_text(json.dumps({"text": "Bonjour.", "language": "fr"}), encoding="utf-8")
    with pytest.raises(GateError, match=r"line 1: language 'fr' has no ASR"):
        eval_set_for(("zh-CN",), path)


def _results(
    role: Role, cer: float, n: int = 12, seed: int = 0, similarity: float | None = None
) -> list[UtteranceResult]:
    """n plausible Mandarin utterances of one model with a mean CER near ``cer``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        metrics: dict[str, float | None] = {
            "ovrl": 3.2,
            "sig": 3.5,
            "bak": 4.1,
            "p808": 4.0 + 0.05 * np.cos(i),
            "cer": max(0.0, cer + 0.03 * np.sin(3 * i) + rng.normal(0, 0.01)),
            "rtf": 0.4 + 0.01 * np.cos(i),
            "latency_s": 0.3,
            "duration_s": 3.0 + i * 0.1,
            "sec_per_char": 0.22,
            "leading_silence_s": 0.05,
            "trailing_silence_s": 0.15,
            "longest_pause_s": 0.3,
            "clipping": 0.0,
            "lufs": -20.0,
        }
        if similarity is not None:
            metrics["similarity"] = similarity + 0.02 * np.sin(i)
        out.append(
            UtteranceResult(
                role, f"zh-{i:02d}", "你好", "你好", metrics, "你好", RATE, 0, 2.5, language="zh"
            )
        )
    return out


def _check(checks: tuple[Check, ...], name: str) -> Check:
    return next(c for c in checks if c.name == name)


def test_mandarin_results_are_judged_on_cer_not_wer() -> None:
    """Mandarin sentences get cer_ceiling and cer_rise; no WER check asks for English."""
    verdict = judge(
        _results("candidate", 0.04), _results("baseline", 0.05, seed=1), GateSettings(), RATE
    )
    names = [c.name for c in verdict.checks]
    assert "cer_ceiling" in names and "cer_rise" in names
    assert "wer_ceiling" not in names and "wer_rise" not in names
    assert verdict.outcome is Outcome.PASS, verdict.reasons


def test_a_clearly_worse_cer_fails_naming_cer() -> None:
    """A voice at CER 0.41 against one at 0.04 fails; the reason names the CER."""
    verdict = judge(
        _results("candidate", 0.41), _results("baseline", 0.04, seed=1), GateSettings(), RATE
    )
    assert verdict.outcome is Outcome.FAIL
    failed = {c.name: c.reason for c in verdict.checks if c.outcome is Outcome.FAIL}
    assert set(failed) == {"cer_ceiling", "cer_rise"}
    assert "ASR CER" in failed["cer_rise"]


def test_mandarin_pace_has_its_own_range() -> None:
    """A character is a syllable: 0.22 s/char is a normal Mandarin pace, not a slow one."""
    zh = _results("candidate", 0.04)[0]
    assert sanity_problems(zh, GateSettings(), RATE) == []
    as_english = replace(zh, language="en")
    assert any("pace" in p for p in sanity_problems(as_english, GateSettings(), RATE))


def test_speaker_similarity_is_a_paired_regression_check() -> None:
    """With references on both sides a similarity drop beyond the tolerance fails."""
    base = _results("baseline", 0.04, seed=1, similarity=0.70)
    same = judge(
        _results("candidate", 0.04, similarity=0.70), base, GateSettings(), RATE, similarity="both"
    )
    worse = judge(
        _results("candidate", 0.04, similarity=0.45), base, GateSettings(), RATE, similarity="both"
    )
    assert _check(same.checks, "similarity_drop").outcome is Outcome.PASS
    drop = _check(worse.checks, "similarity_drop")
    assert drop.outcome is Outcome.FAIL
    assert "speaker similarity dropped" in drop.reason
    off = judge(_results("candidate", 0.04), base, GateSettings(), RATE)
    assert not any(c.name.startswith("similarity") for c in off.checks)


def test_candidate_only_similarity_is_judged_by_its_floor() -> None:
    """A baseline that cannot take references leaves only min_similarity, when set."""
    cand = _results("candidate", 0.04, similarity=0.4)
    base = _results("baseline", 0.04, seed=1)
    settings = GateSettings(min_similarity=0.6)
    verdict = judge(cand, base, settings, RATE, similarity="candidate")
    names = {c.name: c.outcome for c in verdict.checks}
    assert names["similarity_floor"] is Outcome.FAIL
    assert "similarity_drop" not in names


def test_the_score_cache_key_moves_with_the_sentences_and_the_references() -> None:
    """Another set's sentences, or another reference clip, never read stale cached scores."""
    from ttsops.gate.cache import cache_key
    from ttsops.gate.worker import ReferenceClip

    settings = GateSettings()
    en, zh = load_eval_set(), load_eval_set(languages=("zh",))
    both = eval_set_for(("en-US", "zh-CN"))
    assert len({cache_key(s, settings).eval_set_digest for s in (en, zh, both)}) == 3
    clip = ReferenceClip("a.wav", np.zeros(24000, dtype=np.float32) + 0.1, 24000)
    other = ReferenceClip("a.wav", np.zeros(24000, dtype=np.float32) + 0.2, 24000)
    keys = {cache_key(zh, settings, refs).scorer for refs in ((), (clip,), (other,))}
    assert len(keys) == 3


def test_each_language_is_spoken_by_a_voice_of_that_language() -> None:
    """A bilingual Kokoro bundle speaks Mandarin sentences with its first Mandarin voice."""
    from ttsops.bundle import Manifest
    from ttsops.gate.worker import voice_for

    entry = {"model.onnx": {"sha256": "0" * 64, "size": 1}}
    both = Manifest.model_validate(
        {
            "name": "kokoro",
            "version": "1.0.0",
            "engine": "kokoro",
            "sample_rate": RATE,
            "languages": ["en-US", "zh-CN"],
            "voices": ["af_heart", "zf_xiaobei", "zm_yunxi"],
            "files": entry,
        }
    )
    assert voice_for(both, "en") == "af_heart"
    assert voice_for(both, "zh") == "zf_xiaobei"
    one = both.model_copy(update={"languages": ("zh-CN",), "voices": ("zm_yunxi",)})
    assert voice_for(one, "zh") == "zm_yunxi"


def test_a_mandarin_report_shows_cer_and_the_worst_heard_sentences() -> None:
    """report.md of a Mandarin gate: a CER row, no empty WER row, worst sentences by CER."""
    from ttsops.gate.report import GateReport, ModelInfo
    from ttsops.gate.results import summarize

    cand, base = _results("candidate", 0.3), _results("baseline", 0.04, seed=1)
    report = GateReport(
        judge(cand, base, GateSettings(), RATE),
        ModelInfo("candidate", "c", "c"),
        ModelInfo("baseline", "b", "b"),
        eval_set={"label": "ttsops-zh v1 (12 sentences)"},
        settings={},
        summaries=summarize(cand, base, resamples=200),
        utterances=cand + base,
    )
    markdown = report.to_markdown()
    assert "| ASR CER (zh) |" in markdown
    assert "| ASR WER |" not in markdown
    assert "| CER 0." in markdown
