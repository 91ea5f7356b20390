"""`ttsops init` writing into a repository: lists what it wrote, never overwrites unasked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ttsops.cli import app
from ttsops.errors import InitError
from ttsops.init import InitOptions, plan_files, write_files

_RUNNER = CliRunner()


def test_an_empty_repository_gets_every_file_listed(tmp_path: Path) -> None:
    """Each planned file is created and listed with what it is and how to check it."""
    files = plan_files(InitOptions(ci="github", monitoring=True, systemd=True))
    written = write_files(tmp_path, files)
    assert [w.path for w in written] == [f.path for f in files]
    assert {w.action for w in written} == {"created"}
    for planned in files:
        assert (tmp_path / planned.path).read_text(encoding="utf-8") == planned.text
    on_disk = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert on_disk == {f.path for f in files}  # no temporary file left behind


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    """Running init again with the same options leaves every file as it is."""
    files = plan_files(InitOptions(ci="gitlab", systemd=True))
    write_files(tmp_path, files)
    again = write_files(tmp_path, files)
    assert {w.action for w in again} == {"unchanged"}


def test_an_edited_file_stops_everything_without_force(tmp_path: Path) -> None:
    """One file with other content: refused, naming it, and no other file is written."""
    (tmp_path / "compose.yaml").write_text("services: {mine: {image: x}}\n")
    files = plan_files(InitOptions(ci="github"))
    with pytest.raises(InitError, match=r"compose\.yaml.*--force"):
        write_files(tmp_path, files)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["compose.yaml"]
    assert (tmp_path / "compose.yaml").read_text() == "services: {mine: {image: x}}\n"


def test_force_overwrites_and_says_so(tmp_path: Path) -> None:
    """With force, the edited file is replaced and listed as overwritten."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    written = write_files(tmp_path, plan_files(InitOptions()), force=True)
    assert {w.path: w.action for w in written} == {
        "Dockerfile": "overwritten",
        "compose.yaml": "created",
    }
    assert (tmp_path / "Dockerfile").read_text().startswith("# Rendered by ttsops")


def test_a_directory_where_a_file_goes_is_refused(tmp_path: Path) -> None:
    """A directory named like a file init writes is an error, not a crash."""
    (tmp_path / "compose.yaml").mkdir()
    with pytest.raises(InitError, match="is a directory"):
        write_files(tmp_path, plan_files(InitOptions()))


def test_cli_json_lists_the_files_and_finds_the_bundle(tmp_path: Path) -> None:
    """`--json` prints {dir, files}; the bundle directory and its name are found in the repo."""
    bundle = tmp_path / "voices" / "amy"
    bundle.mkdir(parents=True)
    (bundle / "bundle.toml").write_text("not a manifest\n")
    hidden = tmp_path / ".cache" / "old"  # a hidden directory's bundle is not the repo's
    hidden.mkdir(parents=True)
    (hidden / "bundle.toml").write_text("not a manifest\n")
    result = _RUNNER.invoke(app, ["init", "--dir", str(tmp_path), "--ci", "github", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["dir"] == str(tmp_path)
    assert [f["path"] for f in data["files"]] == [
        "Dockerfile",
        "compose.yaml",
        ".github/workflows/ttsops-release.yml",
    ]
    workflow = (tmp_path / ".github/workflows/ttsops-release.yml").read_text()
    assert "BUNDLE: voices/amy" in workflow
    assert "IMAGE: amy" in workflow


def test_cli_systemd_unit_runs_this_ttsops_by_default(tmp_path: Path) -> None:
    """The unit's ExecStart is the absolute path of the ttsops that wrote it."""
    result = _RUNNER.invoke(app, ["init", "--dir", str(tmp_path), "--systemd"])
    assert result.exit_code == 0, result.output
    unit = (tmp_path / "deploy/systemd/ttsops-agent.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    binary = Path(exec_start.removeprefix("ExecStart=").split()[0])
    assert binary.is_absolute() and binary.is_file()


def test_cli_refusal_is_exit_1_with_the_fix(tmp_path: Path) -> None:
    """An existing, different Dockerfile: exit 1, one error line naming it and --force."""
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    done = subprocess.run(
        [sys.executable, "-m", "ttsops", "init", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "Dockerfile" in done.stderr and "--force" in done.stderr
    assert not (tmp_path / "compose.yaml").exists()


def test_cli_bad_ci_is_a_usage_error(tmp_path: Path) -> None:
    """`--ci jenkins` is exit 2 naming the choices."""
    result = _RUNNER.invoke(app, ["init", "--dir", str(tmp_path), "--ci", "jenkins"])
    assert result.exit_code == 2
    assert "github or gitlab" in result.output
