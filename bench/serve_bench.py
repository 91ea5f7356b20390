"""Benchmark `ttsops serve` beside the raw engine and piper's own HTTP server.

Inputs are the shared fixed texts in ../shared/bench/ (20 sentences, a ~600-character
paragraph). For each concurrency level the same sentences are sent in a loop; we report
throughput (input characters and audio seconds per wall second), latency percentiles,
non-200 answers and the server's peak RSS during that level (VmHWM, reset per level).

Run: `make bench` (or `.venv/bin/python bench/serve_bench.py --levels 1,2,4,8,64`).
Results go to bench/results/serve.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import multiprocessing
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"


def _inputs() -> tuple[list[str], str]:
    sentences = [s for s in (SHARED / "sentences.txt").read_text().splitlines() if s.strip()]
    return sentences, (SHARED / "paragraph.txt").read_text().strip()


# -- process helpers -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_http(url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


# -- load generation -------------------------------------------------------------------


async def _load(
    url: str, bodies: list[dict[str, Any]], concurrency: int, wav: bool
) -> dict[str, Any]:
    """Send ``bodies`` with ``concurrency`` in flight; collect latency and audio length."""
    latencies: list[float] = []
    audio_s = 0.0
    chars = 0
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:

        async def worker() -> None:
            nonlocal audio_s, chars
            while not queue.empty():
                body = queue.get_nowait()
                t0 = time.perf_counter()
                resp = await client.post(url, json=body)
                dt = time.perf_counter() - t0
                statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
                if resp.status_code == 200:
                    latencies.append(dt)
                    chars += len(body.get("input") or body.get("text") or "")
                    if wav:
                        audio_s += sf.info(io.BytesIO(resp.content)).duration

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else [float("nan")] * 99
    return {
        "concurrency": concurrency,
        "requests": len(bodies),
        "ok": len(latencies),
        "statuses": statuses,
        "wall_s": wall,
        "chars_per_s": chars / wall,
        "audio_s_per_s": audio_s / wall,
        "p50_s": q[49],
        "p95_s": q[94],
        "p99_s": q[98],
    }


def _bodies(kind: str, sentences: list[str], n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        text = sentences[i % len(sentences)]
        if kind.startswith("ttsops"):
            out.append({"model": "joe", "input": text, "voice": "joe", "response_format": "wav"})
        else:
            out.append({"text": text})
    return out


def _levels_run(
    kind: str, url: str, pid: int, levels: list[int], sentences: list[str]
) -> list[dict[str, Any]]:
    rows = []
    asyncio.run(_load(url, _bodies(kind, sentences, 2), 1, True))  # warm
    for c in levels:
        n = max(len(sentences) * 2, c)
        _reset_peak(pid)
        row = asyncio.run(_load(url, _bodies(kind, sentences, n), c, True))
        row["peak_rss_mb"] = _peak_rss_mb(pid)
        print(
            f"  {kind} c={c}: {row['chars_per_s']:.0f} chars/s, p95 {row['p95_s']:.2f}s, "
            f"rss {row['peak_rss_mb']:.0f} MB, statuses {row['statuses']}",
            flush=True,
        )
        rows.append(row)
    return rows


# -- raw engine ------------------------------------------------------------------------


def _raw_process(bundle: str, texts: list[str], threads: int, start: Any, out: Any) -> None:
    from ttsops.bundle import load_manifest
    from ttsops.engines import EngineOptions, load_engine

    engine = load_engine(Path(bundle), load_manifest(Path(bundle)), EngineOptions(threads=threads))
    engine.synthesize("Warm up.", "joe", 1.0)
    start.wait()
    audio = 0.0
    for text in texts:
        audio += engine.synthesize(text, "joe", 1.0).duration_s
    out.put(audio)


def raw_engine(bundle: Path, sentences: list[str], procs: int, threads: int) -> dict[str, Any]:
    """Throughput of the engine alone: ``procs`` processes × ``threads`` onnxruntime threads."""
    texts = sentences * 2
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    out = ctx.Queue()
    shares = [texts[i::procs] for i in range(procs)]
    workers = [
        ctx.Process(target=_raw_process, args=(str(bundle), share, threads, start, out))
        for share in shares
    ]
    for w in workers:
        w.start()
    time.sleep(8)  # all loaded and warmed (load ≈ 2 s each)
    t0 = time.perf_counter()
    start.set()
    audio = sum(out.get() for _ in workers)
    wall = time.perf_counter() - t0
    for w in workers:
        w.join()
    chars = sum(len(t) for t in texts)
    row = {
        "setup": f"{procs} process × {threads} thread",
        "chars_per_s": chars / wall,
        "audio_s_per_s": audio / wall,
    }
    print(f"  raw {row['setup']}: {row['chars_per_s']:.0f} chars/s", flush=True)
    return row


# -- streaming and disconnects -----------------------------------------------------------


def first_audio(url: str, body: dict[str, Any], repeats: int = 3) -> dict[str, float]:
    """Time to first audio byte vs the whole response, streaming the paragraph."""
    firsts, totals = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        first = None
        with httpx.stream("POST", url, json=body, timeout=300) as resp:
            for chunk in resp.iter_raw():
                if chunk and first is None:
                    first = time.perf_counter() - t0
        totals.append(time.perf_counter() - t0)
        firsts.append(first if first is not None else float("nan"))
    f, t = statistics.median(firsts), statistics.median(totals)
    return {"first_audio_s": f, "total_s": t, "ratio": f / t}


def disconnect_cost(url: str, body: dict[str, Any], pid: int) -> dict[str, float]:
    """Send a long request, hang up after 0.5 s, and watch the server's CPU for 3 s."""
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    payload = json.dumps(body).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host_port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request)
        time.sleep(0.5)
    cpu0 = _cpu_s(pid)
    samples = []
    for _ in range(30):
        time.sleep(0.1)
        samples.append(_cpu_s(pid) - cpu0)
    busy_for = 0.0
    for i in range(1, len(samples)):
        if samples[i] - samples[i - 1] > 0.03:  # more than 30% of a core in that 0.1 s
            busy_for = (i + 1) * 0.1
    return {"cpu_s_after_hangup": samples[-1], "busy_for_s": busy_for}


def bad_inputs(url: str, kind: str) -> dict[str, int]:
    key = "input" if kind == "ttsops" else "text"
    return {
        "empty": httpx.post(url, json={key: ""}).status_code,
        "invalid_utf8": httpx.post(
            url, content=b'{"' + key.encode() + b'": "\xff\xfe"}'
        ).status_code,
    }


def _ttsops_run(
    name: str,
    bundle: Path,
    extra: list[str],
    levels: list[int],
    sentences: list[str],
    paragraph: str,
) -> dict[str, Any]:
    """Every measure of one `ttsops serve` configuration, keyed by ``name``."""
    port = _free_port()
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ttsops",
            "serve",
            "--bundle",
            str(bundle),
            "--port",
            str(port),
            "--no-ui",
            "--log-level",
            "warning",
            *extra,
        ],
    )
    results: dict[str, Any] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/readyz")
        url = f"{base}/v1/audio/speech"
        results[name] = _levels_run(name, url, serve.pid, levels, sentences)
        results[f"{name}_stream"] = first_audio(url, {"input": paragraph, "response_format": "pcm"})
        results[f"{name}_disconnect"] = disconnect_cost(
            url, {"input": paragraph * 4, "response_format": "pcm"}, serve.pid
        )
        results[f"{name}_bad_inputs"] = bad_inputs(url, "ttsops")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
    return results


# -- main ------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,4,8,64")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serve.json")
    parser.add_argument("--skip-peer", action="store_true", help="skip piper's http_server")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    sentences, paragraph = _inputs()
    from ttsops.bundle import make_default_bundle

    tmp = Path(tempfile.mkdtemp(prefix="ttsops-bench-"))
    bundle = tmp / "joe"
    make_default_bundle(bundle)
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    print("raw engine", flush=True)
    results["raw"] = [
        raw_engine(bundle, sentences, 1, 2),
        raw_engine(bundle, sentences, 2, 1),
    ]

    # The same server twice: as it ships (a lone request on a wide session) and with
    # --solo-threads 0, which is how every request ran before (one thread each).
    for name, extra in (("ttsops", []), ("ttsops_narrow", ["--solo-threads", "0"])):
        print(f"ttsops serve {' '.join(extra)}", flush=True)
        results.update(_ttsops_run(name, bundle, extra, levels, sentences, paragraph))

    if not args.skip_peer:
        print("piper http_server", flush=True)
        port = _free_port()
        model = bundle / "en_US-joe-medium.onnx"
        peer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "piper.http_server",
                "-m",
                str(model),
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_http(f"{base}/voices")
            url = f"{base}/synthesize"
            results["piper"] = _levels_run("piper", url, peer.pid, levels, sentences)
            results["piper_stream"] = first_audio(url, {"text": paragraph})
            results["piper_disconnect"] = disconnect_cost(url, {"text": paragraph * 4}, peer.pid)
            results["piper_bad_inputs"] = bad_inputs(url, "piper")
        finally:
            peer.terminate()
            peer.wait(30)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(render(results))


def render(r: dict[str, Any]) -> str:
    """Markdown tables of a results dict."""
    lines = [f"Measured {r['date']} on {r['machine']}.", ""]
    lines += ["| setup | chars/s | audio s/s |", "|---|---|---|"]
    for row in r["raw"]:
        lines.append(
            f"| raw engine, {row['setup']} | {row['chars_per_s']:.0f} | "
            f"{row['audio_s_per_s']:.1f} |"
        )
    lines += [
        "",
        "| server | c | chars/s | audio s/s | p50 s | p95 s | p99 s | peak RSS MB | answers |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("ttsops", "ttsops_narrow", "piper"):
        for row in r.get(name, []):
            answers = ", ".join(f"{k}×{v}" for k, v in sorted(row["statuses"].items()))
            lines.append(
                f"| {name} | {row['concurrency']} | {row['chars_per_s']:.0f} | "
                f"{row['audio_s_per_s']:.1f} | {row['p50_s']:.2f} | {row['p95_s']:.2f} | "
                f"{row['p99_s']:.2f} | {row['peak_rss_mb']:.0f} | {answers} |"
            )
    lines += [
        "",
        "| server | first audio s (paragraph) | whole s | ratio | CPU s after hang-up "
        "| busy for s after hang-up | empty text | invalid UTF-8 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("ttsops", "ttsops_narrow", "piper"):
        if f"{name}_stream" in r:
            s, d, b = r[f"{name}_stream"], r[f"{name}_disconnect"], r[f"{name}_bad_inputs"]
            lines.append(
                f"| {name} | {s['first_audio_s']:.2f} | {s['total_s']:.2f} | {s['ratio']:.0%} | "
                f"{d['cpu_s_after_hangup']:.2f} | {d['busy_for_s']:.1f} | {b['empty']} | "
                f"{b['invalid_utf8']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
