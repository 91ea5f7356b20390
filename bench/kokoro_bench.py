"""Benchmark the Kokoro engine (Mandarin) beside Piper joe (English), and a Mandarin gate.

Inputs are fixed: the English side uses the shared texts in ../shared/bench/ (sentences and
paragraph); the Mandarin side has no shared input, so it uses the 30 sentences of the gate's
own Mandarin set (src/ttsops/gate/data/eval_zh.jsonl) and, as its paragraph, the first ten
of them joined (about 200 characters). Measured, for each engine:

- load time and the real-time factor of the paragraph in-process (one thread);
- `ttsops serve` first audio and whole answer for the paragraph, streamed as pcm;
- `ttsops serve` throughput at c=1 and c=4 (characters and audio seconds per wall second);

and the wall time of a Mandarin gate: zm_yunxi against zf_xiaobei on the Mandarin set
(fresh: both sides synthesized and scored; cached: the baseline from a score store filled
by one earlier gate), as `ttsops gate` runs it.

Run: `.venv/bin/python bench/kokoro_bench.py` (`--skip-gate` leaves the gate out).
Results go to bench/results/kokoro.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_bench import _free_port, _load, _wait_http, first_audio

from ttsops.bundle import load_manifest, make_default_bundle
from ttsops.bundle.kokoro import make_kokoro_bundle
from ttsops.engines import EngineOptions, load_engine

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
ZH_SET = ROOT / "src" / "ttsops" / "gate" / "data" / "eval_zh.jsonl"


def _zh_inputs() -> tuple[list[str], str]:
    rows = [json.loads(line) for line in ZH_SET.read_text("utf-8").splitlines() if line.strip()]
    sentences = [str(r["text"]) for r in rows]
    return sentences, "".join(sentences[:10])


def _en_inputs() -> tuple[list[str], str]:
    lines = (SHARED / "sentences.txt").read_text().splitlines()
    return [s for s in lines if s.strip()], (SHARED / "paragraph.txt").read_text().strip()


def in_process(bundle: Path, voice: str, paragraph: str) -> dict[str, float]:
    """Load time and real-time factor of the paragraph (median of three), one thread."""
    started = time.perf_counter()
    engine = load_engine(bundle, load_manifest(bundle), EngineOptions(threads=1))
    load_s = time.perf_counter() - started
    engine.synthesize("热身。" if voice.startswith("z") else "Warm up.", voice, 1.0)
    rtfs = []
    for _ in range(3):
        t0 = time.perf_counter()
        chunk = engine.synthesize(paragraph, voice, 1.0)
        rtfs.append((time.perf_counter() - t0) / chunk.duration_s)
    return {"load_s": round(load_s, 2), "rtf": round(float(np.median(rtfs)), 3)}


def served(bundle: Path, voice: str, sentences: list[str], paragraph: str) -> dict[str, Any]:
    """First audio for the paragraph and throughput at c=1 and c=4 through `ttsops serve`."""
    import asyncio

    port = _free_port()
    serve = subprocess.Popen(
        [
            *(sys.executable, "-m", "ttsops", "serve", "--bundle", str(bundle)),
            *("--port", str(port), "--no-ui", "--log-level", "warning"),
        ]
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/readyz")
        url = f"{base}/v1/audio/speech"
        stream = first_audio(url, {"input": paragraph, "voice": voice, "response_format": "pcm"})
        levels = []
        for c in (1, 4):
            bodies = [
                {"input": sentences[i % len(sentences)], "voice": voice, "response_format": "wav"}
                for i in range(max(len(sentences), 2 * c))
            ]
            row = asyncio.run(_load(url, bodies, c, True))
            print(
                f"  {bundle.name} c={c}: {row['chars_per_s']:.1f} chars/s, "
                f"{row['audio_s_per_s']:.2f} audio s/s, statuses {row['statuses']}",
                file=sys.stderr,
            )
            levels.append(row)
        return {"stream": stream, "levels": levels}
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)


def mandarin_gate(candidate: Path, baseline: Path, tmp: Path) -> list[dict[str, Any]]:
    """A fresh Mandarin gate, then one with the baseline's scores cached (as in CI)."""
    from ttsops.gate import default_workers, run_gate
    from ttsops.gate.corpus import eval_set_for
    from ttsops.gate.report import GateReport
    from ttsops.registry import Ledger
    from ttsops.settings import GateSettings

    eval_set = eval_set_for(load_manifest(candidate).languages)
    ledger = Ledger.open(f"sqlite:///{tmp / 'ledger.db'}")

    def gate(cand: Path, cache: Ledger | None) -> tuple[GateReport, float]:
        started = time.perf_counter()
        report = run_gate(
            cand,
            baseline,
            settings=GateSettings(),
            eval_set=eval_set,
            workers=default_workers(),
            cache=cache,
        )
        return report, time.perf_counter() - started

    runs = []
    fresh = gate(candidate, None)
    _, warm_s = gate(baseline, ledger)  # the live version's own first gate fills the cache
    print(f"  cache filled by a gate of the baseline against itself in {warm_s:.0f} s")
    for mode, (report, wall) in (("fresh", fresh), ("cached", gate(candidate, ledger))):
        cer = [s for s in report.summaries if s.metric.name == "cer"]
        runs.append(
            {
                "mode": mode,
                "wall_s": round(wall, 1),
                "verdict": report.verdict.outcome.value,
                "reasons": report.verdict.reasons,
                "rounds": len(report.rounds or []),
                "sentences": len({u.id for u in report.utterances if u.role == "candidate"}),
                "cer_candidate": cer[0].candidate.estimate if cer and cer[0].candidate else None,
                "cer_baseline": cer[0].baseline.estimate if cer and cer[0].baseline else None,
            }
        )
        print(f"  gate {mode}: {runs[-1]}", file=sys.stderr)
    return runs


def main() -> None:
    """Make the bundles, measure, write bench/results/kokoro.json and print tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-gate", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "kokoro.json")
    args = parser.parse_args()
    zh_sentences, zh_paragraph = _zh_inputs()
    en_sentences, en_paragraph = _en_inputs()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "loadavg_start": os.getloadavg()[0],
    }
    with tempfile.TemporaryDirectory(prefix="kokoro-bench-") as tmp_name:
        tmp = Path(tmp_name)
        yunxi = make_kokoro_bundle(tmp / "kokoro-zm_yunxi", ["zm_yunxi"])
        joe = tmp / "piper-joe"
        make_default_bundle(joe)
        engines = {
            "kokoro zm_yunxi (Mandarin)": (yunxi, "zm_yunxi", zh_sentences, zh_paragraph),
            "piper joe (English)": (joe, "joe", en_sentences, en_paragraph),
        }
        for name, (bundle, voice, sentences, paragraph) in engines.items():
            print(f"{name}:", file=sys.stderr)
            results[name] = {
                "paragraph_chars": len(paragraph),
                **in_process(bundle, voice, paragraph),
                **served(bundle, voice, sentences, paragraph),
            }
        if not args.skip_gate:
            xiaobei = make_kokoro_bundle(tmp / "kokoro-zf_xiaobei", ["zf_xiaobei"])
            results["gate"] = mandarin_gate(yunxi, xiaobei, tmp)
    results["loadavg_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print("| engine | load (s) | RTF (1 thread) | first audio (s) | whole (s) | c=1 | c=4 |")
    print("|---|---:|---:|---:|---:|---|---|")
    for name in engines:
        r = results[name]
        c1, c4 = r["levels"]
        print(
            f"| {name} | {r['load_s']} | {r['rtf']} | {r['stream']['first_audio_s']:.2f} | "
            f"{r['stream']['total_s']:.2f} | {c1['chars_per_s']:.1f} chars/s "
            f"({c1['audio_s_per_s']:.2f} audio s/s) | {c4['chars_per_s']:.1f} chars/s "
            f"({c4['audio_s_per_s']:.2f} audio s/s) |"
        )
    for run in results.get("gate", []):
        print(
            f"\nMandarin gate ({run['mode']}): {run['verdict']} in {run['wall_s']} s, "
            f"{run['rounds']} rounds ({run['sentences']} sentences), "
            f"CER {run['cer_candidate']} vs {run['cer_baseline']}"
        )


if __name__ == "__main__":
    main()
