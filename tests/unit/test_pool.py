"""The inference pool: admission, cancellation, limits (driven by a scripted engine)."""

from __future__ import annotations

import asyncio
import time

import pytest

from ttsops.errors import OverloadedError, RequestTimeoutError
from ttsops.server.pool import InferencePool, PoolState
from ttsops.testing import ScriptedEngine

TEXT = "One sentence here. Another sentence there. A third one. And a fourth."


def _pool(engine: ScriptedEngine, **kw: float) -> InferencePool:
    pool = InferencePool(
        workers=int(kw.get("workers", 1)),
        queue_size=int(kw.get("queue_size", 0)),
        request_timeout_s=kw.get("timeout", 30.0),
        max_audio_s=kw.get("max_audio", 600.0),
    )
    pool.set_ready(engine)  # type: ignore[arg-type]
    return pool


def test_not_ready_refuses_with_503() -> None:
    """A pool still loading refuses work with an overloaded error naming the reason."""
    pool = InferencePool(1, 0, 10, 100)
    with pytest.raises(OverloadedError, match="loading"):
        pool.admit("hi", "tone", 1.0)


def test_capacity_is_workers_plus_queue() -> None:
    """Beyond workers + queue places, admission fails at once with Retry-After."""
    pool = _pool(ScriptedEngine(), workers=1, queue_size=1)
    pool.admit("a", "tone", 1.0)
    pool.admit("b", "tone", 1.0)
    with pytest.raises(OverloadedError) as info:
        pool.admit("c", "tone", 1.0)
    assert info.value.retry_after >= 1


def test_all_pieces_arrive_in_order_and_place_is_freed() -> None:
    """Every piece is yielded in order, and the place is released afterwards."""
    engine = ScriptedEngine()
    pool = _pool(engine)

    async def run() -> list[str]:
        job = pool.admit(TEXT, "tone", 1.0)
        return [c.text async for c in pool.run(job)]

    texts = asyncio.run(run())
    assert texts[0] == "One sentence here." and texts[-1] == "And a fourth."
    assert pool.wait_idle(2)
    pool.admit("again", "tone", 1.0)


def test_closing_the_stream_stops_work_after_the_current_piece() -> None:
    """A consumer that leaves after one piece leaves the worker idle soon after."""
    engine = ScriptedEngine(piece_s=0.2)
    pool = _pool(engine)

    async def run() -> None:
        job = pool.admit(TEXT * 5, "tone", 1.0)
        stream = pool.run(job)
        await anext(stream)
        await stream.aclose()

    asyncio.run(run())
    assert pool.wait_idle(2)
    assert engine.pieces_done < 4


def test_timeout_raises_and_frees_the_place() -> None:
    """A request over its timeout raises RequestTimeoutError and its work stops."""
    pool = _pool(ScriptedEngine(piece_s=0.3), timeout=0.2)

    async def run() -> None:
        job = pool.admit(TEXT, "tone", 1.0)
        async for _ in pool.run(job):
            pass

    with pytest.raises(RequestTimeoutError, match="request timeout"):
        asyncio.run(run())
    assert pool.wait_idle(2)


def test_runaway_piece_is_cut_to_its_bound() -> None:
    """A piece far too long for its text is cut: 12 characters give seconds, not minutes."""
    pool = _pool(ScriptedEngine(seconds_per_char=10.0))

    async def run() -> float:
        job = pool.admit("Twelve chars", "tone", 1.0)
        return sum([c.duration_s async for c in pool.run(job)])

    assert asyncio.run(run()) <= 12 * 0.3 + 2.0 + 0.01


def test_request_audio_is_capped() -> None:
    """Audio past max_audio_s ends the request early."""
    pool = _pool(ScriptedEngine(), max_audio=1.0)

    async def run() -> float:
        job = pool.admit(TEXT * 3, "tone", 1.0)
        return sum([c.duration_s async for c in pool.run(job)])

    assert asyncio.run(run()) == pytest.approx(1.0, abs=0.01)


def test_drain_refuses_new_work_but_waits_for_old() -> None:
    """After begin_drain new work is refused; work in flight still completes."""
    pool = _pool(ScriptedEngine(piece_s=0.05))

    async def run() -> int:
        job = pool.admit(TEXT, "tone", 1.0)
        pool.begin_drain()
        with pytest.raises(OverloadedError, match="draining"):
            pool.admit("x", "tone", 1.0)
        return len([c async for c in pool.run(job)])

    assert asyncio.run(run()) == 4
    assert pool.state is PoolState.DRAINING
    started = time.monotonic()
    assert pool.wait_idle(2)
    assert time.monotonic() - started < 2


def test_a_client_that_asks_again_as_soon_as_it_is_answered_is_never_refused() -> None:
    """One worker, no queue: each request sent right after the last one ended is admitted."""
    pool = _pool(ScriptedEngine())

    async def one_after_another() -> int:
        for _ in range(300):
            job = pool.admit("Again.", "tone", 1.0)
            _ = [c async for c in pool.run(job)]
        return 300

    assert asyncio.run(one_after_another()) == 300


def test_job_seed_reaches_the_engine() -> None:
    """A job's seed is what the engine is asked to synthesize with; no seed passes None."""
    engine = ScriptedEngine()
    pool = _pool(engine)

    async def run(seed: int | None) -> None:
        job = pool.admit("Seeded.", "tone", 1.0, seed=seed)
        assert job.seed == seed
        _ = [c async for c in pool.run(job)]

    asyncio.run(run(42))
    asyncio.run(run(None))
    assert engine.seeds == [42, None]
