"""The `ttsops` command as a user runs it: exit codes and messages."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def ttsops(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_help_lists_the_commands() -> None:
    """`ttsops --help` names the command groups and exits 0."""
    result = ttsops("--help")
    assert result.returncode == 0
    for command in ("bundle", "serve"):
        assert command in result.stdout


def test_bundle_default_then_verify(tmp_path: Path) -> None:
    """`bundle default` makes joe 1.0.0 and `bundle verify --json` confirms its digest."""
    made = ttsops("bundle", "default", "--out", str(tmp_path / "joe"), "--json")
    assert made.returncode == 0, made.stderr
    manifest = json.loads(made.stdout)
    assert (manifest["name"], manifest["version"]) == ("joe", "1.0.0")
    checked = ttsops("bundle", "verify", str(tmp_path / "joe"), "--json")
    assert checked.returncode == 0
    assert json.loads(checked.stdout)["digest"] == manifest["digest"]


def test_existing_output_is_not_overwritten_without_force(joe_bundle: Path) -> None:
    """`bundle default` into an existing directory refuses and says to use --force."""
    result = ttsops("bundle", "default", "--out", str(joe_bundle))
    assert result.returncode == 1
    assert "--force" in result.stderr


def test_usage_error_exits_2() -> None:
    """A missing argument is a usage error: exit 2."""
    assert ttsops("bundle", "verify").returncode == 2


def test_serve_refuses_a_tampered_bundle(joe_bundle: Path, tmp_path: Path) -> None:
    """`serve` on a bundle with a changed file exits 1 naming the file, with no traceback."""
    bundle = tmp_path / "joe"
    shutil.copytree(joe_bundle, bundle)
    with (bundle / "en_US-joe-medium.onnx").open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02\x03")
    result = ttsops("serve", "--bundle", str(bundle), "--port", "0", "--no-ui")
    assert result.returncode == 1
    assert "en_US-joe-medium.onnx has sha256" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_says_when_the_port_is_taken(joe_bundle: Path) -> None:
    """`serve` on a port already in use exits 1 and says to pick another port."""
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = ttsops("serve", "--bundle", str(joe_bundle), "--port", str(port), "--no-ui")
    assert result.returncode == 1
    assert "choose another --port" in result.stderr
