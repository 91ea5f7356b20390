"""`ttsops bundle derive` and `ttsops gate` as a user runs them: exit codes, reports, ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from gate_fixtures import unloadable_bundle  # noqa: F401 - fixture

from ttsops.gate import load_eval_set
from ttsops.registry import Ledger

SHORT_IDS = {
    "pangram-01",
    "questions-01",
    "numbers-04",
    "questions-02",
    "numbers-06",
    "tongue-twister-01",
    "questions-03",
    "punctuation-02",
    "short-01",
    "punctuation-04",
    "questions-04",
    "punctuation-01",
    "punctuation-03",
    "names-03",
}


def ttsops(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``ttsops ARGS`` with its state dir (and cwd) at ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTSOPS_", "AWS_"))}
    return subprocess.run(
        [sys.executable, "-m", "ttsops", *args],
        cwd=home,
        env={**env, "TTSOPS_HOME": str(home), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def retrained(joe_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """joe 1.1.0 made with `ttsops bundle derive --perturb 0.01`."""
    root = tmp_path_factory.mktemp("cli-derive")
    out = root / "joe-1.1.0"
    result = ttsops(
        *("bundle", "derive", str(joe_bundle), "--out", str(out)),
        *("--version", "1.1.0", "--perturb", "0.01", "--seed", "0", "--json"),
        home=root,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["version"] == "1.1.0"
    assert manifest["source"]["recipe"] == "perturb sigma=0.01 seed=0"
    assert manifest["source"]["parent"].startswith("joe@1.0.0 ")
    return out


@pytest.fixture(scope="module")
def short_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """14 short sentences of the shipped set, as a team's own JSONL file."""
    path = tmp_path_factory.mktemp("eval") / "short.jsonl"
    lines = [
        json.dumps({"id": u.id, "text": u.text, "reference": u.reference})
        for u in load_eval_set().utterances
        if u.id in SHORT_IDS
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_derived_bundle_verifies(retrained: Path, tmp_path: Path) -> None:
    """`bundle derive` makes a bundle that `bundle verify` accepts."""
    result = ttsops("bundle", "verify", str(retrained), "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ref"] == "joe@1.1.0"


def test_derive_refuses_an_unknown_quantization(joe_bundle: Path, tmp_path: Path) -> None:
    """--quantize int4 is refused with exit 1 and the supported value."""
    result = ttsops(
        *("bundle", "derive", str(joe_bundle), "--out", str(tmp_path / "x")),
        *("--version", "2.0.0", "--quantize", "int4"),
        home=tmp_path,
    )
    assert result.returncode == 1
    assert "use --quantize int8" in result.stderr


def test_gate_of_a_registered_version_against_the_live_one(
    joe_bundle: Path, retrained: Path, short_set: Path, tmp_path: Path
) -> None:
    """`ttsops gate 1.1.0` compares with the live 1.0.0, passes (exit 0) and records it."""
    home = tmp_path / "home"
    for bundle in (joe_bundle, retrained):
        registered = ttsops("register", str(bundle), home=home)
        assert registered.returncode == 0, registered.stderr
    ledger = Ledger.open(f"sqlite:///{home / 'ledger.db'}")
    deployment = ledger.create_deployment("1.0.0", "immediate")
    ledger.update_deployment_state(deployment.id, "live")
    report, summary = tmp_path / "report", tmp_path / "summary.md"
    result = ttsops(
        *("gate", "v1.1.0", "--eval-set", str(short_set)),
        *("--report", str(report), "--summary", str(summary)),
        home=home,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate: PASS" in result.stdout
    assert "recorded in the ledger: gate report #1 on 1.1.0" in result.stdout
    stored = ledger.gate_reports("1.1.0")
    ledger.close()
    assert [(r.verdict.value, r.baseline) for r in stored] == [("pass", "1.0.0")]
    assert stored[0].summary["verdict"]["outcome"] == "pass"
    assert stored[0].report_uri == report.resolve().as_uri()
    markdown = (report / "report.md").read_text(encoding="utf-8")
    assert markdown.startswith("## ttsops gate: ✅ PASS — `joe@1.1.0` vs `joe@1.0.0`")
    assert summary.read_text(encoding="utf-8") == markdown
    assert json.loads((report / "report.json").read_text())["eval_set"]["count"] == 14
    assert (report / "metrics.png").stat().st_size > 10_000
    assert len(list((report / "audio" / "candidate").glob("*.wav"))) == 14
    _the_second_gate_uses_the_score_cache(home, short_set)


def _the_second_gate_uses_the_score_cache(home: Path, short_set: Path) -> None:
    """Gated again, the live baseline's scores come from the cache; --no-cache scores it."""
    again = ttsops("gate", "1.1.0", "--eval-set", str(short_set), home=home)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "baseline: 14 sentences from the score cache (scored " in again.stdout
    assert "decided after round 2 of at most 2 (14 sentences)" in again.stdout
    fresh = ttsops(
        *("gate", "1.1.0", "--eval-set", str(short_set), "--limit", "5"),
        *("--no-cache", "--json"),
        home=home,
    )
    data = json.loads(fresh.stdout)
    assert data["provenance"]["baseline"]["source"] == "fresh"
    assert data["provenance"]["cache"]["state"] == "refreshed"
    assert [r["baseline_scored"] for r in data["rounds"]] == [5]


def test_without_a_live_version_the_baseline_must_be_named(
    joe_bundle: Path, tmp_path: Path
) -> None:
    """No live version and no --baseline: exit 2, saying to pass --baseline."""
    result = ttsops("gate", str(joe_bundle), home=tmp_path)
    assert result.returncode == 2
    assert "pass --baseline VERSION" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_version_is_an_error(joe_bundle: Path, tmp_path: Path) -> None:
    """A candidate version the ledger does not know: exit 2 with the ledger's message."""
    result = ttsops("gate", "9.9.9", "--baseline", str(joe_bundle), home=tmp_path)
    assert result.returncode == 2
    assert "9.9.9" in result.stderr


def test_a_candidate_that_cannot_load_exits_1(
    unloadable_bundle: Path,  # noqa: F811
    joe_bundle: Path,
    tmp_path: Path,
    short_set: Path,
) -> None:
    """A bundle whose model onnxruntime cannot read fails the gate: exit 1, JSON says why."""
    result = ttsops(
        *("gate", str(unloadable_bundle), "--baseline", str(joe_bundle)),
        *("--eval-set", str(short_set), "--json"),
        home=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"]["outcome"] == "fail"
    assert "did not load" in data["verdict"]["message"]
    assert data["ledger"].startswith("not recorded in the ledger")
