"""A reference clip travels from admission to the engine; an engine that cannot use one says so.

The engine is the scripted fake at the Engine seam (``ttsops.testing.ScriptedEngine``): what
is checked is the pool's plumbing, which needs no real model.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from ttsops.engines import Reference
from ttsops.errors import ReferenceNotSupportedError
from ttsops.server.pool import InferencePool
from ttsops.testing import ScriptedEngine

CLIP = Reference(np.zeros(24000, dtype=np.float32), 24000, text="Hi.", name="ref-0123456789ab")


def _speak(engine: ScriptedEngine, reference: Reference | None) -> int:
    pool = InferencePool(workers=1, queue_size=0, request_timeout_s=30, max_audio_s=600)
    pool.set_ready(engine)  # type: ignore[arg-type]
    job = pool.admit("One sentence. And another.", "tone", 1.0, reference=reference)

    async def run() -> int:
        return len([chunk async for chunk in pool.run(job)])

    try:
        return asyncio.run(run())
    finally:
        pool.shutdown()


def test_the_engine_gets_the_admitted_reference() -> None:
    """The Reference given at admission is the one the engine's stream receives."""
    engine = ScriptedEngine(piece_s=0, prompt_audio=True)
    assert _speak(engine, CLIP) == 2
    assert _speak(engine, None) == 2
    assert engine.references == [CLIP, None]


def test_an_engine_that_cannot_use_a_reference_refuses_with_400() -> None:
    """An engine without supports_prompt_audio ends the request with a 400 error, not a 500."""
    with pytest.raises(ReferenceNotSupportedError) as caught:
        _speak(ScriptedEngine(piece_s=0), CLIP)
    assert caught.value.http_status == 400
