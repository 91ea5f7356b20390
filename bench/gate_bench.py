"""Benchmark `ttsops gate`: candidate vs baseline, with and without the score cache.

The baseline is joe 1.0.0; candidates are derived from it the way a user would
(`ttsops bundle derive`): perturb 0.01 (the demo's 1.1.0), perturb 0.2, perturb 0.5 and
int8. Each gate runs as `run_gate` does in the CLI: one worker process per core, scoring in
rounds until every check is decided. Two modes run side by side for each candidate,
alternating (A B A B) so load from other work falls on both alike:

- ``fresh``: no score cache, both models synthesized and scored (what a first gate costs,
  and what every gate cost before the cache);
- ``cached``: the baseline's scores come from a SQLite ledger filled once before the runs
  (what ``ttsops release`` costs when the live version was gated before).

We report the wall time of the whole gate (start to verdict, model loading included), the
rounds and sentences it took, the time each worker spent loading, the sum of per-stage
seconds, CPU seconds, the load average around the run, and per model the means of DNSMOS
OVRL, P.808, ASR WER and real-time factor with the verdict.

Run: `.venv/bin/python bench/gate_bench.py` (all candidates) or
`--candidates retrained,broken --repeat 3` (the timing targets).
Results go to bench/results/gate.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ttsops.bundle import DeriveRecipe, derive_bundle, make_default_bundle
from ttsops.gate import GateReport, default_workers, load_eval_set, run_gate
from ttsops.gate.cache import ScoreStore
from ttsops.registry import Ledger
from ttsops.settings import GateSettings

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES: dict[str, tuple[str, DeriveRecipe]] = {
    "retrained": ("1.1.0", DeriveRecipe(perturb_sigma=0.01)),
    "perturb-0.2": ("1.2.0", DeriveRecipe(perturb_sigma=0.2)),
    "broken": ("1.3.0", DeriveRecipe(perturb_sigma=0.5)),
    "int8": ("1.4.0", DeriveRecipe(quantize="int8")),
}


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _means(report: GateReport) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {"candidate": {}, "baseline": {}}
    for summary in report.summaries:
        if summary.metric.name in ("ovrl", "p808", "wer", "rtf", "duration_s"):
            for role, interval in (
                ("candidate", summary.candidate),
                ("baseline", summary.baseline),
            ):
                out[role][summary.metric.name] = interval.estimate if interval else None
    return out


def _gate(
    candidate: Path, baseline: Path, workers: int, cache: ScoreStore | None
) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    cpu_before = _cpu_s()
    started = time.perf_counter()
    report = run_gate(
        candidate,
        baseline,
        settings=GateSettings(),
        eval_set=load_eval_set(),
        workers=workers,
        cache=cache,
    )
    wall = time.perf_counter() - started
    rounds = report.rounds or []
    return {
        "mode": "fresh" if cache is None else "cached",
        "rounds": len(rounds),
        "sentences": len({u.id for u in report.utterances if u.role == "candidate"}),
        "verdict": report.verdict.outcome.value,
        "reasons": report.verdict.reasons,
        "wall_s": round(wall, 2),
        "cpu_s": round(_cpu_s() - cpu_before, 1),
        "load_s": {k: round(v, 2) for k, v in report.timing.get("load_s", {}).items()},
        "stage_s": report.timing.get("stage_s", {}),
        "workers": report.timing.get("workers"),
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "means": _means(report),
    }


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def main() -> None:
    """Make the bundles, run the gates, write bench/results/gate.json and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gate.json")
    args = parser.parse_args()
    names = [n for n in args.candidates.split(",") if n]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="gate-bench-") as tmp:
        base = Path(tmp) / "joe"
        make_default_bundle(base)
        ledger = Ledger.open(f"sqlite:///{Path(tmp) / 'ledger.db'}")
        # Fill the cache with the baseline's scores once, as its own first gate would.
        warm = _gate(base, base, args.workers, ledger)
        print(f"cache filled by a gate of joe vs joe in {warm['wall_s']} s", file=sys.stderr)
        for name in names:
            version, recipe = CANDIDATES[name]
            candidate = Path(tmp) / name
            derive_bundle(base, candidate, version=version, recipe=recipe)
            for attempt in range(args.repeat):
                for cache in (None, ledger):
                    result = {
                        "candidate": name,
                        "recipe": recipe.describe(),
                        **_gate(candidate, base, args.workers, cache),
                    }
                    runs.append(result)
                    print(
                        f"{name} #{attempt + 1} {result['mode']}: {result['verdict']} in "
                        f"{result['wall_s']} s, {result['rounds']} rounds "
                        f"({result['sentences']} sentences; cpu {result['cpu_s']} s, "
                        f"load {result['loadavg_1m']})",
                        file=sys.stderr,
                    )
    walls = {mode: [r["wall_s"] for r in runs if r["mode"] == mode] for mode in ("fresh", "cached")}
    data = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "sentences": len(load_eval_set().utterances),
        "wall_s_median": {m: statistics.median(w) for m, w in walls.items() if w},
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(
        "| candidate | baseline | verdict | wall (s) | rounds (sentences) | OVRL c / b "
        "| P.808 c / b | WER c / b | RTF c / b |"
    )
    print("|---|---|---|---:|---|---|---|---|---|")
    for r in runs:
        c, b = r["means"]["candidate"], r["means"]["baseline"]
        print(
            f"| {r['recipe']} | {r['mode']} | {r['verdict']} | {r['wall_s']:.1f} | "
            f"{r['rounds']} ({r['sentences']}) | "
            f"{_fmt(c['ovrl'])} / {_fmt(b['ovrl'])} | {_fmt(c['p808'])} / {_fmt(b['p808'])} | "
            f"{_fmt(c['wer'])} / {_fmt(b['wer'])} | {_fmt(c['rtf'], 3)} / {_fmt(b['rtf'], 3)} |"
        )


if __name__ == "__main__":
    main()
