"""Processes by PID: the children the router's nginx check reads from /proc."""

from __future__ import annotations

import os
import subprocess
import sys

from ttsops.rollout.procs import children


def test_children_lists_a_running_child_with_its_command_line() -> None:
    """A child started here is listed under this PID with its argv; once reaped it is gone."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "marker-arg"])
    try:
        found = children(os.getpid())
        assert child.pid in found
        assert "marker-arg" in found[child.pid]
    finally:
        child.kill()
        child.wait()
    assert child.pid not in children(os.getpid())


def test_a_pid_without_children_has_none() -> None:
    """A process that started nothing has no children."""
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as child:
        try:
            assert children(child.pid) == {}
        finally:
            child.kill()
