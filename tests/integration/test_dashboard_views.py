"""The dashboard's view models and pages on a real SQLite ledger and real report directories.

The gate reports here are written as the gate writes them (``report.json`` fields, WAVs
under ``audio/<role>/``) with chosen numbers, so the order of the sentences and where each
take's audio is found are known; the e2e test plays the audio of a real gate run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from ttsops.dashboard.auth import SESSION_S, read_session, sign_session
from ttsops.dashboard.gate_view import audio_file, build_gate
from ttsops.dashboard.timeline import build_history
from ttsops.registry import DeploymentState, EventKind, Ledger, Registry
from ttsops.render import render_template
from ttsops.settings import load_settings


@pytest.fixture
def ledger(tmp_path: Path, joe_bundle: Path) -> Iterator[Ledger]:
    """A real SQLite ledger with joe 1.0.0 registered."""
    with Registry.open(load_settings(env={"TTSOPS_HOME": str(tmp_path / "home")})) as registry:
        registry.register(joe_bundle)
        yield registry.ledger


def _take(role: str, uid: str, ovrl: float, wer: float) -> dict[str, Any]:
    return {
        "role": role,
        "id": uid,
        "text": f"Sentence {uid}.",
        "reference": f"sentence {uid}",
        "metrics": {"ovrl": ovrl, "wer": wer, "duration_s": 1.0},
        "transcript": f"sentence {uid}",
        "error": None,
    }


def _wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), np.zeros(2205, dtype=np.float32), 22050, subtype="PCM_16")


def _report(folder: Path, takes: list[dict[str, Any]], roles: tuple[str, ...]) -> dict[str, Any]:
    for take in takes:
        if take["role"] in roles:
            _wav(folder / "audio" / take["role"] / f"{take['id']}.wav")
    return {"verdict": {"outcome": "fail", "reasons": ["ovrl dropped"], "checks": []},
            "metrics": [], "utterances": takes}  # fmt: skip


def test_sentences_go_worst_first_and_a_cached_baseline_is_heard_from_an_earlier_report(
    ledger: Ledger, tmp_path: Path
) -> None:
    """OVRL drop + WER rise orders the sentences; cached baseline audio comes from report 1."""
    first = tmp_path / "first"
    base = [_take("baseline", uid, 3.5, 0.0) for uid in ("a", "b", "c")]
    one = ledger.record_gate_report(
        "1.0.0", "pass", summary=_report(first, base, ("baseline",)),
        baseline="1.0.0", report_uri=first.as_uri(),
    )  # fmt: skip
    second = tmp_path / "second"
    cand = [_take("candidate", "a", 3.4, 0.0), _take("candidate", "b", 2.0, 0.5)]
    cand.append(_take("candidate", "c", 3.5, 0.2))
    two = ledger.record_gate_report(
        "1.0.0", "fail", summary=_report(second, cand + base, ("candidate",)),
        baseline="1.0.0", report_uri=second.as_uri(),
    )  # fmt: skip
    view = build_gate(ledger, two.id)
    assert [s.id for s in view.sentences] == ["b", "c", "a"]
    assert view.sentences[0].regression == pytest.approx(1.5 + 0.5)
    worst = view.sentences[0]
    assert worst.candidate.audio == f"gate/{two.id}/audio/candidate/b.wav"
    assert worst.baseline.audio == f"gate/{two.id}/audio/baseline/b.wav"
    assert audio_file(ledger, two, "baseline", "b") == first / "audio" / "baseline" / "b.wav"
    assert audio_file(ledger, one, "candidate", "b") is None
    assert audio_file(ledger, two, "baseline", "../../etc/passwd") is None


def test_history_lists_deployments_rollbacks_and_gates_with_who_and_why(ledger: Ledger) -> None:
    """Each deployment shows who asked and why it ended; a rollback is its own kind; a filter."""
    deployed = ledger.create_deployment("1.0.0", "canary", reason="first", actor="ci")
    ledger.update_deployment_state(deployed.id, DeploymentState.LIVE, reason="promoted")
    back = ledger.create_deployment("1.0.0", "rollback", reason="clicks", actor="ana@dashboard")
    ledger.update_deployment_state(back.id, DeploymentState.LIVE)
    ledger.update_deployment_state(deployed.id, DeploymentState.ROLLED_BACK, reason="retired")
    report = ledger.record_gate_report("1.0.0", "pass", summary={}, actor="ci")
    ledger.append_event(EventKind.RELEASE, "release 1.0.0: live", version="1.0.0",
                        data={"version": "1.0.0", "outcome": "live", "target": "production",
                              "gate": {"verdict": "pass", "report_id": report.id},
                              "timings": {"total": 12.5}})  # fmt: skip
    items = build_history(ledger).items
    kinds = {item.kind: item for item in items}
    assert set(kinds) == {"deployment", "rollback", "gate", "release"}
    assert (kinds["rollback"].actor, kinds["rollback"].reason) == ("ana@dashboard", "clicks")
    assert kinds["deployment"].gate_report is None  # the gate came after it
    assert kinds["deployment"].reason == "live: promoted; then rolled_back: retired"
    assert kinds["deployment"].outcome == "rolled_back"
    assert kinds["release"].gate_report == report.id
    assert kinds["release"].duration_s == 12.5
    assert build_history(ledger, "9.9.9").items == []


def test_pages_escape_what_people_typed(ledger: Ledger) -> None:
    """A reason with HTML in it is shown as text, never run as markup."""
    evil = "<img src=x onerror=alert(1)>"
    made = ledger.create_deployment("1.0.0", "rollback", reason=evil, actor="<b>eve</b>")
    ledger.update_deployment_state(made.id, DeploymentState.LIVE)
    view = build_history(ledger)
    html = render_template("dashboard/history.html.j2", root="./", page="history",
                           title="History", history=view.model_dump(mode="json"))  # fmt: skip
    assert evil not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>eve</b>" not in html


def test_a_session_cookie_is_signed_by_the_token_and_expires() -> None:
    """The cookie names who signed in; another token, an edit or age makes it worthless."""
    now = time.time()
    value = sign_session("ana", "secret", now)
    assert read_session(value, "secret", now) == "ana"
    assert "secret" not in value
    assert read_session(value, "other-token", now) is None
    _, issued, mac = value.split(".")
    forged = sign_session("eve", "secret", now).split(".")[0]
    assert read_session(f"{forged}.{issued}.{mac}", "secret", now) is None
    assert read_session(value, "secret", now + SESSION_S + 1) is None
    assert read_session("garbage", "secret", now) is None


def test_json_routes_are_in_the_schema_and_pages_are_not() -> None:
    """Every ``api/`` route is documented with its errors; HTML pages and files stay out."""
    from fastapi import FastAPI

    from ttsops.dashboard import dashboard_router

    app = FastAPI()
    app.include_router(dashboard_router(None, "secret"))  # type: ignore[arg-type] - schema only
    paths = app.openapi()["paths"]
    assert all(path.startswith("/dashboard/api/") for path in paths)
    assert len(paths) == 9
    promote = paths["/dashboard/api/deployments/{deployment_id}/promote"]["post"]
    assert {"401", "403", "404", "409", "422"} <= set(promote["responses"])
    assert {"HTTPBearer": []} in promote["security"]
