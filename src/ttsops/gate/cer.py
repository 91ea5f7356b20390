"""Character error rate for Mandarin: normalise reference and transcript alike, then compare.

Both sides go through the same steps, so only what a listener would hear differently
counts as an error:

1. traditional → simplified characters (``zhconv``, mainland forms: Whisper writes
   traditional characters and Taiwanese vocabulary, the references are mainland);
2. Unicode NFKC (full-width digits, letters and ``％`` become ASCII);
3. numbers to Chinese numerals (``cn2an`` an2cn, after dropping digit-group commas):
   "2024年" → "二零二四年", "12%" → "百分之十二", "1,250元" → "一千二百五十元", so a
   transcript that writes digits and a reference that writes characters agree. The
   canonical form is characters, not digits, because a misread digit is then one
   character wrong, as it is to a listener; ``两`` is counted as ``二`` and ``〇`` as ``零``
   (two spellings of one reading of a number);
4. characters a listener cannot tell apart are one: 他/她/它 (all *tā*) and 的/地/得 (the
   particle *de*) — Whisper picks among them by its own language model, not by the audio;
5. lowercase; marks inside a Latin word out ("Wi-Fi" is "wifi"); punctuation and spaces out.

What is compared are *units*: each Chinese character is one, and each run of Latin letters
or digits ("iphone", "ppt") is one word — a mixed error rate, so a Latin word heard
wrong counts once, not once per letter. The rate is (substitutions + deletions +
insertions) / reference units; an empty transcript is 1.0, and insertions can take it
above 1.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from functools import cache
from typing import Any

__all__ = ["character_error_rate", "normalize_chinese", "units"]

_GROUP_COMMA = re.compile(r"(?<=\d)[,，](?=\d{3}(?!\d))")
_INNER_MARK = re.compile(r"(?<=[a-z0-9])[-'.·](?=[a-z0-9])")
_NOT_UNIT = re.compile(r"[^\w]|_")
_UNIT = re.compile(r"[a-z0-9]+|\S")
_SAME = str.maketrans({"两": "二", "〇": "零", "她": "他", "它": "他", "地": "的", "得": "的"})
_ASCII_DIGIT = re.compile(r"[0-9]")


@cache
def _cn2an() -> Any:
    with warnings.catch_warnings():
        # cn2an imports pkg_resources, which warns that it is deprecated.
        warnings.simplefilter("ignore")
        import cn2an

    return cn2an


def _to_chinese_numerals(text: str) -> str:
    if not _ASCII_DIGIT.search(text):
        return text
    try:
        return str(_cn2an().transform(text, "an2cn"))
    except Exception:  # noqa: BLE001 - cn2an raises bare errors on odd input: keep the text
        return text


def normalize_chinese(text: str) -> str:
    """``text`` in the canonical form both sides are compared in (see the module docstring)."""
    import zhconv

    simplified = str(zhconv.convert(text, "zh-cn"))
    plain = unicodedata.normalize("NFKC", simplified)
    plain = _GROUP_COMMA.sub("", plain)
    plain = _to_chinese_numerals(plain)
    plain = _INNER_MARK.sub("", plain.translate(_SAME).lower())  # "Wi-Fi" is "wifi"
    return " ".join(part for part in _NOT_UNIT.sub(" ", plain).split())


def units(text: str) -> list[str]:
    """The units of normalised ``text``: Chinese characters, and Latin/digit words whole."""
    return _UNIT.findall(normalize_chinese(text))


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Error rate of ``hypothesis`` against ``reference`` over ``units``, after normalising."""
    import jiwer

    ref = units(reference)
    hyp = units(hypothesis)
    if not ref:
        raise ValueError(f"reference {reference!r} has no characters to score against")
    if not hyp:
        return 1.0
    return float(jiwer.wer(" ".join(ref), " ".join(hyp)))
