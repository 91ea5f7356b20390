"""joe as a team's own service: a command service that runs a real `ttsops serve` of joe.

The service is a black box to ttsops: a ``service.toml`` whose ``[command]`` starts
``python -m ttsops serve --bundle JOE --port {port}`` and speaks the OpenAI API, exactly
as a team's own OpenAI-compatible server would be described.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import tomli_w

__all__ = ["joe_serve_argv", "write_service"]


def write_service(
    out: Path,
    argv: list[str],
    *,
    name: str = "joe-svc",
    start_timeout_s: float = 120.0,
    files: dict[str, str] | None = None,
    **extra: Any,
) -> Path:
    """A directory holding ``service.toml`` for ``argv`` (and ``files``, name → text)."""
    out.mkdir(parents=True, exist_ok=True)
    for rel, text in (files or {}).items():
        (out / rel).write_text(text, encoding="utf-8")
    home = out / "home"
    data: dict[str, Any] = {
        "name": name,
        "languages": ["en-US"],
        "sample_rate": 22050,
        "start_timeout_s": start_timeout_s,
        "command": {
            "argv": argv,
            "cwd": ".",
            "env": {"TTSOPS_HOME": str(home)},
            "files": sorted(files or {}),
        },
        "speech": {"protocol": "openai"},
        "ready": {"interval_s": 0.5},
        **extra,
    }
    (out / "service.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
    return out


def joe_serve_argv(joe_bundle: Path) -> list[str]:
    """The argv of a real `ttsops serve` of joe on the slot's port."""
    return [
        sys.executable,
        "-m",
        "ttsops",
        "serve",
        "--bundle",
        str(joe_bundle),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
    ]
