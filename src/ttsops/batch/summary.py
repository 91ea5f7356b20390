"""What a batch did: counts, audio, time, versions, and the exit code they add up to."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EXIT_FAILED", "BatchSummary"]

EXIT_FAILED = 3
"""Exit code when the batch ran but some tasks or lines made no audio."""


@dataclass
class BatchSummary:
    """What a batch did; updated live while it runs."""

    tasks_file: Path
    """The JSONL it read."""

    output: Path
    """The output directory or zip."""

    results_path: Path
    """Its ``results.jsonl``."""

    failed_path: Path
    """Its ``failed.jsonl``."""

    where: str = ""
    """Server URL or bundle directory that made the audio."""

    concurrency: int = 0
    """Tasks in flight at once."""

    total: int = 0
    """Non-blank lines in the tasks file."""

    done: int = 0
    """Files made by this run."""

    skipped: int = 0
    """Tasks already done by an earlier run (file present with its recorded sha256)."""

    failed: int = 0
    """Tasks that made no audio in this run (see ``failed.jsonl``)."""

    bad_lines: int = 0
    """Lines that are not valid tasks (see ``failed.jsonl``)."""

    retried: int = 0
    """Extra attempts spent on retryable failures."""

    audio_s: float = 0.0
    """Seconds of audio made by this run."""

    wall_s: float = 0.0
    """Seconds this run took."""

    model_versions: Counter[str] = field(default_factory=Counter)
    """Files made by this run per model version."""

    stopped: str | None = None
    """Why the batch stopped before the end of the file, if it did."""

    @property
    def processed(self) -> int:
        """Lines dealt with so far, whatever the outcome."""
        return self.done + self.skipped + self.failed + self.bad_lines

    @property
    def exit_code(self) -> int:
        """0 all done, 1 stopped early, 3 some tasks or lines made no audio."""
        if self.stopped:
            return 1
        return EXIT_FAILED if self.failed or self.bad_lines else 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        wall = max(self.wall_s, 1e-9)
        return {
            "tasks_file": str(self.tasks_file),
            "output": str(self.output),
            "results": str(self.results_path),
            "failed_file": str(self.failed_path),
            "source": self.where,
            "concurrency": self.concurrency,
            "total": self.total,
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "bad_lines": self.bad_lines,
            "retried": self.retried,
            "audio_s": round(self.audio_s, 3),
            "wall_s": round(self.wall_s, 3),
            "tasks_per_s": round(self.done / wall, 3),
            "realtime_factor": round(self.audio_s / wall, 3),
            "model_versions": dict(self.model_versions),
            "stopped": self.stopped,
            "exit_code": self.exit_code,
        }
