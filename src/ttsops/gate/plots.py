"""PNG plots of a gate report: per-metric distributions, candidate vs baseline (matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ttsops.gate.results import METRICS

if TYPE_CHECKING:
    from ttsops.gate.report import GateReport

__all__ = ["PLOTTED", "plot_distributions"]

PLOTTED = ("ovrl", "sig", "bak", "p808", "wer", "rtf", "duration_s", "lufs")
"""Metrics drawn, one panel each."""

_COLORS = {"candidate": "#d95f02", "baseline": "#1b9e77"}


def plot_distributions(report: GateReport, path: Path) -> Path:
    """One panel per metric: each model's values as a box with points, pairs joined by lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = {m.name: m.label for m in METRICS}
    cand = {u.id: u.metrics for u in report.results("candidate")}
    base = {u.id: u.metrics for u in report.results("baseline")}
    fig, axes = plt.subplots(2, 4, figsize=(14, 6.5), constrained_layout=True)
    rng = np.random.default_rng(0)
    for ax, metric in zip(axes.flat, PLOTTED, strict=True):
        series = {
            "baseline": {k: v[metric] for k, v in base.items() if v.get(metric) is not None},
            "candidate": {k: v[metric] for k, v in cand.items() if v.get(metric) is not None},
        }
        for a, b in ((series["baseline"].get(k), series["candidate"].get(k)) for k in cand):
            if a is not None and b is not None:
                ax.plot([0, 1], [a, b], color="#999999", alpha=0.25, linewidth=0.8)
        data = [list(series[role].values()) for role in ("baseline", "candidate")]
        if any(data):
            ax.boxplot(
                [d if d else [np.nan] for d in data],
                positions=[0, 1],
                widths=0.45,
                showfliers=False,
                medianprops={"color": "black"},
            )
        for x, role in enumerate(("baseline", "candidate")):
            values = data[x]
            jitter = rng.uniform(-0.08, 0.08, len(values))
            ax.scatter(x + jitter, values, s=12, color=_COLORS[role], alpha=0.8, zorder=3)
        ax.set_xticks([0, 1], ["baseline", "candidate"])
        ax.set_title(labels[metric], fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    title = (
        f"{report.candidate.ref or report.candidate.label} vs "
        f"{report.baseline.ref or report.baseline.label}: {report.verdict.outcome.value}"
    )
    fig.suptitle(title)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
