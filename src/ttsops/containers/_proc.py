"""Running a host program with its output streamed line by line."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping

from ttsops.errors import ContainerError

__all__ = ["run_streamed"]


def run_streamed(
    argv: list[str],
    on_line: Callable[[str], None] | None,
    *,
    what: str,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """Run ``argv`` passing each output line (stdout and stderr) to ``on_line``; all lines.

    A non-zero exit raises ``ContainerError`` quoting the last lines; an exception in the
    caller (Ctrl-C) kills the program.
    """
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env=None if env is None else dict(env),
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            if on_line is not None:
                on_line(line)
    except BaseException:
        proc.kill()
        raise
    finally:
        code = proc.wait()
        proc.stdout.close()
    if code != 0:
        useful = [ln for ln in lines if ln.strip() and "systemd connection" not in ln]
        raise ContainerError(f"{what} failed (exit {code}): {' | '.join(useful[-4:])}")
    return lines
