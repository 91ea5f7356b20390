"""Sequential gating: score a round of sentences, judge, stop once the answer is known.

A gate scores ``round_size`` sentences at a time and judges every check after each round
(a *look*). It stops

- at the first look where a check has **failed** for good (its interval lies wholly on the
  bad side; a count-based check such as ``signal_sanity`` only once no remaining core
  sentence could bring it back under its limit): more sentences cannot turn a decided
  fail into a pass, and a broken voice fails after the first round;
- once the whole **core** set is scored and every check **passes** (a pass always rests on
  the core set, never on a first round alone);
- when the pool (core and extended sentences) is spent; what is still undecided then is
  inconclusive, as before.

Between those, a check whose interval straddles its limit after the core set asks for
the next round of the extended pool instead of answering "inconclusive".

Looking repeatedly inflates the error rate (each look is another chance for a noisy
interval to fall on the wrong side). The number of looks is fixed in advance by the pool
and ``round_size``, and each look uses a Bonferroni-corrected confidence,
``1 - (1 - confidence) / looks`` (0.95 over 6 looks → 0.9917 per look), so the chance that
any look decides wrongly stays within ``1 - confidence``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ttsops.settings import GateSettings
from ttsops.verdict import Check, Outcome, Verdict

__all__ = ["Decision", "RoundPlan", "annotate", "decide", "look_settings", "plan_rounds"]

_MONOTONE = ("synthesis", "finite", "sample_rate")
"""Count checks whose failure more sentences cannot undo (a failed sentence stays failed)."""


@dataclass(frozen=True)
class RoundPlan:
    """How many sentences each look has, fixed before the first round."""

    core: int
    """Sentences a pass needs: the evaluation set without its extended pool."""

    looks: tuple[int, ...]
    """Sentences scored (cumulative) at each look, e.g. (10, 20, 30, 40, 50, 60)."""

    confidence: float
    """Per-look confidence of every interval (Bonferroni over the looks)."""

    nominal: float
    """The confidence the settings ask for over the whole gate."""

    @property
    def pool(self) -> int:
        """Most sentences the gate may use."""
        return self.looks[-1]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "core": self.core,
            "looks": list(self.looks),
            "confidence_per_look": self.confidence,
            "confidence": self.nominal,
        }


def plan_rounds(core: int, pool: int, round_size: int, confidence: float) -> RoundPlan:
    """Looks every ``round_size`` sentences through the core set, then through the rest.

    The core's last round may be short (a 14-sentence set looks at 10 and 14).
    """
    if core < 1 or pool < core:
        raise ValueError(f"a gate needs 1 ≤ core ≤ pool sentences, not core={core} pool={pool}")
    looks = [*range(round_size, core, round_size), core]
    looks += [*range(core + round_size, pool, round_size), pool] if pool > core else []
    per_look = 1 - (1 - confidence) / len(looks)
    return RoundPlan(core, tuple(looks), per_look, confidence)


@dataclass(frozen=True)
class Decision:
    """What a look concluded."""

    stop: bool
    """True when no more sentences are needed (or none are left)."""

    why: str
    """In words, for the report and the progress display."""

    decided_fail: tuple[str, ...] = ()
    """Checks that failed for good."""

    undecided: tuple[str, ...] = ()
    """Checks neither passed nor failed for good."""


def _failed_for_good(check: Check, scored: int, plan: RoundPlan, settings: GateSettings) -> bool:
    if check.outcome is not Outcome.FAIL:
        return False
    if check.name == "signal_sanity" and scored < plan.core:
        problems = check.details.get("problems", {})
        bad = len(problems) if isinstance(problems, dict) else 0
        return bad > settings.max_bad_utterances * plan.core
    return True


def decide(verdict: Verdict, scored: int, plan: RoundPlan, settings: GateSettings) -> Decision:
    """Whether the gate may stop after a look at ``scored`` sentences, and why."""
    failed = tuple(c.name for c in verdict.checks if _failed_for_good(c, scored, plan, settings))
    open_ = tuple(
        c.name for c in verdict.checks if c.outcome is not Outcome.PASS and c.name not in failed
    )
    if failed:
        return Decision(True, f"{', '.join(failed)} failed after {scored} sentences", failed, open_)
    if not verdict.checks:
        return Decision(True, "no check could be applied", undecided=open_)
    if scored >= plan.pool:
        if open_:
            why = f"{', '.join(open_)} still undecided on all {scored} sentences"
        else:
            why = f"every check passed on {scored} sentences"
        return Decision(True, why, undecided=open_)
    if scored < plan.core:
        return Decision(False, f"a pass needs all {plan.core} core sentences", undecided=open_)
    if not open_:
        return Decision(True, f"every check passed on {scored} sentences")
    return Decision(False, f"{', '.join(open_)} undecided: adding sentences", undecided=open_)


def annotate(verdict: Verdict, decision: Decision, scored: int, plan: RoundPlan) -> Verdict:
    """The final verdict, each undecided check's reason saying why it stayed undecided."""
    if decision.decided_fail:
        note = f" (not decided: the gate stopped after {scored} sentences, once a check failed)"
    elif scored >= plan.pool and plan.pool > plan.core:
        note = f" (even with the extended pool: all {scored} sentences)"
    else:
        note = f" (on all {scored} sentences)"
    checks = tuple(
        replace(c, reason=c.reason + note) if c.outcome is Outcome.INCONCLUSIVE else c
        for c in verdict.checks
    )
    return replace(verdict, checks=checks)


def look_settings(settings: GateSettings, plan: RoundPlan) -> GateSettings:
    """``settings`` with the per-look confidence, which every interval of a look uses."""
    return settings.model_copy(update={"confidence": plan.confidence})
