"""The evaluation set: sentences a voice must speak well, shipped with ttsops and versioned.

The shipped set (``data/eval_en.jsonl``) has 30 English sentences that stress a TTS voice:
numbers, dates, abbreviations, questions, long compound sentences, names, punctuation; its
extended pool (``data/eval_en_extra.jsonl``) has 30 more of the same kinds, which a gate
adds, a round at a time, only when the core 30 leave a check undecided.
Each line is ``{"id", "tag", "text", "reference"}``; ``reference`` is what a listener
should hear, in words ("$1,250" → "one thousand two hundred fifty dollars"), which the ASR
transcript is compared with. A team's own set is a JSONL file of the same shape (only
``text`` is required) or a text file with one sentence per line (``#`` starts a comment);
without a reference the text itself is the reference.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path

from ttsops.errors import GateError

__all__ = ["DEFAULT_SET_NAME", "DEFAULT_SET_VERSION", "EvalSet", "Utterance", "load_eval_set"]

DEFAULT_SET_NAME = "ttsops-en"
DEFAULT_SET_VERSION = "2"
"""Bump with every change to ``data/eval_en.jsonl`` or ``data/eval_en_extra.jsonl``; reports
name the version and digest (v2 added the extended pool; the core 30 are v1's)."""


@dataclass(frozen=True)
class Utterance:
    """One sentence of an evaluation set."""

    id: str
    """Stable name within the set, e.g. ``numbers-01``."""

    text: str
    """What the voice is asked to say."""

    reference: str
    """What a listener should hear, in words; the ASR transcript is scored against it."""

    tag: str = ""
    """What the sentence stresses (``numbers``, ``names``…), for reading reports."""


@dataclass(frozen=True)
class EvalSet:
    """An ordered set of utterances with its identity."""

    name: str
    """``ttsops-en`` for the shipped set, else the file's name."""

    version: str
    """Version of the shipped set, or ``file`` for a team's own."""

    digest: str
    """sha256 of the file's bytes (for the shipped set: of both files, the core's first): two
    reports used the same sentences if this matches."""

    utterances: tuple[Utterance, ...]
    """The core sentences, in file order: a pass rests on all of them."""

    extra: tuple[Utterance, ...] = ()
    """The extended pool, used only when the core leaves a check undecided (shipped set)."""

    @property
    def pool(self) -> tuple[Utterance, ...]:
        """Every sentence a gate may use, core first."""
        return self.utterances + self.extra

    def limit(self, count: int | None) -> EvalSet:
        """The first ``count`` utterances (all when None)."""
        if count is not None and count < 1:
            raise GateError(f"--limit {count} leaves no sentence to score; pass 1 or more")
        if count is None or count >= len(self.utterances):
            return self
        return replace(self, utterances=self.utterances[:count], extra=())

    @property
    def label(self) -> str:
        """``name vVERSION (n sentences)``, for reports."""
        extra = f" + {len(self.extra)} in reserve" if self.extra else ""
        return f"{self.name} v{self.version} ({len(self.utterances)} sentences{extra})"


def load_eval_set(path: Path | None = None) -> EvalSet:
    """Read an evaluation set (``.jsonl`` or text); the shipped set when ``path`` is None."""
    if path is None:
        data = files("ttsops.gate").joinpath("data", "eval_en.jsonl").read_bytes()
        more = files("ttsops.gate").joinpath("data", "eval_en_extra.jsonl").read_bytes()
        core = _parse(data, DEFAULT_SET_NAME, DEFAULT_SET_VERSION, jsonl=True, where="eval_en")
        extra = _parse(more, DEFAULT_SET_NAME, DEFAULT_SET_VERSION, jsonl=True, where="extra")
        if clash := {u.id for u in core.utterances} & {u.id for u in extra.utterances}:
            raise GateError(f"shipped evaluation set: ids {sorted(clash)} appear twice")
        digest = hashlib.sha256(data + b"\n" + more).hexdigest()
        return replace(core, digest=digest, extra=extra.utterances)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GateError(
            f"evaluation set {path} cannot be read ({exc.strerror}); fix [gate] eval_set in "
            "ttsops.toml or pass --eval-set with an existing .txt or .jsonl file"
        ) from None
    return _parse(data, path.name, "file", jsonl=path.suffix == ".jsonl", where=str(path))


def _parse(data: bytes, name: str, version: str, *, jsonl: bool, where: str) -> EvalSet:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise GateError(f"evaluation set {where} is not UTF-8 text; save it as UTF-8") from None
    rows = _jsonl_rows(text, where) if jsonl else _text_rows(text)
    if not rows:
        raise GateError(f"evaluation set {where} has no sentences; add at least one")
    seen: set[str] = set()
    for row in rows:
        if row.id in seen:
            raise GateError(f"evaluation set {where}: id {row.id!r} appears twice; ids must differ")
        seen.add(row.id)
    return EvalSet(name, version, hashlib.sha256(data).hexdigest(), tuple(rows))


def _text_rows(text: str) -> list[Utterance]:
    rows: list[Utterance] = []
    for line in text.splitlines():
        sentence = line.strip()
        if sentence and not sentence.startswith("#"):
            rows.append(Utterance(id=f"s{len(rows) + 1:02d}", text=sentence, reference=sentence))
    return rows


def _jsonl_rows(text: str, where: str) -> list[Utterance]:
    rows: list[Utterance] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GateError(f"evaluation set {where} line {number} is not JSON: {exc}") from None
        sentence = item.get("text") if isinstance(item, dict) else None
        if not isinstance(sentence, str) or not sentence.strip():
            raise GateError(
                f'evaluation set {where} line {number} has no "text"; each line must be '
                'an object like {"text": "Hello there.", "reference": "hello there"}'
            )
        rows.append(
            Utterance(
                id=str(item.get("id") or f"s{len(rows) + 1:02d}"),
                text=sentence.strip(),
                reference=str(item.get("reference") or sentence).strip(),
                tag=str(item.get("tag") or ""),
            )
        )
    return rows
