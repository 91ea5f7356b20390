"""The canary analysis as a service (``ttsops analysis serve``), for Argo Rollouts.

``judge`` compares two running TTS services the way the agent compares its slots
(``ttsops.rollout.analysis``); ``create_analysis_app`` puts it behind ``POST /v1/analysis``.
"""

from __future__ import annotations

from ttsops.analysis_service.app import AnalysisAnswer, AnalysisRequest, create_analysis_app
from ttsops.analysis_service.judge import (
    DnsmosScorer,
    Judgement,
    Scorer,
    SlotReport,
    judge,
    probe_count,
)

__all__ = [
    "AnalysisAnswer",
    "AnalysisRequest",
    "DnsmosScorer",
    "Judgement",
    "Scorer",
    "SlotReport",
    "create_analysis_app",
    "judge",
    "probe_count",
]
