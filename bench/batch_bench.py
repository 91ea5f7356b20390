"""Batch throughput: N tasks through a real `ttsops serve`, as a fraction of the raw engine limit.

The raw engine limit is the same joe voice loaded in this process, run by as many threads
as the server has inference workers, calling ``engine.synthesize`` back to back: no HTTP,
no encoding, no files. The batch run is ``run_batch`` (what `ttsops batch` runs) against a
server on loopback with its default workers, writing wav files and fsynced results.
Both runs use the same sentences; the raw one a prefix of them (``--raw-tasks``).

Usage: .venv/bin/python bench/batch_bench.py [--tasks 1000] [--raw-tasks 200]
Writes bench/results/batch.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from ttsops.batch import BatchOptions, HttpBackend, run_batch
from ttsops.batch.sinks import DirSink
from ttsops.bundle import make_default_bundle, verify_bundle
from ttsops.engines import EngineOptions, load_engine
from ttsops.testing import ServerProcess

_SUBJECTS = ("The old lighthouse", "A quiet student", "Our new neighbour", "The morning train")
_VERBS = ("carefully watched", "quickly passed", "never forgot", "slowly followed")
_OBJECTS = ("the rolling waves", "a paper map", "the long valley road", "every single word")


def sentences(count: int) -> list[str]:
    """Deterministic, varied sentences of eight to twelve words."""
    out = []
    for i in range(count):
        s, v, o = _SUBJECTS[i % 4], _VERBS[(i // 4) % 4], _OBJECTS[(i // 16) % 4]
        out.append(f"Line {i}. {s} {v} {o}.")
    return out


def raw_engine(bundle: Path, texts: list[str], workers: int) -> dict[str, float]:
    """Tasks and audio seconds per second with ``workers`` threads calling the engine directly."""
    manifest = verify_bundle(bundle)
    engine = load_engine(bundle, manifest, EngineOptions(threads=1))
    engine.synthesize("Warm up.", engine.voices[0], 1.0)
    todo: queue.SimpleQueue[str] = queue.SimpleQueue()
    for text in texts:
        todo.put(text)
    audio = [0.0] * workers

    def work(slot: int) -> None:
        while True:
            try:
                text = todo.get_nowait()
            except queue.Empty:
                return
            audio[slot] += engine.synthesize(text, engine.voices[0], 1.0).duration_s

    start = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - start
    return {
        "tasks": len(texts),
        "wall_s": wall,
        "tasks_per_s": len(texts) / wall,
        "audio_per_s": sum(audio) / wall,
    }


def batch_through_server(
    bundle: Path, texts: list[str], workdir: Path, concurrency: int | None
) -> dict[str, Any]:
    """Run the batch against a fresh server; return its summary and the server's pool size."""
    tasks = workdir / "tasks.jsonl"
    with tasks.open("w", encoding="utf-8") as handle:
        for i, text in enumerate(texts):
            handle.write(json.dumps({"input_text": text, "output_name": f"t{i:05d}"}) + "\n")
    with ServerProcess(bundle) as server:
        info = httpx.get(f"{server.url}/version").json()
        backend = HttpBackend(server.url)
        try:
            summary = run_batch(
                tasks, backend, DirSink(workdir / "out"), BatchOptions(concurrency=concurrency)
            )
        finally:
            backend.close()
    return {"summary": summary.to_dict(), "workers": int(info["workers"])}


def main() -> None:
    """Run both measurements and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--raw-tasks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench/results/batch.json"))
    args = parser.parse_args()
    texts = sentences(args.tasks)
    with tempfile.TemporaryDirectory(prefix="ttsops-batch-bench-") as tmp:
        workdir = Path(tmp)
        bundle = args.bundle or workdir / "joe"
        if args.bundle is None:
            make_default_bundle(bundle)
        batch = batch_through_server(bundle, texts, workdir, args.concurrency)
        raw = raw_engine(bundle, texts[: args.raw_tasks], batch["workers"])
    summary = batch["summary"]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "server_workers": batch["workers"],
        "concurrency": summary["concurrency"],
        "raw_engine": raw,
        "batch": summary,
        "fraction_tasks": summary["tasks_per_s"] / raw["tasks_per_s"],
        "fraction_audio": summary["realtime_factor"] / raw["audio_per_s"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"| measure | raw engine ({raw['tasks']} tasks) | batch via server ({args.tasks} tasks) |"
    )
    print("|---|---|---|")
    print(f"| tasks/s | {raw['tasks_per_s']:.2f} | {summary['tasks_per_s']:.2f} |")
    print(f"| audio s/s | {raw['audio_per_s']:.2f} | {summary['realtime_factor']:.2f} |")
    print(f"| wall s | {raw['wall_s']:.1f} | {summary['wall_s']:.1f} |")
    print(
        f"\nthroughput vs raw engine: {result['fraction_tasks']:.1%} (tasks/s), "
        f"{result['fraction_audio']:.1%} (audio s/s); failed {summary['failed']}, "
        f"retried {summary['retried']}; written to {args.out}"
    )


if __name__ == "__main__":
    main()
