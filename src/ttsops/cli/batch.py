"""`ttsops batch`: synthesize every line of a JSONL file into audio files, resumably.

Exit codes: 0 every task done, 1 the batch could not run or stopped early (message says
why), 2 usage error, 3 the batch ran but some tasks or lines made no audio (``failed.jsonl``).

The default service URL is read here from ``TTSOPS_SERVER_URL`` (default the router's
``http://127.0.0.1:6006``) until settings grow a client section.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ttsops.cli import output

if TYPE_CHECKING:
    from ttsops.batch import Backend, BatchSummary
    from ttsops.batch.speech_options import SpeechFlags

__all__ = ["DEFAULT_SERVER_URL", "batch"]

DEFAULT_SERVER_URL = "http://127.0.0.1:6006"
_MAX_WARNINGS = 20


def batch(
    tasks: Annotated[Path, typer.Argument(help="JSONL file: one task object a line.")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Directory to write audio files into.")
    ] = None,
    zip_path: Annotated[
        Path | None, typer.Option("--zip", help="Write one zip instead of a directory.")
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            help=f"Service URL (default $TTSOPS_SERVER_URL or {DEFAULT_SERVER_URL}, the router).",
        ),
    ] = None,
    bundle: Annotated[
        Path | None,
        typer.Option("--bundle", help="Synthesize in-process with this bundle; no server."),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(help="Tasks in flight at once (default: from the server's pool size)."),
    ] = None,
    retries: Annotated[
        int, typer.Option(help="Extra attempts after a 503, timeout or connection error.")
    ] = 6,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for one request.")] = 300.0,
    response_format: Annotated[
        str,
        typer.Option(
            "--format", help="Format for lines without response_format: wav mp3 opus aac flac pcm."
        ),
    ] = "wav",
    voice: Annotated[
        str | None, typer.Option(help="Voice for lines without one (default the model's).")
    ] = None,
    speed: Annotated[float, typer.Option(help="Speed for lines without one, 0.25-4.0.")] = 1.0,
    sample_rate: Annotated[
        int | None, typer.Option(help="Sample rate for lines without one (default the model's).")
    ] = None,
    protocol: Annotated[
        str | None,
        typer.Option(
            "--protocol",
            help="Speak to a team's own service at --server: openai, gradio or http "
            "(default: ttsops' own API).",
            rich_help_panel="Service",
        ),
    ] = None,
    api_name: Annotated[
        str | None,
        typer.Option(help="gradio: endpoint, e.g. /synthesize.", rich_help_panel="Service"),
    ] = None,
    text_param: Annotated[
        str | None,
        typer.Option(help="gradio: parameter taking the text.", rich_help_panel="Service"),
    ] = None,
    voice_param: Annotated[
        str | None,
        typer.Option(help="gradio: parameter taking the voice.", rich_help_panel="Service"),
    ] = None,
    reference_param: Annotated[
        str | None,
        typer.Option(
            help="gradio: parameter taking prompt_audio (uploaded as a file); http: its "
            "multipart field.",
            rich_help_panel="Service",
        ),
    ] = None,
    reference_text_param: Annotated[
        str | None,
        typer.Option(help="gradio: parameter taking prompt_text.", rich_help_panel="Service"),
    ] = None,
    path: Annotated[
        str | None,
        typer.Option(help="openai/http: route of the speech endpoint.", rich_help_panel="Service"),
    ] = None,
    body: Annotated[
        str | None,
        typer.Option(
            help="http: Jinja template of the JSON body, e.g. '{\"text\": {{ text | tojson }}}'.",
            rich_help_panel="Service",
        ),
    ] = None,
    audio: Annotated[
        str | None,
        typer.Option(
            help="http: where the audio is: body, base64, url.", rich_help_panel="Service"
        ),
    ] = None,
    audio_field: Annotated[
        str | None,
        typer.Option(help="http: JSON field of base64/url audio.", rich_help_panel="Service"),
    ] = None,
    speech: Annotated[
        Path | None,
        typer.Option(
            "--speech",
            help="A service.toml (or its directory), or a TOML file with a \\[speech] table.",
            rich_help_panel="Service",
        ),
    ] = None,
    service_version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help="A registered version: speak its own protocol to --server (the router).",
            rich_help_panel="Service",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on stdout.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or warnings.")] = (
        False
    ),
) -> None:
    """Synthesize every line of TASKS (JSONL) into audio files; rerun to resume.

    A line: {"input_text": "Hello.", "output_name": "ch01/p001"} plus optional voice, speed,
    response_format, sample_rate, prompt_audio; other fields are kept in results.jsonl.

    Exit codes: 0 all done, 1 error, 2 usage, 3 some tasks failed (see failed.jsonl).

    A team's own service (a Gradio app, any HTTP API) is reached through its adapter with
    --protocol and its options, --speech service.toml, or --version V (the version's own
    \\[speech] table, from the registry); prompt_audio is then uploaded to it as a file.

    Example: ttsops batch book.jsonl --out book/ --server http://127.0.0.1:6006

    Example: ttsops batch lines.jsonl --out out/ --server http://127.0.0.1:7860
    --protocol gradio --api-name /synthesize --reference-param prompt_audio
    """
    from ttsops.batch import (
        BatchOptions,
        BundleBackend,
        HttpBackend,
        TaskDefaults,
        open_sink,
        run_batch,
    )
    from ttsops.batch.speech_options import SpeechFlags
    from ttsops.errors import BatchError
    from ttsops.server.audio import FORMATS

    if (out is None) == (zip_path is None):
        raise typer.BadParameter("pass exactly one of --out DIR or --zip FILE.zip")
    if server is not None and bundle is not None:
        raise typer.BadParameter("pass --server URL or --bundle DIR, not both")
    if response_format not in FORMATS:
        raise typer.BadParameter(f"--format {response_format!r} is not one of {', '.join(FORMATS)}")
    if not 0.25 <= speed <= 4.0:
        raise typer.BadParameter(f"--speed {speed} is out of range; use 0.25 to 4.0")
    options = BatchOptions(
        concurrency=concurrency,
        retries=retries,
        defaults=TaskDefaults(
            response_format=response_format,
            voice=voice,
            speed=speed,
            sample_rate=sample_rate,
        ),
    )
    url = server or os.environ.get("TTSOPS_SERVER_URL") or DEFAULT_SERVER_URL
    flags = SpeechFlags(
        protocol, api_name, text_param, voice_param, reference_param, reference_text_param,
        path, body, audio, audio_field,
    )  # fmt: skip
    if bundle is not None and (protocol or speech or service_version or flags.given()):
        raise typer.BadParameter("--bundle runs in-process: it takes no service options")
    backend: Backend
    if bundle is not None:
        backend = BundleBackend(bundle)
    else:
        backend = _service_backend(url, flags, speech, service_version, timeout) or HttpBackend(
            url, timeout
        )
    sink = open_sink(out, zip_path)
    try:
        if quiet:
            summary = run_batch(tasks, backend, sink, options)
        else:
            with output.progress() as bar:
                summary = run_batch(tasks, backend, sink, options, _BarReporter(bar))
    finally:
        backend.close()
    _report(summary, as_json)
    if summary.stopped:
        raise BatchError(summary.stopped)
    if summary.exit_code:
        output.error(
            f"failed tasks: {summary.failed}, bad lines: {summary.bad_lines}; see "
            f"{summary.failed_path}. Fix them and rerun the same command: done tasks are skipped"
        )
        raise typer.Exit(summary.exit_code)


def _service_backend(
    url: str,
    flags: SpeechFlags,
    speech: Path | None,
    version: str | None,
    timeout_s: float,
) -> Backend | None:
    """The adapter backend the service options ask for; None: ttsops' own API."""
    from ttsops.batch.speech_backend import ServiceInfo
    from ttsops.batch.speech_options import (
        read_speech_file,
        spec_from_flags,
        speech_backend,
        version_backend,
    )

    chosen = [n for n, v in (("--protocol", flags.protocol), ("--speech", speech),
              ("--version", version)) if v is not None]  # fmt: skip
    if len(chosen) > 1:
        raise typer.BadParameter(f"pass one of {', '.join(chosen)}: each says how to speak")
    if (speech is not None or version is not None) and flags.given():
        raise typer.BadParameter(
            f"{', '.join(flags.given())} go with --protocol; --speech and --version read "
            "the [speech] table instead"
        )
    if speech is not None:
        spec, info = read_speech_file(speech, timeout_s)
        return speech_backend(url, spec, info)
    if version is not None:
        from ttsops.registry import Registry
        from ttsops.settings import load_settings

        with Registry.open(load_settings()) as registry:
            fetched = registry.fetch(version)
        return version_backend(url, fetched.path, timeout_s)
    if flags.protocol is None:
        if flags.given():
            raise typer.BadParameter(
                f"{', '.join(flags.given())} need --protocol gradio|http|openai"
            )
        return None
    return speech_backend(url, spec_from_flags(flags, timeout_s), ServiceInfo())


class _BarReporter:
    """Draws the batch's progress: tasks, audio seconds, rate and ETA; warns on bad lines."""

    def __init__(self, bar: Any) -> None:
        self._bar = bar
        self._task: Any = None
        self._warnings = 0
        self._lock = threading.Lock()
        self._name = ""

    def start(self, summary: BatchSummary) -> None:
        self._name = summary.tasks_file.name
        self._task = self._bar.add_task("batch", total=summary.total, extra="")

    def update(self, summary: BatchSummary) -> None:
        wall = max(self._bar.tasks[0].elapsed or 0.0, 1e-6)
        extra = (
            f"{summary.audio_s:7.1f} s audio · {summary.done / wall:5.2f} tasks/s · "
            f"{summary.audio_s / wall:4.1f}× real time"
        )
        self._bar.update(self._task, completed=summary.processed, extra=extra)

    def problem(self, line: int, output_name: str | None, message: str) -> None:
        with self._lock:
            self._warnings += 1
            count = self._warnings
        if count <= _MAX_WARNINGS:
            output.warning(f"{self._name}:{line}: {message}")
        elif count == _MAX_WARNINGS + 1:
            output.warning("more problems: see failed.jsonl")


def _report(summary: BatchSummary, as_json: bool) -> None:
    data = summary.to_dict()
    if as_json:
        output.print_json(data)
        return
    versions = ", ".join(f"{v} ({n})" for v, n in summary.model_versions.items()) or "-"
    rows = [
        ("made now", summary.done),
        ("already done", summary.skipped),
        ("failed", summary.failed),
        ("bad lines", summary.bad_lines),
        ("retries", summary.retried),
        ("audio made", f"{summary.audio_s:.1f} s"),
        ("wall time", f"{summary.wall_s:.1f} s"),
        ("throughput", f"{data['tasks_per_s']} tasks/s, {data['realtime_factor']}× real time"),
        ("concurrency", summary.concurrency),
        ("model", versions),
        ("source", summary.where),
        ("output", summary.output),
        ("results", summary.results_path),
    ]
    if summary.failed or summary.bad_lines:
        rows.append(("failures", summary.failed_path))
    output.table(f"batch {summary.tasks_file}", ["", "value"], rows)
