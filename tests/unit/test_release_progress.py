"""How `ttsops release` and the CLI print: gate progress in a CI log, messages as written."""

from __future__ import annotations

import pytest

from ttsops.cli.release import _Printer
from ttsops.release import Update


def test_ci_log_follows_every_round_of_the_gate(capsys: pytest.CaptureFixture[str]) -> None:
    """Each round the gate adds keeps the log moving: lines up to 30/30, not only 10/10."""
    printer = _Printer(to_stderr=False)
    for total in (10, 20, 30):  # the gate plans 10 sentences a round
        for done in range(total - 10, total + 1):
            printer(Update("gate", "scoring", done, total))
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == "gate: 0/10"
    assert "gate: 10/10" in lines
    assert "gate: 15/20" in lines
    assert lines[-1] == "gate: 30/30"
    assert len(lines) == len(set(lines)) <= 12  # a few lines a round, never one per sentence


def test_messages_keep_their_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    """A message naming a settings section ("[patrol]") is printed as written, not as markup."""
    from ttsops.cli import output

    output.error("set [server] voice_aliases in ttsops.toml")
    output.info("off ([patrol] enabled = false)")
    output.fields(None, [("patrol", "off ([patrol] enabled = false)")])
    output.table(None, ["id", "reason"], [[1, "see [canary] steps"]])
    printer = _Printer(to_stderr=False)
    printer(Update("step", "agent from [targets.production]"))
    captured = capsys.readouterr()
    assert "set [server] voice_aliases" in captured.err
    assert captured.out.count("[patrol] enabled") == 2
    assert "see [canary] steps" in captured.out
    assert "agent from [targets.production]" in captured.out
