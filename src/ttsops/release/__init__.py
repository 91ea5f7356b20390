"""``ttsops release``: register → gate against the live version → deploy → wait.

``resolve_source`` says which version SOURCE is, ``choose_target``/``resolve_target`` where
it goes, ``run_release`` carries it out and records it as one ``release`` event, and
``render_summary`` writes the Markdown a CI step summary shows.
"""

from __future__ import annotations

from ttsops.release.progress import Update, UpdateFn
from ttsops.release.result import EXIT_CODES, DeployStep, GateStep, Outcome, ReleaseResult
from ttsops.release.run import FIRST_RELEASE_NOTE, SKIP_GATE_NOTE, ReleaseOptions, run_release
from ttsops.release.source import ReleaseSource, resolve_source
from ttsops.release.summary import render_summary, write_summary
from ttsops.release.targets import PRODUCTION, STAGING, Target, choose_target, resolve_target

__all__ = [
    "EXIT_CODES",
    "FIRST_RELEASE_NOTE",
    "PRODUCTION",
    "SKIP_GATE_NOTE",
    "STAGING",
    "DeployStep",
    "GateStep",
    "Outcome",
    "ReleaseOptions",
    "ReleaseResult",
    "ReleaseSource",
    "Target",
    "Update",
    "UpdateFn",
    "choose_target",
    "render_summary",
    "resolve_source",
    "resolve_target",
    "run_release",
    "write_summary",
]
