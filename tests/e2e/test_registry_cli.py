"""The registry commands as a user runs them: `ttsops` subprocesses on a throwaway state dir."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from ttsops.bundle import load_manifest, verify_bundle, write_manifest
from ttsops.registry import Ledger


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTSOPS_", "AWS_"))}
    return {**env, "TTSOPS_HOME": str(home), "COLUMNS": "200", **extra}


def ttsops(*args: str, home: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``ttsops ARGS`` with its state under ``home`` (and cwd there: not a git repo)."""
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        cwd=home,
        env=_env(home, **extra),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def ttsops_many(
    commands: list[tuple[tuple[str, ...], dict[str, str]]], home: Path
) -> list[subprocess.CompletedProcess[str]]:
    """Run several independent ``ttsops`` commands at once (saves start-up time), in order."""
    home.mkdir(parents=True, exist_ok=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "ttsops", *args],
            cwd=home,
            env=_env(home, **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args, extra in commands
    ]
    results = []
    for (args, _), proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=300)
        results.append(subprocess.CompletedProcess([*args], proc.returncode, out, err))
    return results


def _variant(joe_bundle: Path, dst: Path, noise_scale: float) -> Path:
    """joe (hard-linked files) with another engine setting, derived from joe@1.0.0."""
    shutil.copytree(joe_bundle, dst, copy_function=os.link)
    manifest = load_manifest(dst)
    options = {**manifest.engine_options, "noise_scale": noise_scale}
    source = manifest.source.model_copy(update={"parent": "joe@1.0.0"})
    write_manifest(dst, manifest.model_copy(update={"engine_options": options, "source": source}))
    return dst


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_register_list_show_fetch_history_gc(joe_bundle: Path, tmp_path: Path) -> None:
    """A release session: register twice, list, show, fetch, read history, collect garbage."""
    home = tmp_path / "home"
    first = ttsops("register", str(joe_bundle), "--version", "v1.0.0", "--trigger", "ci", home=home)
    assert first.returncode == 0, first.stderr
    assert "registered joe@1.0.0 (production): 3 blobs uploaded" in first.stdout
    newer = _variant(joe_bundle, tmp_path / "joe-1.1", noise_scale=0.5)
    again, second = ttsops_many(
        [
            (("register", str(joe_bundle), "--version", "1.0.0"), {}),
            (("register", str(newer), "--version", "1.1.0"), {}),
        ],
        home,
    )
    assert again.returncode == 0, again.stderr
    assert "already registered with this digest" in again.stdout
    assert "nothing to do" in again.stdout
    assert second.returncode == 0, second.stderr

    out = tmp_path / "fetched"
    listed, shown, derived, table, fetched, history = ttsops_many(
        [
            (("versions", "--json"), {}),
            (("show", "v1.0.0", "--json"), {}),
            (("show", "1.1.0", "--json"), {}),
            (("show", "1.0.0"), {}),
            (("fetch", "v1.0.0", "--out", str(out)), {}),
            (("history", "--json"), {}),
        ],
        home,
    )
    versions = json.loads(listed.stdout)
    assert [(v["version"], v["stage"], v["trigger"]) for v in versions] == [
        ("1.1.0", "production", "default"),
        ("1.0.0", "production", "ci"),
    ]
    record = json.loads(shown.stdout)
    assert record["digest"] == load_manifest(joe_bundle).digest
    files = {"en_US-joe-medium.onnx", "en_US-joe-medium.onnx.json"}
    assert set(record["manifest"]["files"]) == files
    assert (record["gate_reports"], record["deployments"]) == ([], [])
    assert json.loads(derived.stdout)["lineage"] == ["joe@1.0.0"]
    assert "en_US-joe-medium.onnx" in table.stdout
    assert "no gate run yet" in table.stdout
    assert fetched.returncode == 0, fetched.stderr
    assert "2 files verified" in fetched.stdout
    assert verify_bundle(out).digest == record["digest"]
    events = json.loads(history.stdout)["events"]
    assert [(e["kind"], e["version"]) for e in events] == [
        ("version.registered", "1.1.0"),
        ("version.registered", "1.0.0"),
    ]

    gc = ttsops("gc", "--keep", "1", home=home)
    assert gc.returncode == 0, gc.stderr
    # 1.1.0 shares the model files, so only 1.0.0's manifest blob is freed.
    assert "gc freed" in gc.stdout
    assert "1 blob of 1.0.0" in gc.stdout
    assert "kept 1.1.0 (newest)" in gc.stdout
    assert verify_bundle(out).version == "1.0.0"


def test_bad_input_fails_with_a_message_and_no_traceback(tmp_path: Path) -> None:
    """Each bad input exits 1 with one clear line naming what failed; usage errors exit 2."""
    home = tmp_path / "home"
    (tmp_path / "empty").mkdir()
    port = _closed_port()
    cases = [
        (("register", str(tmp_path / "empty")), "is not a bundle: bundle.toml is missing", {}),
        (
            ("versions",),
            f"cannot open the ledger at postgresql+psycopg://ops:***@127.0.0.1:{port}/ledger",
            {"TTSOPS_LEDGER_URL": f"postgresql://ops:pw@127.0.0.1:{port}/ledger"},
        ),
        (
            ("fetch", "1.0.0"),
            f"store s3://voices/ttsops (endpoint http://127.0.0.1:{port}) cannot be reached",
            {
                "TTSOPS_STORE_URL": "s3://voices/ttsops",
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                "AWS_ACCESS_KEY_ID": "ops",
                "AWS_SECRET_ACCESS_KEY": "secret",
            },
        ),
    ]
    commands = [(args, extra) for args, _, extra in cases]
    *errors, usage = ttsops_many([*commands, (("gc",), {})], home)  # gc without --keep
    for (args, message, _), done in zip(cases, errors, strict=True):
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    assert usage.returncode == 2
    assert "--keep" in usage.stderr


def test_two_register_processes_race(joe_bundle: Path, tmp_path: Path) -> None:
    """Two `ttsops register` of different bundles as one version at once: one wins, one is told."""
    home = tmp_path / "home"
    home.mkdir()
    bundles = [_variant(joe_bundle, tmp_path / f"joe-{i}", noise_scale=0.1 * i) for i in (1, 2)]
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "ttsops", "register", str(b), "--version", "2.0.0"],
            cwd=home,
            env=_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for b in bundles
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in racers]
    assert sorted(code for code, _, _ in results) == [0, 1], results
    winner = bundles[[code for code, _, _ in results].index(0)]
    loser_err = next(err for code, _, err in results if code == 1)
    assert "version 2.0.0 is already registered with digest" in loser_err
    assert "Traceback" not in loser_err
    with Ledger.open(f"sqlite:///{home / 'ledger.db'}") as ledger:
        [record] = ledger.list_versions()
        assert (record.version, record.digest) == ("2.0.0", load_manifest(winner).digest)
        assert len(ledger.list_events()) == 1
    fetched = ttsops("fetch", "2.0.0", home=home)
    assert fetched.returncode == 0, fetched.stderr
