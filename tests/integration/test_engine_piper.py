"""The Piper engine with the real joe voice: seeded noise, and a wide session for a lone request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from gate_fixtures import derived  # noqa: F401 - fixture

from ttsops.bundle import Manifest, verify_bundle
from ttsops.engines import Engine, EngineOptions, load_engine
from ttsops.engines.piper import PiperEngine

TEXT = "The quick brown fox jumps over the lazy dog. It was a bright cold day in April."


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples))))


@pytest.fixture(scope="module")
def solo_engine(joe_bundle: Path, joe_manifest: Manifest) -> PiperEngine:
    """joe with a narrow 1-thread session and a wide 2-thread one."""
    engine = load_engine(joe_bundle, joe_manifest, EngineOptions(threads=1, solo_threads=2))
    assert isinstance(engine, PiperEngine)
    return engine


def test_same_seed_gives_identical_audio(joe_engine: Engine) -> None:
    """Synthesizing the same text with the same seed twice gives the same samples, bit for bit."""
    first = joe_engine.synthesize(TEXT, "joe", 1.0, seed=7)
    second = joe_engine.synthesize(TEXT, "joe", 1.0, seed=7)
    assert np.array_equal(first.samples, second.samples)


def test_same_seed_streams_identical_pieces(joe_engine: Engine) -> None:
    """Streaming with a seed repeats every piece exactly, and matches ``synthesize``."""
    runs = [list(joe_engine.stream(TEXT, "joe", 1.0, seed=123)) for _ in range(2)]
    assert [c.text for c in runs[0]] == [c.text for c in runs[1]]
    assert len(runs[0]) == 2
    for a, b in zip(*runs, strict=True):
        assert np.array_equal(a.samples, b.samples)
    whole = joe_engine.synthesize(TEXT, "joe", 1.0, seed=123)
    assert np.array_equal(whole.samples, np.concatenate([c.samples for c in runs[0]]))


def test_different_seeds_and_no_seed_differ(joe_engine: Engine) -> None:
    """Two seeds give different audio, and without a seed every call is fresh."""
    seven = joe_engine.synthesize(TEXT, "joe", 1.0, seed=7).samples
    eight = joe_engine.synthesize(TEXT, "joe", 1.0, seed=8).samples
    free = [joe_engine.synthesize(TEXT, "joe", 1.0, seed=None).samples for _ in range(2)]
    assert not np.array_equal(seven, eight)
    assert not np.array_equal(free[0], free[1])


def test_sentences_of_one_request_get_their_own_noise(joe_engine: Engine) -> None:
    """The same sentence twice in one seeded request is not spoken with the same noise."""
    chunks = list(joe_engine.stream("Hello there. Hello there.", "joe", 1.0, seed=5))
    assert len(chunks) == 2
    assert not np.array_equal(chunks[0].samples, chunks[1].samples)


def test_seeded_audio_is_speech_like(joe_engine: Engine) -> None:
    """Seeded audio is finite, not silent, and as long as unseeded audio of the text."""
    free = [len(joe_engine.synthesize(TEXT, "joe", 1.0).samples) for _ in range(3)]
    for seed in (0, 1, 2**40):
        audio = joe_engine.synthesize(TEXT, "joe", 1.0, seed=seed)
        assert np.isfinite(audio.samples).all()
        assert _rms(audio.samples) > 0.02
        assert 0.85 * min(free) <= len(audio.samples) <= 1.15 * max(free)


def test_an_int8_derived_bundle_also_seeds(derived: Callable[[str], Path]) -> None:  # noqa: F811
    """A bundle quantized to int8 by ``ttsops bundle derive`` loads, seeds and speaks."""
    bundle = derived("int8")
    engine = load_engine(bundle, verify_bundle(bundle), EngineOptions(threads=1))
    assert isinstance(engine, PiperEngine) and engine.seedable
    first = engine.synthesize(TEXT, "joe", 1.0, seed=3).samples
    assert np.array_equal(first, engine.synthesize(TEXT, "joe", 1.0, seed=3).samples)
    assert not np.array_equal(first, engine.synthesize(TEXT, "joe", 1.0, seed=4).samples)
    assert _rms(first) > 0.02


def test_a_lone_stream_runs_wide_and_concurrent_ones_narrow(solo_engine: PiperEngine) -> None:
    """Alone, a piece goes to the wide session; while another stream is open, to the narrow."""
    before = solo_engine.pieces_by_session
    solo_engine.synthesize("Alone in the engine.", "joe", 1.0)
    after_lone = solo_engine.pieces_by_session
    assert after_lone["wide"] == before["wide"] + 1
    assert after_lone["narrow"] == before["narrow"]

    held = solo_engine.stream(TEXT, "joe", 1.0)
    first = next(held)  # this stream stays open: the engine is no longer alone
    other = solo_engine.synthesize(TEXT, "joe", 1.0)
    rest = list(held)
    after = solo_engine.pieces_by_session
    assert after["narrow"] == after_lone["narrow"] + 2  # both pieces of `other`
    assert after["wide"] == after_lone["wide"] + 2  # both pieces of `held`, alone each time
    for samples in (first.samples, other.samples, *(c.samples for c in rest)):
        assert np.isfinite(samples).all() and _rms(samples) > 0.02


def test_threads_running_at_once_share_the_narrow_session(solo_engine: PiperEngine) -> None:
    """Streams in several threads at once run narrow while open together; all audio is valid."""
    started = threading.Barrier(3)
    results: list[np.ndarray] = []

    def work() -> None:
        stream = solo_engine.stream(TEXT, "joe", 1.0, seed=11)
        first = next(stream)  # alone or not, depending on the others' progress
        started.wait()  # now all three streams are open: every second piece runs narrow
        results.append(np.concatenate([first.samples, *(c.samples for c in stream)]))

    threads = [threading.Thread(target=work) for _ in range(3)]
    before = solo_engine.pieces_by_session
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = solo_engine.pieces_by_session
    assert after["narrow"] >= before["narrow"] + 3
    assert sum(after.values()) - sum(before.values()) == 6
    assert all(np.array_equal(r, results[0]) for r in results)


def test_wide_and_narrow_sessions_give_the_same_seeded_audio(
    solo_engine: PiperEngine, joe_engine: Engine
) -> None:
    """A seed gives the same samples whether the piece ran alone (wide) or under load (narrow)."""
    wide = solo_engine.synthesize(TEXT, "joe", 1.0, seed=99).samples
    narrow = joe_engine.synthesize(TEXT, "joe", 1.0, seed=99).samples
    assert np.array_equal(wide, narrow)


def test_solo_threads_equal_to_threads_keeps_one_session(
    joe_bundle: Path, joe_manifest: Manifest
) -> None:
    """``solo_threads`` equal to ``threads`` loads no wide session; every piece runs narrow."""
    engine = load_engine(joe_bundle, joe_manifest, EngineOptions(threads=2, solo_threads=2))
    assert isinstance(engine, PiperEngine)
    engine.synthesize("Only one session.", "joe", 1.0)
    assert engine.pieces_by_session == {"narrow": 1}
