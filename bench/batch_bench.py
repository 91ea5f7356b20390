"""Batch throughput: N tasks through a real `ttsops serve`, as a fraction of the raw engine limit.

The raw engine limit is the same joe voice run by as many processes as the server has
inference workers (one onnxruntime thread each, as the server runs them), each calling
``engine.synthesize`` back to back: no HTTP, no encoding, no files, no GIL shared between
workers — the most this machine can synthesize.

The batch is ``run_batch`` (what `ttsops batch` runs) against a real server on loopback
with its default workers and the default concurrency, writing wav files and fsynced
``results.jsonl`` lines. Texts are the shared inputs (../shared/bench/sentences.txt, 20
sentences of mixed length) cycled to N tasks, so the figures sit beside serve_bench's.

The N tasks run in ``--rounds`` batches, each preceded by a raw-engine round on a share of
the same texts, so load from anything else on the machine falls on both measurements alike.

Usage: .venv/bin/python bench/batch_bench.py [--tasks 1000] [--rounds 5]
Writes bench/results/batch.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from ttsops.batch import BatchOptions, HttpBackend, run_batch
from ttsops.batch.sinks import DirSink
from ttsops.bundle import make_default_bundle
from ttsops.testing import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench" / "sentences.txt"


def sentences(count: int) -> list[str]:
    """The shared benchmark sentences, cycled to ``count``."""
    lines = SHARED.read_text(encoding="utf-8").splitlines()
    base = [line.strip() for line in lines if line.strip()]
    return [base[i % len(base)] for i in range(count)]


def _raw_worker(bundle: str, jobs: Any, out: Any) -> None:
    from ttsops.bundle import load_manifest
    from ttsops.engines import EngineOptions, load_engine

    engine = load_engine(Path(bundle), load_manifest(Path(bundle)), EngineOptions(threads=1))
    engine.synthesize("Warm up.", engine.voices[0], 1.0)
    out.put(0.0)
    while (texts := jobs.get()) is not None:
        out.put(sum(engine.synthesize(t, engine.voices[0], 1.0).duration_s for t in texts))


class RawEngine:
    """``workers`` engine processes, loaded once, that synthesize a list of texts flat out."""

    def __init__(self, bundle: Path, workers: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._out = ctx.Queue()
        self._jobs = [ctx.Queue() for _ in range(workers)]
        self._procs = [
            ctx.Process(target=_raw_worker, args=(str(bundle), jobs, self._out))
            for jobs in self._jobs
        ]
        for proc in self._procs:
            proc.start()
        for _ in self._procs:
            self._out.get()  # loaded and warmed up

    def run(self, texts: list[str]) -> tuple[float, float]:
        """(wall seconds, audio seconds) for ``texts`` shared out among the workers."""
        began = time.monotonic()
        for i, jobs in enumerate(self._jobs):
            jobs.put(texts[i :: len(self._jobs)])
        audio = sum(self._out.get() for _ in self._jobs)
        return time.monotonic() - began, audio

    def close(self) -> None:
        """Stop the worker processes."""
        for jobs in self._jobs:
            jobs.put(None)
        for proc in self._procs:
            proc.join()


def measure(bundle: Path, texts: list[str], rounds: int, raw_share: float) -> dict[str, Any]:
    """Alternate raw-engine and batch rounds, so load from other jobs hits both alike."""
    workdir = Path(tempfile.mkdtemp(prefix="ttsops-batch-bench-"))
    chunks = [texts[r::rounds] for r in range(rounds)]
    raw_wall = raw_audio = batch_wall = batch_audio = 0.0
    raw_tasks = batch_tasks = retried = failed = 0
    with ServerProcess(bundle) as server:
        info = httpx.get(f"{server.url}/version").json()
        raw = RawEngine(bundle, int(info["workers"]))
        backend = HttpBackend(server.url)
        try:
            for r, chunk in enumerate(chunks):
                sample = chunk[:: max(1, round(1 / raw_share))]  # same mix of texts
                wall, audio = raw.run(sample)
                raw_wall, raw_audio, raw_tasks = (
                    raw_wall + wall,
                    raw_audio + audio,
                    raw_tasks + len(sample),
                )
                tasks = workdir / f"round{r}.jsonl"
                with tasks.open("w", encoding="utf-8") as handle:
                    for i, text in enumerate(chunk):
                        line = {"input_text": text, "output_name": f"r{r}/t{i:05d}"}
                        handle.write(json.dumps(line) + "\n")
                summary = run_batch(tasks, backend, DirSink(workdir / "out"), BatchOptions())
                batch_wall += summary.wall_s
                batch_audio += summary.audio_s
                batch_tasks += summary.done
                retried += summary.retried
                failed += summary.failed
                concurrency = summary.concurrency
        finally:
            backend.close()
            raw.close()
    return {
        "server_workers": int(info["workers"]),
        "concurrency": concurrency,
        "rounds": rounds,
        "raw_engine": {
            "tasks": raw_tasks,
            "wall_s": raw_wall,
            "tasks_per_s": raw_tasks / raw_wall,
            "audio_per_s": raw_audio / raw_wall,
        },
        "batch": {
            "tasks": batch_tasks,
            "wall_s": batch_wall,
            "tasks_per_s": batch_tasks / batch_wall,
            "audio_per_s": batch_audio / batch_wall,
            "failed": failed,
            "retried": retried,
        },
    }


def main() -> None:
    """Measure, write bench/results/batch.json, print a Markdown table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--raw-share", type=float, default=0.2, help="raw tasks per batch task")
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/batch.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ttsops-batch-bundle-") as tmp:
        bundle = args.bundle or Path(tmp) / "joe"
        if args.bundle is None:
            make_default_bundle(bundle)
        result = measure(bundle, sentences(args.tasks), args.rounds, args.raw_share)
    raw, batch = result["raw_engine"], result["batch"]
    result["fraction_tasks"] = batch["tasks_per_s"] / raw["tasks_per_s"]
    result["fraction_audio"] = batch["audio_per_s"] / raw["audio_per_s"]
    result["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    result["load_average_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("| measure | raw engine | batch via server | batch / raw |")
    print("|---|---|---|---|")
    print(f"| tasks | {raw['tasks']} | {batch['tasks']} | |")
    print(
        f"| tasks/s | {raw['tasks_per_s']:.2f} | {batch['tasks_per_s']:.2f} | "
        f"{result['fraction_tasks']:.1%} |"
    )
    print(
        f"| audio s/s | {raw['audio_per_s']:.2f} | {batch['audio_per_s']:.2f} | "
        f"{result['fraction_audio']:.1%} |"
    )
    print(
        f"\n{result['rounds']} alternating rounds; server workers {result['server_workers']}, "
        f"concurrency {result['concurrency']}; failed {batch['failed']}, retried "
        f"{batch['retried']}; load average after {os.getloadavg()[0]:.2f}; written to {args.out}"
    )


if __name__ == "__main__":
    main()
