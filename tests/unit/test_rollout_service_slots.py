"""Service slots of the agent: the readiness marker, the upstream-log window, real processes.

The pure parts (the prober's state machine, counting a slot's requests in nginx's upstream
log, a service container's run arguments) are checked on their own; the process runtime is
checked with real processes on loopback: a command that crashes on load, a server that
answers HTTP but no speech, and one that answers silence.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from ttsops.containers.slots import KIND_LABEL, ContainerLimits, container_run_args
from ttsops.errors import ContainerError, RolloutError
from ttsops.rollout.patrol import probe_speaker
from ttsops.rollout.readiness import Marker, advance, read_marker, write_marker
from ttsops.rollout.router_upstreams import UpstreamCount, count_upstream, mark_log, read_since
from ttsops.rollout.runtime import SlotInfo, SlotRuntime, free_port
from ttsops.service import ServiceManifest, resolve_service, write_service_bundle
from ttsops.speech import HttpSpeech, open_speaker

SILENT = Path(__file__).parent.parent / "data" / "silent_service.py"


def _version(tmp: Path, name: str, **fields: object) -> Path:
    """A fetched service version dir (``bundle.toml`` + resolved ``service.toml``)."""
    manifest = ServiceManifest.model_validate(
        {"name": name, "version": "1.0.0", "languages": ["en-US"], "sample_rate": 22050, **fields}
    )
    out = tmp / f"{name}-version"
    write_service_bundle(resolve_service(manifest, tmp), out)
    return out


def _settle(runtime: SlotRuntime, slot: str, timeout_s: float = 30.0) -> SlotInfo:
    """Poll ``status`` until the slot is no longer ``starting``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = runtime.status(slot)
        assert info is not None
        if info.state != "starting":
            return info
        time.sleep(0.1)
    raise AssertionError(f"slot {slot} still starting after {timeout_s} s: {info}")


def test_the_marker_is_ready_on_the_first_check_that_speaks() -> None:
    """One passing synthesis makes the slot ready, whenever it comes."""
    assert advance("pid 1", 100.0, 101.0, 30, None) == Marker("ready", "pid 1")
    assert advance("pid 1", 100.0, 500.0, 30, None).state == "ready"


def test_the_marker_stays_starting_until_the_timeout_then_fails_naming_the_answer() -> None:
    """Before start_timeout_s: starting with the last answer; after: failed, saying why."""
    early = advance("pid 1", 100.0, 110.0, 30, "did not answer: connection refused")
    assert early == Marker("starting", "pid 1", "did not answer: connection refused")
    late = advance("pid 1", 100.0, 130.0, 30, "answered 2.0 s of silence")
    assert late == Marker("failed", "pid 1", "not ready within 30 s: answered 2.0 s of silence")


def test_a_marker_of_another_process_is_not_read_as_this_ones(tmp_path: Path) -> None:
    """A marker left by an earlier process (or a garbled file) says nothing about this one."""
    write_marker(tmp_path, Marker("ready", "pid 41"))
    assert read_marker(tmp_path, "pid 41") == Marker("ready", "pid 41")
    assert read_marker(tmp_path, "pid 42") is None
    (tmp_path / "ready.json").write_text("{not json")
    assert read_marker(tmp_path, "pid 41") is None


LOG = [
    "99.0|127.0.0.1:4001|200|200|0.3",  # before the window
    "100.5|127.0.0.1:4001|200|200|0.4",
    "101.0|127.0.0.1:4002, 127.0.0.1:4001|502, 200|200|0.5",  # failed on 4002, retried
    "101.5|127.0.0.1:4002|500|500|0.1",
    "102.0|127.0.0.1:4002|-|499|9.0",  # the client left before it answered
    "102.5|127.0.0.1:6007 : 127.0.0.1:4002|200 : 200|200|0.2",  # an internal redirect
    "103.0|127.0.0.1:40",  # a line cut by a write in progress
    "103.5|-|-|503|0.0",  # no upstream at all
]


def test_a_slots_window_counts_each_try_nginx_sent_it_since_the_window_opened() -> None:
    """Requests and 5xx per upstream port, retries counted for the slot that failed them."""
    assert count_upstream(LOG, 4001, since=100.0) == UpstreamCount(2, 0)
    got = count_upstream(LOG, 4002, since=100.0)
    assert (got.requests, got.errors) == (3, 2)
    assert count_upstream(LOG, 4001, since=0.0).requests == 3
    assert count_upstream(LOG, 4999, since=0.0).requests == 0


def test_the_window_reads_the_log_from_where_it_stood_when_it_opened(tmp_path: Path) -> None:
    """Lines written before the mark are not counted; a replaced log is read from its start."""
    log = tmp_path / "upstreams.log"
    assert mark_log(log, 0.0).offset == 0  # no log yet
    log.write_text("1.0|127.0.0.1:4001|500|500|0.1\n")
    mark = mark_log(log, 0.0)
    with log.open("a") as out:
        out.write("2.0|127.0.0.1:4001|200|200|0.1\n")
    assert read_since(log, mark, 4001) == UpstreamCount(1, 0)
    log.unlink()  # replaced (a new nginx, or a rotation): read from its start
    log.write_text("3|127.0.0.1:4001|503|503|0\n")
    assert read_since(log, mark, 4001) == UpstreamCount(1, 1)


def test_an_image_service_container_runs_its_own_pinned_image_on_its_port() -> None:
    """Its image id (not a tag that may move), its port published on loopback, its env."""
    service = ServiceManifest.model_validate(
        {
            "name": "voxui", "languages": ["zh-CN"], "sample_rate": 24000, "port": 7860,
            "image": {"reference": "localhost/voxui:1.4.0", "image_id": "sha256:abc",
                      "env": {"VOX_DEVICE": "cpu"}},
            "speech": {"protocol": "gradio"},
        }
    )  # fmt: skip
    limits = ContainerLimits(memory="4g", env={"HF_HOME": "/cache"})
    args = container_run_args(
        image="", image_id="", slot="green", version="1.4.0", port=41234, owner="o1",
        limits=limits, service=service,
    )  # fmt: skip
    assert args["image"] == "sha256:abc"
    assert args["ports"] == {"7860/tcp": ("127.0.0.1", 41234)}
    assert args["environment"] == {"VOX_DEVICE": "cpu", "HF_HOME": "/cache"}
    assert args["labels"][KIND_LABEL] == "service" and args["mem_limit"] == "4g"
    command = ServiceManifest.model_validate(
        {"name": "glm", "languages": ["en-US"], "sample_rate": 24000, "command": {"argv": ["x"]}}
    )
    with pytest.raises(ContainerError, match='runtime = "process"'):
        container_run_args(
            image="", image_id="", slot="blue", version="1.0.0", port=1, owner="o1",
            limits=limits, service=command,
        )  # fmt: skip


def test_the_process_runtime_refuses_an_image_service_naming_the_container_runtime(
    tmp_path: Path,
) -> None:
    """An [image] service cannot run as a process: the error says which setting to change."""
    version = _version(tmp_path, "voxui", port=6006, image={"reference": "localhost/voxui:1"})
    runtime = SlotRuntime(tmp_path / "state", lambda _: version)
    with pytest.raises(RolloutError, match=r'\[agent\] runtime = "container"'):
        runtime.start("blue", "1.0.0")
    assert runtime.status("blue") is None


def test_a_command_that_crashes_on_load_is_exited_with_its_code_and_log(tmp_path: Path) -> None:
    """The slot says how the process ended and what it printed last."""
    crash = "import sys; print('model file missing', flush=True); sys.exit(3)"
    version = _version(tmp_path, "crashy", command={"argv": [sys.executable, "-c", crash]})
    runtime = SlotRuntime(tmp_path / "state", lambda _: version)
    earlier = tmp_path / "state" / "slots" / "green" / "serve.log"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("INFO: an earlier version shut down\n")  # the slot's log before
    runtime.start("green", "1.0.0")
    info = _settle(runtime, "green")
    assert (info.state, info.kind) == ("exited", "service")
    assert info.detail == "exited with code 3: model file missing"
    runtime.stop("green")


def test_a_server_that_answers_http_but_no_speech_fails_at_its_start_timeout(
    tmp_path: Path,
) -> None:
    """A plain HTTP server is up but never ready: failed after start_timeout_s, naming its
    answer; stopping the slot ends the process."""
    version = _version(
        tmp_path, "webonly", start_timeout_s=2,
        command={"argv": [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"]},
        ready={"interval_s": 0.2},
    )  # fmt: skip
    runtime = SlotRuntime(tmp_path / "state", lambda _: version)
    runtime.start("blue", "1.0.0")
    info = _settle(runtime, "blue")
    assert info.state == "failed", info
    assert info.detail.startswith("not ready within 2 s: ")
    assert "501" in info.detail or "404" in info.detail
    pid = info.pid
    assert pid is not None and Path(f"/proc/{pid}").exists()
    runtime.stop("blue")
    assert runtime.status("blue") is None
    assert (
        not Path(f"/proc/{pid}/cmdline").exists()
        or b"http.server" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    )


def _silent_version(tmp_path: Path, start_timeout_s: float = 2) -> Path:
    return _version(
        tmp_path, "silent", start_timeout_s=start_timeout_s,
        command={"argv": [sys.executable, str(SILENT), "{port}"]},
        speech={"protocol": "http", "path": "/tts", "json_body": '{"text": {{ text | tojson }}}'},
        ready={"interval_s": 0.2},
    )  # fmt: skip


def test_a_service_that_answers_silence_never_becomes_ready(tmp_path: Path) -> None:
    """HTTP 200 with a WAV of zeros is not readiness: failed, saying it was silence."""
    runtime = SlotRuntime(tmp_path / "state", lambda _: _silent_version(tmp_path))
    runtime.start("blue", "1.0.0")
    info = _settle(runtime, "blue")
    assert info.state == "failed", info
    assert info.detail == "not ready within 2 s: answered 2.0 s of silence"
    assert info.runs is not None and "silent_service.py" in info.runs
    runtime.stop("blue")


def test_the_patrol_probe_of_a_service_catches_silence_and_no_answer(tmp_path: Path) -> None:
    """Through the service's own protocol: silence and a refused connection both fail."""
    import subprocess

    port = free_port()
    proc = subprocess.Popen([sys.executable, str(SILENT), str(port)])
    spec = HttpSpeech(protocol="http", path="/tts", json_body='{"text": {{ text | tojson }}}')
    speaker = open_speaker(spec, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 20
        reason = probe_speaker(speaker, "Hello there.")
        while reason is not None and "silence" not in reason and time.monotonic() < deadline:
            time.sleep(0.1)
            reason = probe_speaker(speaker, "Hello there.")
        assert reason == "answered 2.0 s of silence"
    finally:
        speaker.close()
        proc.terminate()
        proc.wait()
    refused = open_speaker(spec, f"http://127.0.0.1:{free_port()}")
    try:
        assert probe_speaker(refused, "Hello there.") is not None
    finally:
        refused.close()


def test_ttsops_status_marks_a_service_slot() -> None:
    """The slots table says which slot runs a team's own service, beside its pid."""
    from ttsops.cli.deploy import slot_rows

    row = {"slot": "blue", "version": "1.0.0", "state": "ready", "weight": 100}
    row |= {"backup": False, "port": 4001, "pid": 77, "kind": "service"}
    assert slot_rows([row])[0][-1] == "pid 77 (service)"
    assert slot_rows([{**row, "kind": "bundle"}])[0][-1] == "pid 77"
