"""`ttsops batch` through the speech seam: a real Gradio app and a real `ttsops serve`.

The Gradio app is a real ``gradio.Blocks`` on a loopback port in this process, speaking
with the real joe voice; its ``/synthesize`` takes ``text``, a ``prompt_audio`` file and a
``prompt_text``, and remembers the sha256 of every clip it was sent, so the test sees that
a batch line's ``prompt_audio`` arrived as an uploaded file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from ttsops.engines import Engine
from ttsops.testing import ServerProcess

NO_GRADIO_ADAPTER = importlib.util.find_spec("ttsops.speech.gradio") is None
needs_gradio = pytest.mark.skipif(
    NO_GRADIO_ADAPTER, reason="ttsops.speech.gradio (helper A's adapter) has not landed"
)


class GradioApp:
    """A real Gradio app of the joe voice with a reference-clip input, in this process."""

    def __init__(self, engine: Engine) -> None:
        import gradio as gr

        self.clips: list[str] = []
        """sha256 of each reference file the app received."""
        self.texts: list[str] = []

        def synthesize(text: str, prompt_audio: str | None, prompt_text: str) -> str:
            self.texts.append(text)
            if prompt_audio:
                self.clips.append(hashlib.sha256(Path(prompt_audio).read_bytes()).hexdigest())
            chunk = engine.synthesize(text, engine.voices[0], 1.0)
            pcm = (np.clip(chunk.samples, -1, 1) * 32767).astype("<i2")
            fd, path = tempfile.mkstemp(suffix=".wav")
            with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(engine.sample_rate)
                out.writeframes(pcm.tobytes())
            return path

        with gr.Blocks() as self.demo:
            text = gr.Textbox(label="Text")
            clip = gr.Audio(label="Prompt audio", type="filepath")
            clip_text = gr.Textbox(label="Prompt text")
            audio = gr.Audio(label="Audio", type="filepath")
            gr.Button("Speak").click(
                synthesize, [text, clip, clip_text], audio, api_name="synthesize"
            )
            gr.Button("Say").click(
                lambda text: synthesize(text, None, ""), [text], audio, api_name="say"
            )
        self.demo.queue(default_concurrency_limit=2)
        _, self.url, _ = self.demo.launch(
            server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True
        )
        self.url = self.url.rstrip("/")

    def close(self) -> None:
        """Stop the server."""
        self.demo.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gradio_app(joe_engine: Engine) -> Iterator[GradioApp]:
    """The Gradio app, shared by the module's tests."""
    app = GradioApp(joe_engine)
    try:
        yield app
    finally:
        app.close()


def _ttsops(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTSOPS_")}
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        cwd=cwd,
        env={**env, "TTSOPS_HOME": str(cwd / "home"), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _clip(path: Path, engine: Engine) -> Path:
    chunk = engine.synthesize("This is my voice, please copy it.", engine.voices[0], 1.0)
    soundfile.write(path, chunk.samples, engine.sample_rate)
    return path


@needs_gradio
def test_batch_speaks_to_a_gradio_app_and_uploads_prompt_audio(
    tmp_path: Path, gradio_app: GradioApp, joe_engine: Engine
) -> None:
    """--protocol gradio: every line is audio; prompt_audio reached the app as a file."""
    clip = _clip(tmp_path / "me.wav", joe_engine)
    tasks = _write(
        tmp_path / "tasks.jsonl",
        [
            {"input_text": "Plain line one.", "output_name": "a"},
            {"input_text": "In my voice.", "output_name": "b", "prompt_audio": "me.wav",
             "prompt_text": "This is my voice, please copy it."},
            {"input_text": "As mp3.", "output_name": "c", "response_format": "mp3"},
        ],
    )  # fmt: skip
    done = _ttsops(
        "batch", str(tasks), "--out", "out", "--server", gradio_app.url,
        "--protocol", "gradio", "--api-name", "/synthesize",
        "--reference-param", "prompt_audio", "--reference-text-param", "prompt_text",
        "--json", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert summary["done"] == 3 and summary["failed"] == 0
    rows = {r["output_name"]: r for r in _rows(tmp_path / "out" / "results.jsonl")}
    for name, ext in (("a", "wav"), ("b", "wav"), ("c", "mp3")):
        info = soundfile.info(tmp_path / "out" / f"{name}.{ext}")
        assert info.frames / info.samplerate > 0.3
        assert rows[name]["duration_s"] > 0.3
    assert hashlib.sha256(clip.read_bytes()).hexdigest() in gradio_app.clips
    assert "In my voice." in gradio_app.texts


@needs_gradio
def test_a_gradio_app_without_a_reference_input_refuses_prompt_audio_lines(
    tmp_path: Path, gradio_app: GradioApp, joe_engine: Engine
) -> None:
    """An endpoint without a reference input (no --reference-param): prompt_audio lines
    fail as unsupported before any request, the others are made."""
    _clip(tmp_path / "me.wav", joe_engine)
    tasks = _write(
        tmp_path / "tasks.jsonl",
        [
            {"input_text": "Plain.", "output_name": "a"},
            {"input_text": "Cloned.", "output_name": "b", "prompt_audio": "me.wav"},
        ],
    )
    done = _ttsops(
        "batch", str(tasks), "--out", "out", "--server", gradio_app.url,
        "--protocol", "gradio", "--api-name", "/say", "--json", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    failed = _rows(tmp_path / "out" / "failed.jsonl")
    assert [(f["output_name"], f["code"]) for f in failed] == [("b", "prompt_audio_unsupported")]
    assert (tmp_path / "out" / "a.wav").is_file()
    assert "Cloned." not in gradio_app.texts


def test_protocol_openai_goes_through_the_seam_to_ttsops_serve(
    tmp_path: Path, joe_server: ServerProcess
) -> None:
    """--protocol openai against `ttsops serve`: audio, and each result names joe's version."""
    tasks = _write(
        tmp_path / "tasks.jsonl",
        [{"input_text": f"Line {i}.", "output_name": f"l{i}"} for i in range(3)],
    )
    done = _ttsops(
        "batch", str(tasks), "--out", "out", "--server", joe_server.url,
        "--protocol", "openai", "--json", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _rows(tmp_path / "out" / "results.jsonl")
    assert {r["model_version"] for r in rows} == {"joe@1.0.0"}
    assert all(r["duration_s"] > 0.2 for r in rows)


def test_speech_file_and_flags_that_do_not_fit_are_refused_before_any_request(
    tmp_path: Path,
) -> None:
    """A flag of another protocol, two ways at once, or a file without [speech]: exit 1/2."""
    tasks = _write(tmp_path / "t.jsonl", [{"input_text": "x", "output_name": "x"}])
    url = "http://127.0.0.1:9"  # nothing listens: refusals must come before any request
    wrong = _ttsops(
        "batch", str(tasks), "-o", "o", "--server", url, "--protocol", "openai",
        "--api-name", "/x", cwd=tmp_path,
    )  # fmt: skip
    assert wrong.returncode == 1 and "--api-name do not apply to --protocol openai" in (
        " ".join(wrong.stderr.split())
    )
    (tmp_path / "s.toml").write_text('[speech]\nprotocol = "gradio"\napi_name = "/s"\n')
    both = _ttsops(
        "batch", str(tasks), "-o", "o", "--server", url, "--protocol", "gradio",
        "--speech", "s.toml", cwd=tmp_path,
    )  # fmt: skip
    assert both.returncode == 2 and "--speech" in both.stderr
    (tmp_path / "empty.toml").write_text('name = "x"\n')
    empty = _ttsops(
        "batch", str(tasks), "-o", "o", "--server", url, "--speech", "empty.toml", cwd=tmp_path
    )
    assert empty.returncode == 1 and "has no [speech] table" in " ".join(empty.stderr.split())
    assert not (tmp_path / "o" / "x.wav").exists()


@needs_gradio
def test_version_reads_the_registered_services_speech_table(
    tmp_path: Path, gradio_app: GradioApp
) -> None:
    """--version 1.2.0 of a registered service: its [speech] is used, results name it."""
    from ttsops.registry import Registry
    from ttsops.registry.services import register_service
    from ttsops.settings import load_settings

    app = tmp_path / "app"
    app.mkdir()
    (app / "app.py").write_text("# the app\n")
    (app / "service.toml").write_text(
        'name = "glmapp"\nlanguages = ["en-US"]\nsample_rate = 22050\n\n'
        '[command]\nargv = ["python", "app.py"]\nfiles = ["app.py"]\n\n'
        '[speech]\nprotocol = "gradio"\napi_name = "/synthesize"\n'
        'reference_audio = "prompt_audio"\nreference_text = "prompt_text"\n'
    )
    (tmp_path / "home").mkdir()
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(tmp_path / "home")})) as registry:
        register_service(registry, app / "service.toml", version="1.2.0")
    tasks = _write(tmp_path / "t.jsonl", [{"input_text": "From the ledger.", "output_name": "x"}])
    done = _ttsops(
        "batch", str(tasks), "-o", "out", "--server", gradio_app.url, "--version", "1.2.0",
        "--json", "--quiet", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    (row,) = _rows(tmp_path / "out" / "results.jsonl")
    assert row["model_version"] == "glmapp@1.2.0"
    assert "From the ledger." in gradio_app.texts
