"""`ttsops status`'s slots table: what each slot runs as, a process or a container."""

from __future__ import annotations

import pytest

from ttsops.cli import output
from ttsops.cli.deploy import SLOT_COLUMNS, slot_rows
from ttsops.rollout.agent import SlotView


def test_slots_table_names_the_pid_or_the_container(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process slot shows `pid N`, a container slot its short container id, never `None`."""
    views = [
        SlotView("blue", "1.0.0", "ready", 4242, 41001, 100, False, ""),
        SlotView("green", "1.1.0", "starting", None, 41002, 0, False, "", "1a2b3c4d5e6f"),
        SlotView("blue", "0.9.0", "exited", None, None, 0, False, "exit 1"),
    ]
    monkeypatch.setattr(output.console, "width", 200)
    output.table("slots", SLOT_COLUMNS, slot_rows([view.__dict__ for view in views]))
    lines = capsys.readouterr().out.splitlines()
    process = next(line for line in lines if "1.0.0" in line)
    container = next(line for line in lines if "1.1.0" in line)
    exited = next(line for line in lines if "0.9.0" in line)
    assert "pid 4242" in process
    assert "container 1a2b3c4d5e6f" in container and "pid" not in container
    assert "None" not in "\n".join(lines) and "pid" not in exited
