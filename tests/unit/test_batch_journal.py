"""results.jsonl and failed.jsonl: durable appends, torn lines, compaction, task keys."""

from __future__ import annotations

import json
from pathlib import Path

from ttsops.batch import ResultRecord, Task
from ttsops.batch.results import FailedLog, ResultsLog, task_key


def _record(path: str, sha: str = "a" * 64, key: str = "k") -> ResultRecord:
    return ResultRecord(
        output_name=path,
        path=path,
        line=1,
        sha256=sha,
        bytes=10,
        duration_s=1.0,
        response_format="wav",
        sample_rate=22050,
        voice="joe",
        speed=1.0,
        model_version="joe@1.0.0",
        model_digest=None,
        latency_s=0.1,
        attempts=1,
        task_key=key,
        extra={"chapter": 2},
    )


def _task(text: str = "Hello.", speed: float = 1.0) -> Task:
    return Task(1, text, "a", "a.wav", "wav", None, speed, None)


def test_records_survive_reopen(tmp_path: Path) -> None:
    """What was appended is what the next run reads back as done."""
    log = ResultsLog(tmp_path / "results.jsonl")
    assert log.open() == {}
    log.append(_record("a.wav", "1" * 64))
    log.append(_record("b.wav", "2" * 64))
    log.close()
    again = ResultsLog(tmp_path / "results.jsonl")
    done = again.open()
    assert {p: d.sha256 for p, d in done.items()} == {"a.wav": "1" * 64, "b.wav": "2" * 64}
    assert json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])["extra"] == {
        "chapter": 2
    }
    again.close()


def test_torn_last_line_is_dropped_and_appends_start_clean(tmp_path: Path) -> None:
    """A half-written last line (kill -9 mid-write) is ignored and cut off before appending."""
    path = tmp_path / "results.jsonl"
    path.write_text(_record("a.wav").to_json() + "\n" + _record("b.wav").to_json()[:40])
    log = ResultsLog(path)
    assert set(log.open()) == {"a.wav"}
    log.append(_record("c.wav"))
    log.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["a.wav", "c.wav"]


def test_compaction_keeps_only_the_latest_line_per_path(tmp_path: Path) -> None:
    """After a file is made again, compaction leaves one line per path: the newest."""
    path = tmp_path / "results.jsonl"
    log = ResultsLog(path)
    log.open()
    log.append(_record("a.wav", "1" * 64))
    log.append(_record("b.wav", "2" * 64))
    log.append(_record("a.wav", "3" * 64))
    log.compact()
    log.append(_record("c.wav", "4" * 64))
    log.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["path"], r["sha256"][0]) for r in rows] == [
        ("b.wav", "2"),
        ("a.wav", "3"),
        ("c.wav", "4"),
    ]
    reopened = ResultsLog(path)
    assert reopened.open()["a.wav"].sha256 == "3" * 64
    reopened.close()


def test_task_key_changes_with_what_shapes_the_audio() -> None:
    """Changing the text, voice or speed changes the key, so a resumed batch makes it again."""
    base = task_key(_task(), "joe")
    assert task_key(_task(), "joe") == base
    assert task_key(_task("Hello!"), "joe") != base
    assert task_key(_task(), "amy") != base
    assert task_key(_task(speed=1.5), "joe") != base


def test_failed_log_is_rewritten_each_run(tmp_path: Path) -> None:
    """failed.jsonl lists this run's failures only; an earlier run's are gone."""
    path = tmp_path / "failed.jsonl"
    first = FailedLog(path)
    first.add(3, "x", "parse", "not valid JSON", "bad_line")
    first.close()
    second = FailedLog(path)
    second.add(5, "y", "synthesis", "server answered 400", "invalid_input", attempts=1)
    second.close()
    (row,) = [json.loads(line) for line in path.read_text().splitlines()]
    assert (row["line"], row["output_name"], row["code"]) == (5, "y", "invalid_input")
