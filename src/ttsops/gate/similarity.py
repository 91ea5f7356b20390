"""Speaker similarity in the gate: the reference clips, and which sides can be judged.

With reference clips (``[gate] references``, ``--reference``), every sentence is spoken once
more with one of them by each model whose engine can take a reference
(``supports_prompt_audio``); its ``similarity`` is the cosine of that audio's speaker
embedding (``ttsops.speaker``) to the clip's. The candidate's is judged as a paired drop
from the baseline's, or only by ``min_similarity`` when the baseline cannot take a clip;
a candidate that cannot has the check skipped, with the reason in the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ttsops.errors import GateError
from ttsops.gate.worker import ReferenceClip

if TYPE_CHECKING:
    from ttsops.bundle import Manifest
    from ttsops.gate.cache import Cached
    from ttsops.gate.policy import SimilarityScope

__all__ = ["read_references", "similarity_scope"]


def read_references(paths: list[Path]) -> tuple[ReferenceClip, ...]:
    """Read reference voice clips (mono-mixed); ``GateError`` for a file that is not audio."""
    import numpy as np
    import soundfile

    clips = []
    for path in paths:
        try:
            samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        except (soundfile.LibsndfileError, OSError) as exc:
            raise GateError(
                f"reference clip {path} cannot be read as audio ({exc}); pass a WAV or FLAC "
                "file with --reference (or fix [gate] references)"
            ) from None
        mono = np.asarray(samples.mean(axis=1), dtype=np.float32)
        if mono.size < rate or not np.any(mono):
            raise GateError(
                f"reference clip {path} is {mono.size / rate:.2f} s of audio"
                + ("" if np.any(mono) else ", all silent")
                + "; a reference needs at least 1 s of speech (a few seconds is best)"
            )
        clips.append(ReferenceClip(path.name, mono, int(rate), str(path.resolve())))
    return tuple(clips)


def similarity_scope(
    references: tuple[ReferenceClip, ...],
    prompts: dict[str, bool],
    cached: dict[str, Cached],
    candidate: Manifest,
    baseline: Manifest,
    notes: list[str],
) -> tuple[SimilarityScope, dict[str, Any]]:
    """Which sides get a speaker similarity, and the report's record of it."""
    if not references:
        return "off", {"state": "off", "reason": "no reference clips ([gate] references)"}
    names = [clip.name for clip in references]
    if not prompts.get("candidate", False):
        reason = (
            f"speaker similarity skipped: the candidate's engine ({candidate.engine}) cannot "
            "take a reference clip (supports_prompt_audio is False)"
            if candidate.engine != "service"
            else "speaker similarity skipped: the candidate is a service whose [speech] "
            "adapter takes no reference clip (set reference_audio, reference_field or "
            "can_reference for one that does)"
        )
        notes.append(reason)
        return "off", {"state": "skipped", "reason": reason, "references": names}
    if "baseline" in prompts:
        both = prompts["baseline"]
    else:  # scores from the cache: the key holds the references, so they say it
        both = any("similarity" in c.result.metrics for c in cached.values())
    if not both:
        what = "service" if baseline.engine == "service" else f"engine ({baseline.engine})"
        reason = (
            f"the baseline's {what} cannot take a reference clip: the "
            "candidate's speaker similarity has no baseline to be compared with (only "
            "[gate] min_similarity judges it)"
        )
        notes.append(reason)
        return "candidate", {"state": "candidate only", "reason": reason, "references": names}
    return "both", {"state": "on", "references": names}
