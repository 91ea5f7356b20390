"""Transcribing speech with pocketsphinx and its bundled US English model.

A decoder takes about a third of a second to load and holds state between utterances, so
each process (or thread) loads one once and reuses it; ``transcriber()`` hands it out.

Each utterance starts from the model's initial cepstral mean, so a transcript depends
only on its audio, never on the order sentences reach a process.

The search is bounded (at most 3000 active HMMs and 10 word exits per frame, no second
"flat" pass). Measured on the shipped set, that leaves the WER of the joe voice unchanged
(±0.01) for 40% less CPU, and cuts the time on noise-like audio from a broken voice,
where the unbounded search explodes, about fivefold.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ASR_RATE", "Transcriber", "transcriber"]

ASR_RATE = 16000
"""Sample rate the bundled acoustic model expects."""

_local = threading.local()


class Transcriber:
    """A pocketsphinx decoder (bundled en-US acoustic model, language model and dictionary)."""

    def __init__(self) -> None:
        """Load the bundled model; its log is silenced (an empty lattice is just no words)."""
        import pocketsphinx

        self._decoder: Any = pocketsphinx.Decoder(
            samprate=ASR_RATE, loglevel="FATAL", maxhmmpf=3000, maxwpf=10, fwdflat=False
        )
        self._cmn = self._decoder.get_cmn(False)

    def transcribe(self, samples: npt.NDArray[np.float32]) -> str:
        """Lowercase words heard in ``samples`` (mono float in [-1, 1] at 16 kHz); '' if none."""
        if not np.any(samples):
            return ""  # the decoder "hears" a word or two in digital silence
        pcm = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        # Live CMN carries the cepstral mean over from the previous utterance; starting
        # each from the model's initial mean makes a transcript depend only on its audio
        # (not on which sentences this process heard before), so seeded gates repeat.
        self._decoder.set_cmn(self._cmn)
        self._decoder.start_utt()
        self._decoder.process_raw(pcm, full_utt=True)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        if hyp is None:
            return ""
        # Fillers such as <sil> or [NOISE] are not words the speaker said.
        words = [w for w in str(hyp.hypstr).split() if not w.startswith(("<", "[", "++"))]
        return " ".join(words)


def transcriber() -> Transcriber:
    """This thread's transcriber, loaded on first use."""
    found: Transcriber | None = getattr(_local, "transcriber", None)
    if found is None:
        found = Transcriber()
        _local.transcriber = found
    return found
