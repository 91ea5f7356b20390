"""The evaluation sets: sentences a voice must speak well, shipped with ttsops and versioned.

There is one shipped set per language, picked by the bundle's manifest ``languages``
(``set_languages``); a bundle that speaks several gets each of their sets, joined:

- English (``data/eval_en.jsonl``): 30 sentences that stress a TTS voice — numbers, dates,
  abbreviations, questions, long compound sentences, names, punctuation; its extended pool
  (``data/eval_en_extra.jsonl``) has 30 more of the same kinds, which a gate adds, a round at
  a time, only when the core 30 leave a check undecided. Scored by word error rate.
- Mandarin (``data/eval_zh.jsonl``): 30 sentences written for the gate — numbers, dates,
  money, polyphonic characters (重, 行, 长, 乐, 还, 觉), Latin words inside Chinese, questions,
  long sentences. Scored by character error rate.

Each line is ``{"id", "tag", "text", "reference"}`` (optionally ``"language"``);
``reference`` is what a listener should hear, in words ("$1,250" → "one thousand two hundred
fifty dollars", "299元" → "二百九十九元"), which the ASR transcript is compared with. A
team's own set is a JSONL file of the same shape (only ``text`` is required) or a text file
with one sentence per line (``#`` starts a comment); without a reference the text itself is
the reference, and without a language the sentences are in the candidate's first language.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from ttsops.errors import GateError

if TYPE_CHECKING:
    from ttsops.bundle import Manifest

__all__ = [
    "DEFAULT_SET_NAME",
    "DEFAULT_SET_VERSION",
    "LANGUAGES",
    "ZH_SET_NAME",
    "ZH_SET_VERSION",
    "EvalSet",
    "Utterance",
    "check_languages",
    "eval_set_for",
    "language_of",
    "load_eval_set",
    "set_languages",
]

DEFAULT_SET_NAME = "ttsops-en"
DEFAULT_SET_VERSION = "2"
"""Bump with every change to ``data/eval_en.jsonl`` or ``data/eval_en_extra.jsonl``; reports
name the version and digest (v2 added the extended pool; the core 30 are v1's)."""

ZH_SET_NAME = "ttsops-zh"
ZH_SET_VERSION = "1"
"""Bump with every change to ``data/eval_zh.jsonl``."""

LANGUAGES = ("en", "zh")
"""Languages the gate has a shipped set and an ASR for, in the order sets are joined."""

_FAMILY = {"en": "en", "eng": "en", "zh": "zh", "cmn": "zh", "zho": "zh", "chi": "zh"}
"""Manifest language tags (their part before ``-`` or ``_``) → the gate's language."""


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

    language: str = "en"
    """The gate's language of the sentence (``en`` or ``zh``): picks the ASR and the score."""


@dataclass(frozen=True)
class EvalSet:
    """An ordered set of utterances with its identity."""

    name: str
    """``ttsops-en`` / ``ttsops-zh`` for a shipped set (``ttsops-en+ttsops-zh`` for both),
    else the file's name."""

    version: str
    """Version of the shipped set (``2+1`` for both), or ``file`` for a team's own."""

    digest: str
    """sha256 of the file's bytes (for the shipped English set: of both files, the core's
    first; for joined sets: of their digests): two reports used the same sentences if this
    matches."""

    utterances: tuple[Utterance, ...]
    """The core sentences, in file order: a pass rests on all of them."""

    extra: tuple[Utterance, ...] = ()
    """The extended pool, used only when the core leaves a check undecided (shipped set)."""

    @property
    def pool(self) -> tuple[Utterance, ...]:
        """Every sentence a gate may use, core first."""
        return self.utterances + self.extra

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages of its sentences, in ``LANGUAGES`` order."""
        found = {u.language for u in self.pool}
        return tuple(lang for lang in LANGUAGES if lang in found)

    def limit(self, count: int | None) -> EvalSet:
        """The first ``count`` core utterances of each language (all when None), no reserve."""
        if count is not None and count < 1:
            raise GateError(f"--limit {count} leaves no sentence to score; pass 1 or more")
        if count is None:
            return self
        kept: list[Utterance] = []
        for lang in self.languages:
            kept += [u for u in self.utterances if u.language == lang][:count]
        if len(kept) == len(self.utterances):
            return self
        chosen = {u.id for u in kept}
        return replace(
            self, utterances=tuple(u for u in self.utterances if u.id in chosen), extra=()
        )

    @property
    def label(self) -> str:
        """``name vVERSION (n sentences)``, for reports."""
        extra = f" + {len(self.extra)} in reserve" if self.extra else ""
        return f"{self.name} v{self.version} ({len(self.utterances)} sentences{extra})"


def language_of(tag: str) -> str | None:
    """The gate's language for a manifest language tag (``zh-CN`` → ``zh``); None if it has none."""
    return _FAMILY.get(tag.replace("_", "-").split("-")[0].lower())


def set_languages(manifest_languages: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The gate languages of a bundle's manifest ``languages``, in ``LANGUAGES`` order.

    Raises ``GateError`` when none of them has a shipped set.
    """
    found = {lang for tag in manifest_languages if (lang := language_of(tag)) is not None}
    if not found:
        raise GateError(
            f"the bundle speaks {', '.join(manifest_languages) or 'no language'}, and the gate "
            f"has evaluation sets only for {', '.join(LANGUAGES)}; pass --eval-set with "
            "sentences in its language (the signal and DNSMOS checks apply to any language)"
        )
    return tuple(lang for lang in LANGUAGES if lang in found)


def load_eval_set(path: Path | None = None, languages: tuple[str, ...] = ("en",)) -> EvalSet:
    """Read an evaluation set (``.jsonl`` or text); the shipped sets of ``languages`` when
    ``path`` is None.

    A file's sentences without a ``language`` are taken to be in ``languages[0]``.
    """
    if not languages or (unknown := set(languages) - set(LANGUAGES)):
        raise GateError(
            f"no evaluation set for language {sorted(unknown) if languages else '(none)'}; "
            f"the gate knows {', '.join(LANGUAGES)}"
        )
    if path is None:
        sets = [_SHIPPED[lang]() for lang in LANGUAGES if lang in languages]
        return sets[0] if len(sets) == 1 else _join(sets)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GateError(
            f"evaluation set {path} cannot be read ({exc.strerror}); fix [gate] eval_set in "
            "ttsops.toml or pass --eval-set with an existing .txt or .jsonl file"
        ) from None
    return _parse(
        data, path.name, "file", jsonl=path.suffix == ".jsonl", where=str(path), lang=languages[0]
    )


def eval_set_for(
    manifest_languages: tuple[str, ...] | list[str],
    path: Path | None = None,
    languages: tuple[str, ...] | list[str] = (),
) -> EvalSet:
    """The set a bundle is gated on: ``path`` or the shipped sets, in ``languages`` if given
    (``--language``, ``[gate] languages``), else in the bundle's manifest ``languages``."""
    chosen = tuple(dict.fromkeys(_gate_language(lang) for lang in languages))
    return load_eval_set(path, chosen or set_languages(manifest_languages))


def _gate_language(tag: str) -> str:
    found = language_of(tag)
    if found is None:
        raise GateError(
            f"the gate has no evaluation set or ASR for language {tag!r}; use one of "
            f"{', '.join(LANGUAGES)}"
        )
    return found


def check_languages(eval_set: EvalSet, candidate: Manifest, baseline: Manifest) -> None:
    """Refuse (``GateError``) a gate whose sentences a model does not speak."""
    needed = eval_set.languages
    for role, manifest in (("candidate", candidate), ("baseline", baseline)):
        speaks = {language_of(tag) for tag in manifest.languages}
        missing = [lang for lang in needed if lang not in speaks]
        if not missing:
            continue
        hint = (
            "gate it on sentences of a language it speaks (--language, or --eval-set), or pass "
            "a candidate whose manifest languages include "
            if role == "candidate"
            else "pass a --baseline that speaks "
        )
        raise GateError(
            f"{role} {manifest.ref} speaks {', '.join(manifest.languages)}, but the evaluation "
            f"set {eval_set.name} v{eval_set.version} has sentences in {', '.join(missing)}, "
            f"so it cannot be judged on them; {hint}{', '.join(missing)}"
        )


def _shipped_en() -> EvalSet:
    data = files("ttsops.gate").joinpath("data", "eval_en.jsonl").read_bytes()
    more = files("ttsops.gate").joinpath("data", "eval_en_extra.jsonl").read_bytes()
    core = _parse(data, DEFAULT_SET_NAME, DEFAULT_SET_VERSION, jsonl=True, where="eval_en")
    extra = _parse(more, DEFAULT_SET_NAME, DEFAULT_SET_VERSION, jsonl=True, where="extra")
    if clash := {u.id for u in core.utterances} & {u.id for u in extra.utterances}:
        raise GateError(f"shipped evaluation set: ids {sorted(clash)} appear twice")
    digest = hashlib.sha256(data + b"\n" + more).hexdigest()
    return replace(core, digest=digest, extra=extra.utterances)


def _shipped_zh() -> EvalSet:
    data = files("ttsops.gate").joinpath("data", "eval_zh.jsonl").read_bytes()
    return _parse(data, ZH_SET_NAME, ZH_SET_VERSION, jsonl=True, where="eval_zh", lang="zh")


_SHIPPED = {"en": _shipped_en, "zh": _shipped_zh}


def _join(sets: list[EvalSet]) -> EvalSet:
    """One set of several languages' shipped sets: cores first, then the reserves."""
    ids = [u.id for s in sets for u in s.pool]
    if len(ids) != len(set(ids)):
        raise GateError("shipped evaluation sets share sentence ids; each id must be unique")
    digest = hashlib.sha256("\n".join(s.digest for s in sets).encode()).hexdigest()
    return EvalSet(
        name="+".join(s.name for s in sets),
        version="+".join(s.version for s in sets),
        digest=digest,
        utterances=tuple(u for s in sets for u in s.utterances),
        extra=tuple(u for s in sets for u in s.extra),
    )


def _parse(
    data: bytes, name: str, version: str, *, jsonl: bool, where: str, lang: str = "en"
) -> EvalSet:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise GateError(f"evaluation set {where} is not UTF-8 text; save it as UTF-8") from None
    rows = _jsonl_rows(text, where, lang) if jsonl else _text_rows(text, lang)
    if not rows:
        raise GateError(f"evaluation set {where} has no sentences; add at least one")
    seen: set[str] = set()
    for row in rows:
        if row.id in seen:
            raise GateError(f"evaluation set {where}: id {row.id!r} appears twice; ids must differ")
        seen.add(row.id)
    return EvalSet(name, version, hashlib.sha256(data).hexdigest(), tuple(rows))


def _text_rows(text: str, lang: str) -> list[Utterance]:
    rows: list[Utterance] = []
    for line in text.splitlines():
        sentence = line.strip()
        if sentence and not sentence.startswith("#"):
            rows.append(
                Utterance(
                    id=f"s{len(rows) + 1:02d}", text=sentence, reference=sentence, language=lang
                )
            )
    return rows


def _jsonl_rows(text: str, where: str, lang: str) -> list[Utterance]:
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
                language=_row_language(item.get("language"), lang, where, number),
            )
        )
    return rows


def _row_language(value: object, default: str, where: str, number: int) -> str:
    if value is None or value == "":
        return default
    found = language_of(str(value))
    if found is None:
        raise GateError(
            f"evaluation set {where} line {number}: language {value!r} has no ASR in the gate; "
            f"use one of {', '.join(LANGUAGES)} (or leave it out)"
        )
    return found
