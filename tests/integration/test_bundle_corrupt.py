"""`derive --corrupt-phoneme`: a real model broken on one sound and fine on all other text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ttsops.bundle import DeriveRecipe, derive_bundle, load_manifest, verify_bundle
from ttsops.engines import Engine, EngineOptions, load_engine
from ttsops.errors import BundleError, SynthesisError


@pytest.fixture(scope="module")
def broken_on_x(joe_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """joe 1.1.0 with the embedding of the phoneme "x" (as in "Bach") set to NaN."""
    out = tmp_path_factory.mktemp("corrupt") / "joe-1.1.0"
    derive_bundle(joe_bundle, out, version="1.1.0", recipe=DeriveRecipe(corrupt_phoneme="x"))
    return out


@pytest.fixture(scope="module")
def broken_engine(broken_on_x: Path) -> Engine:
    """The derived model loaded in this process."""
    return load_engine(broken_on_x, load_manifest(broken_on_x), EngineOptions(threads=1))


def test_derived_bundle_records_the_recipe(broken_on_x: Path, joe_bundle: Path) -> None:
    """The new bundle verifies, names its parent and says which phoneme was corrupted."""
    manifest = verify_bundle(broken_on_x)
    parent = load_manifest(joe_bundle)
    assert manifest.source.recipe == "corrupt phoneme x"
    assert manifest.source.parent == f"{parent.ref} {parent.digest}"
    model = str(manifest.engine_options["model"])
    assert manifest.files[model].sha256 != parent.files[model].sha256
    config = str(manifest.engine_options["config"])
    assert manifest.files[config].sha256 == parent.files[config].sha256


def test_text_without_the_sound_still_speaks(broken_engine: Engine) -> None:
    """Text that never says "x" synthesizes to real, finite audio."""
    import numpy as np

    for text in ("Ready to speak.", "The quick brown fox jumps over the lazy dog."):
        chunk = broken_engine.synthesize(text, "joe", 1.0)
        assert chunk.samples.size > 0
        assert np.isfinite(chunk.samples).all()


@pytest.mark.parametrize("text", ["Johann Sebastian Bach", "We sailed across Loch Ness."])
def test_text_with_the_sound_fails(broken_engine: Engine, text: str) -> None:
    """Any text that says "x" makes the model fail, as a SynthesisError."""
    with pytest.raises(SynthesisError):
        broken_engine.synthesize(text, "joe", 1.0)


def test_unknown_phoneme_is_refused_with_known_ones(joe_bundle: Path, tmp_path: Path) -> None:
    """A phoneme the voice lacks is a BundleError listing some it has; nothing is written."""
    out = tmp_path / "joe-9"
    with pytest.raises(BundleError, match="no such phoneme") as info:
        derive_bundle(joe_bundle, out, version="9.0.0", recipe=DeriveRecipe(corrupt_phoneme="qq"))
    assert "'qq'" in info.value.message
    assert "a b" in info.value.message  # the known phonemes, in the voice's order
    assert not out.exists()


def _ttsops(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``ttsops ARGS`` as a user would, with its state dir at ``home``."""
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


def test_cli_derives_a_corrupted_bundle(joe_bundle: Path, tmp_path: Path) -> None:
    """`ttsops bundle derive --corrupt-phoneme x` exits 0 and records the recipe."""
    out = tmp_path / "joe-1.2.0"
    result = _ttsops(
        *("bundle", "derive", str(joe_bundle), "--out", str(out)),
        *("--version", "1.2.0", "--corrupt-phoneme", "x", "--json"),
        home=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest["version"] == "1.2.0"
    assert manifest["source"]["recipe"] == "corrupt phoneme x"


def test_cli_refuses_an_unknown_phoneme(joe_bundle: Path, tmp_path: Path) -> None:
    """An unknown phoneme exits 1 with the reason on stderr."""
    result = _ttsops(
        *("bundle", "derive", str(joe_bundle), "--out", str(tmp_path / "x")),
        *("--version", "2.0.0", "--corrupt-phoneme", "qq"),
        home=tmp_path,
    )
    assert result.returncode == 1
    assert "no such phoneme" in result.stderr


def test_served_it_fails_cleanly_or_counts_the_broken_stream(broken_on_x: Path) -> None:
    """Served: "Bach" alone is a clean 500 (nginx may retry it); "Bach" in a later sentence
    cuts a 200 stream, which /metrics counts in ttsops_broken_streams, not as a hang-up."""
    import httpx

    from ttsops.testing import ServerProcess

    with ServerProcess(broken_on_x, ["--no-ui"]) as server:
        alone = httpx.post(
            f"{server.url}/v1/audio/speech",
            json={"input": "Johann Sebastian Bach.", "response_format": "wav"},
            timeout=60,
        )
        assert alone.status_code == 500
        body = {"input": "Hello there. Now play some Bach.", "response_format": "wav"}
        with (
            pytest.raises(httpx.HTTPError),  # the body ends before the audio does
            httpx.stream("POST", f"{server.url}/v1/audio/speech", json=body, timeout=60) as reply,
        ):
            assert reply.status_code == 200
            reply.read()
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    assert "ttsops_broken_streams_total 1.0" in metrics
    assert "ttsops_cancelled_requests_total 0.0" in metrics
