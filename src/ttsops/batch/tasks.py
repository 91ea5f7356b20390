"""Reading batch tasks from JSONL, one line at a time, and validating each.

A line is a JSON object with ``input_text`` and ``output_name`` (required) and ``voice``,
``speed``, ``response_format``, ``sample_rate``, ``prompt_audio`` (a reference clip: a path
relative to the tasks file, or absolute) and ``prompt_text`` (what the clip says) (optional);
any other fields ride along into ``results.jsonl`` under ``extra``. A line that cannot become a task
is yielded as a ``BadLine`` with its number and the reason, and the reading goes on.

The file is never loaded whole: only the set of output names seen so far is kept, to
refuse duplicates (the first occurrence wins).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttsops.errors import BatchError
from ttsops.server.audio import FORMATS, AudioFormat

__all__ = [
    "KNOWN_FIELDS",
    "RESERVED_DIR",
    "BadLine",
    "Task",
    "TaskDefaults",
    "count_lines",
    "final_name",
    "read_tasks",
]

KNOWN_FIELDS = frozenset(
    {
        "input_text",
        "output_name",
        "voice",
        "speed",
        "response_format",
        "sample_rate",
        "prompt_audio",
        "prompt_text",
    }
)
RESERVED_DIR = ".ttsops-batch"
"""Hidden work directory ttsops keeps inside the output; no task may write there."""

_EXTENSIONS: dict[str, AudioFormat] = {f".{fmt}": fmt for fmt in FORMATS}
_MAX_COMPONENT_BYTES = 255
_MIN_SPEED, _MAX_SPEED = 0.25, 4.0


@dataclass(frozen=True)
class TaskDefaults:
    """Values a task gets for the optional fields it leaves out."""

    response_format: AudioFormat = "wav"
    """Audio format when neither the line nor the output name's extension says."""

    voice: str | None = None
    """Voice when the line has none; ``None`` means the model's default voice."""

    speed: float = 1.0
    """Speaking rate when the line has none."""

    sample_rate: int | None = None
    """Output sample rate when the line has none; ``None`` keeps the model's rate."""


@dataclass(frozen=True)
class Task:
    """One validated line: what to say, how, and where to put it."""

    line: int
    """1-based line number in the tasks file."""

    input_text: str
    """Text to speak."""

    output_name: str
    """The name exactly as the line gave it."""

    path: str
    """Where the audio goes, relative to the output: normalised, with the format's extension."""

    response_format: AudioFormat
    """Audio format of the file."""

    voice: str | None
    """Voice name, or ``None`` for the model's default."""

    speed: float
    """Speaking rate, 0.25–4.0."""

    sample_rate: int | None
    """Requested output sample rate, or ``None`` for the model's."""

    prompt_audio: str | None = None
    """Reference clip the voice should sound like (matched or cloned, as the engine can): the
    path as given; the runner resolves it against the tasks file's folder."""

    prompt_text: str | None = None
    """What the reference clip says, if the line says (engines that clone may use it)."""

    extra: dict[str, Any] = field(default_factory=dict)
    """Fields the line had beyond the known ones, carried into the results."""


@dataclass(frozen=True)
class BadLine:
    """A line that could not become a task, and why."""

    line: int
    """1-based line number in the tasks file."""

    reason: str
    """What is wrong and how to fix it."""

    output_name: str | None = None
    """The line's output name, when it had a readable one."""


def final_name(output_name: str, fmt: AudioFormat) -> str:
    """The output name as given if it ends in ``.{fmt}``, else with ``.{fmt}`` appended."""
    return output_name if output_name.lower().endswith(f".{fmt}") else f"{output_name}.{fmt}"


def count_lines(path: Path) -> int:
    """Number of non-blank lines, read in a streaming pass (for a progress total)."""
    with path.open("rb") as handle:
        return sum(1 for raw in handle if raw.strip())


def read_tasks(path: Path, defaults: TaskDefaults | None = None) -> Iterator[Task | BadLine]:
    """Yield a ``Task`` or ``BadLine`` per non-blank line of ``path``, streaming."""
    defaults = defaults or TaskDefaults()
    if not path.is_file():
        raise BatchError(
            f"tasks file {path} does not exist or is not a file; pass a JSONL file with one "
            'object a line such as {"input_text": "Hello.", "output_name": "hello"}'
        )
    seen: set[str] = set()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            item = _parse_line(number, raw, defaults)
            if isinstance(item, Task):
                if item.path in seen:
                    item = BadLine(
                        number,
                        f"output_name {item.output_name!r} gives {item.path!r}, which an earlier "
                        "line already writes; give each line its own output_name",
                        item.output_name,
                    )
                else:
                    seen.add(item.path)
            yield item


def _parse_line(number: int, raw: bytes, defaults: TaskDefaults) -> Task | BadLine:
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        return BadLine(number, f"not UTF-8 ({exc.reason} at byte {exc.start}); save as UTF-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return BadLine(number, f"not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(data, dict):
        return BadLine(number, f"a line must be a JSON object, got {type(data).__name__}")
    name = data.get("output_name")
    try:
        return _task(number, data, defaults)
    except _LineError as exc:
        return BadLine(number, str(exc), name if isinstance(name, str) else None)


class _LineError(ValueError):
    """A field of a line is missing or wrong."""


def _task(number: int, data: Mapping[str, Any], defaults: TaskDefaults) -> Task:
    text = data.get("input_text")
    if not isinstance(text, str) or not text.strip():
        raise _LineError(_missing("input_text", text, "the text to speak"))
    name = data.get("output_name")
    if not isinstance(name, str) or not name.strip():
        raise _LineError(_missing("output_name", name, "a relative file name such as ch01/p001"))
    fmt = _format(data.get("response_format"), name, defaults.response_format)
    path = final_name(_safe_path(name), fmt)
    if len(path.rpartition("/")[2].encode()) > _MAX_COMPONENT_BYTES:
        raise _LineError(f"output_name {name[:40]!r}… is too long for a file name; shorten it")
    return Task(
        line=number,
        input_text=text,
        output_name=name,
        path=path,
        response_format=fmt,
        voice=_optional_str(data, "voice", defaults.voice),
        speed=_speed(data.get("speed", defaults.speed)),
        sample_rate=_sample_rate(data.get("sample_rate", defaults.sample_rate)),
        prompt_audio=_optional_str(data, "prompt_audio", None),
        prompt_text=_optional_str(data, "prompt_text", None),
        extra={k: v for k, v in data.items() if k not in KNOWN_FIELDS},
    )


def _missing(key: str, value: object, what: str) -> str:
    if value is None:
        return f'missing required field "{key}" ({what})'
    return f'"{key}" must be a non-empty string ({what}), got {json.dumps(value)[:60]}'


def _format(value: object, name: str, default: AudioFormat) -> AudioFormat:
    if value is None:
        # No format on the line: an audio extension on the name decides, else the default.
        return _EXTENSIONS.get(posixpath.splitext(name)[1].lower(), default)
    if value not in FORMATS:
        raise _LineError(
            f'"response_format" {json.dumps(value)[:40]} is not one of {", ".join(FORMATS)}'
        )
    return value


def _safe_path(name: str) -> str:
    # Plain string work, not PurePosixPath: pathlib interns every part, which would keep
    # all the names of a 100k-line file in memory twice.
    if "\x00" in name or "\\" in name:
        raise _LineError(
            f"output_name {name!r} contains a NUL or backslash; use '/' between folders"
        )
    if name.startswith("/"):
        raise _LineError(
            f"output_name {name!r} is absolute; it must be relative to the output "
            "directory, e.g. ch01/p001"
        )
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _LineError(
            f"output_name {name!r} escapes the output directory with '..'; use a name inside it"
        )
    if name.endswith("/") or not parts:
        raise _LineError(f"output_name {name!r} names a directory; give a file name")
    if parts[0] == RESERVED_DIR:
        raise _LineError(f"output_name {name!r} is inside {RESERVED_DIR}/, which ttsops keeps")
    for part in parts:
        if len(part.encode()) > _MAX_COMPONENT_BYTES:
            raise _LineError(
                f"output_name {name[:40]!r}… has a part longer than "
                f"{_MAX_COMPONENT_BYTES} bytes; shorten it"
            )
    return "/".join(parts)


def _optional_str(data: Mapping[str, Any], key: str, default: str | None) -> str | None:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or not value:
        raise _LineError(f'"{key}" must be a non-empty string, got {json.dumps(value)[:60]}')
    return value


def _speed(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _LineError(f'"speed" must be a number from 0.25 to 4.0, got {json.dumps(value)[:40]}')
    if not _MIN_SPEED <= value <= _MAX_SPEED:
        raise _LineError(f'"speed" {value} is out of range; use 0.25 to 4.0 (1.0 is normal)')
    return float(value)


def _sample_rate(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _LineError(
            f'"sample_rate" must be a positive integer in Hz such as 16000, '
            f"got {json.dumps(value)[:40]}"
        )
    return value
