"""The gate of a service candidate: a real `ttsops serve` of joe, run by command as a team's
own OpenAI-compatible server, gated against the joe bundle through `ttsops gate`.

Five short sentences of the shipped set (the fewest a verdict may rest on) keep it short;
the service speaks joe with the gate's seeds, so it must pass. A candidate service that
crashes while loading is a FAIL that names its log line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from joe_service import joe_serve_argv, write_service

from ttsops.gate import Outcome, load_eval_set, run_gate
from ttsops.gate.services import service_version_dir
from ttsops.settings import GateSettings

pytestmark = pytest.mark.slow

SHORT_IDS = ("pangram-01", "questions-01", "numbers-04", "questions-02", "numbers-06")


def _five(path: Path) -> Path:
    """Five short sentences of the shipped English set, as a team's own JSONL set."""
    rows = [u for u in load_eval_set().utterances if u.id in SHORT_IDS]
    path.write_text(
        "".join(
            json.dumps({"id": u.id, "text": u.text, "reference": u.reference}) + "\n" for u in rows
        ),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def gated(joe_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """`ttsops gate SERVICE_DIR --baseline JOE --json` once, as a user runs it."""
    root = tmp_path_factory.mktemp("gate-service")
    service = write_service(root / "joe-svc", joe_serve_argv(joe_bundle))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTSOPS_")}
    env |= {"TTSOPS_HOME": str(root / "home"), "COLUMNS": "200"}
    done = subprocess.run(
        [
            *(sys.executable, "-m", "ttsops", "gate", str(service)),
            *("--baseline", str(joe_bundle), "--eval-set", str(_five(root / "five.jsonl"))),
            *("--workers", "2", "--json"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    report: dict[str, object] = json.loads(done.stdout)
    report["exit"] = done.returncode
    return report


def test_a_service_speaking_joe_passes_against_joe(gated: dict[str, object]) -> None:
    """Same voice behind HTTP: every check passes, exit 0."""
    verdict = gated["verdict"]
    assert isinstance(verdict, dict)
    assert verdict["outcome"] == "pass", verdict
    assert gated["exit"] == 0


def test_the_service_was_heard_and_scored_like_a_bundle(gated: dict[str, object]) -> None:
    """The candidate is the service version (name@version from service.toml), its five
    sentences have transcripts, DNSMOS and a real-time factor; the report notes that a
    service may not honour the seed."""
    candidate = gated["candidate"]
    assert isinstance(candidate, dict)
    assert candidate["ref"] == "joe-svc@0.0.0"
    rows = [u for u in gated["utterances"] if u["role"] == "candidate"]  # type: ignore[attr-defined]
    assert len(rows) == 5
    assert all(r["transcript"] and r["metrics"]["ovrl"] and r["metrics"]["rtf"] for r in rows)
    notes = " ".join(gated["notes"])  # type: ignore[arg-type]
    assert "is a command service" in notes and "may not honour it" in notes
    assert "candidate_service" in gated["timing"]["load_s"]  # type: ignore[index]


def test_a_candidate_service_that_crashes_on_load_fails_the_gate(
    joe_bundle: Path, tmp_path: Path
) -> None:
    """Not an error of the gate: the candidate's verdict, with its last log line."""
    crash = "import sys; print('weights not found: /models/v2.pt', flush=True); sys.exit(4)"
    service = write_service(tmp_path / "svc", [sys.executable, "-c", crash])
    version = service_version_dir(service, tmp_path / "version")
    report = run_gate(
        version,
        joe_bundle,
        settings=GateSettings(),
        eval_set=load_eval_set().limit(5),
        workers=1,
    )
    assert report.verdict.outcome is Outcome.FAIL
    reason = " ".join(report.verdict.reasons)
    assert "did not load" in reason and "exited with code 4" in reason
    assert "weights not found" in reason
