"""The engine seam: what every TTS engine offers the rest of ttsops."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ttsops.bundle.manifest import Manifest

__all__ = [
    "AudioChunk",
    "Engine",
    "EngineFactory",
    "EngineOptions",
    "FloatArray",
    "Reference",
    "join_chunks",
]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AudioChunk:
    """Audio for one piece of text, as float32 mono PCM in [-1, 1]."""

    samples: FloatArray
    """Mono samples, float32 in [-1, 1]."""

    sample_rate: int
    """Samples per second."""

    text: str = ""
    """The text this chunk speaks (one sentence, or a piece of a long one)."""

    @property
    def duration_s(self) -> float:
        """Length of the chunk in seconds."""
        return len(self.samples) / self.sample_rate


def join_chunks(chunks: Iterable[AudioChunk], sample_rate: int, text: str) -> AudioChunk:
    """One chunk holding all of ``chunks``' audio in order (what ``synthesize`` returns)."""
    parts = [chunk.samples for chunk in chunks]
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return AudioChunk(samples=samples, sample_rate=sample_rate, text=text)


@dataclass(frozen=True)
class Reference:
    """A reference clip the voice should sound like (matched or cloned, as the engine can)."""

    samples: FloatArray
    """Mono samples, float32 in [-1, 1]."""

    sample_rate: int
    """Samples per second of ``samples``."""

    text: str | None = None
    """What the clip says, if known (engines that clone may use the transcript)."""

    name: str = ""
    """A label for logs and headers, e.g. the registered voice's id."""

    @property
    def duration_s(self) -> float:
        """Length of the clip in seconds."""
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class EngineOptions:
    """How an engine should run on this host."""

    threads: int = 1
    """Intra-op threads per synthesis (onnxruntime ``intra_op_num_threads``)."""

    solo_threads: int = 0
    """Intra-op threads for a synthesis that runs alone in this engine (idle cores help it);
    0 or ``threads`` keeps one session of ``threads``. Off by default: only a caller whose
    engine sees all the host's syntheses (the server's pool) should turn it on — separate
    processes each alone in their engine would oversubscribe the cores."""

    memory_arena: bool = False
    """Keep onnxruntime's CPU memory arena; off keeps RSS flat under bursts."""

    overrides: dict[str, float] = field(default_factory=dict)
    """Inference settings that override the bundle's (e.g. ``noise_scale``)."""


@runtime_checkable
class Engine(Protocol):
    """One loaded model that turns text into audio; pure compute, thread-safe."""

    sample_rate: int
    """Native sample rate of the audio it returns."""

    voices: tuple[str, ...]
    """Voice names it accepts; the first is the default."""

    supports_prompt_audio: bool
    """Whether it can use a reference clip (``reference=``): by cloning, or by matching the
    clip to its own voices; one that cannot raises ``ReferenceNotSupportedError``."""

    def stream(
        self,
        text: str,
        voice: str,
        speed: float,
        *,
        seed: int | None = None,
        reference: Reference | None = None,
    ) -> Iterator[AudioChunk]:
        """Yield audio piece by piece (a sentence, or part of a long one), in order.

        With a ``seed`` the same (model, text, voice, speed, seed) gives bit-identical
        audio; with None the noise is fresh on every call. With a ``reference`` the audio
        should sound like that clip; ``voice`` is then the base the engine starts from.
        """
        ...

    def synthesize(
        self,
        text: str,
        voice: str,
        speed: float,
        *,
        seed: int | None = None,
        reference: Reference | None = None,
    ) -> AudioChunk:
        """Return all the audio for ``text`` at once (``seed``, ``reference`` as for ``stream``)."""
        ...


class EngineFactory(Protocol):
    """What an entry point in group ``ttsops.engines`` resolves to."""

    def __call__(self, bundle_dir: Path, manifest: Manifest, options: EngineOptions) -> Engine:
        """Load the bundle's model files."""
        ...
