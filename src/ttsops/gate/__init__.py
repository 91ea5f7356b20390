"""The quality gate: score a candidate voice against the live one before it ships.

``run_gate`` synthesizes an evaluation set with both models, scores every utterance with
real speech models (DNSMOS, pocketsphinx ASR) and signal checks, and decides with
``judge``: pass, fail, inconclusive or error. ``write_report`` turns the result into JSON,
Markdown and PNG plots.
"""

from __future__ import annotations

from ttsops.gate.corpus import EvalSet, Utterance, load_eval_set
from ttsops.gate.policy import judge, sanity_problems
from ttsops.gate.report import GateReport, ModelInfo, write_report
from ttsops.gate.results import METRICS, Metric, MetricSummary, UtteranceResult, summarize
from ttsops.gate.run import ProgressFn, default_workers, run_gate
from ttsops.gate.stats import Interval, bootstrap_mean, paired_difference, paired_ratio
from ttsops.verdict import Check, Outcome, Verdict

__all__ = [
    "METRICS",
    "Check",
    "EvalSet",
    "GateReport",
    "Interval",
    "Metric",
    "MetricSummary",
    "ModelInfo",
    "Outcome",
    "ProgressFn",
    "Utterance",
    "UtteranceResult",
    "Verdict",
    "bootstrap_mean",
    "default_workers",
    "judge",
    "load_eval_set",
    "paired_difference",
    "paired_ratio",
    "run_gate",
    "sanity_problems",
    "summarize",
    "write_report",
]
