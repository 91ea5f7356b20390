"""Session-wide fixtures: the real joe voice is bundled and loaded once per test run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ttsops.bundle import Manifest, make_default_bundle
from ttsops.engines import Engine, EngineOptions, load_engine
from ttsops.testing import ServerProcess


@pytest.fixture(scope="session")
def joe_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default bundle joe v1.0.0, made once; tests must not modify it (copy it first)."""
    out = tmp_path_factory.mktemp("bundles") / "joe"
    make_default_bundle(out)
    return out


@pytest.fixture(scope="session")
def joe_manifest(joe_bundle: Path) -> Manifest:
    """The manifest of the default bundle."""
    from ttsops.bundle import load_manifest

    return load_manifest(joe_bundle)


@pytest.fixture(scope="session")
def joe_engine(joe_bundle: Path, joe_manifest: Manifest) -> Engine:
    """The joe voice loaded in this process, once."""
    return load_engine(joe_bundle, joe_manifest, EngineOptions(threads=1))


KokoroBundleFactory = Callable[..., Path]
"""``(voices: tuple[str, ...], version: str = "1.0.0") -> Path`` of a Kokoro bundle."""


@pytest.fixture(scope="session")
def kokoro_bundle_factory(tmp_path_factory: pytest.TempPathFactory) -> KokoroBundleFactory:
    """Kokoro bundles made on demand, once per (voices, version); tests must not modify them.

    Voices come from the cached kokoro-js tarball (``npm pack`` fills the cache once).
    """
    from ttsops.bundle.kokoro import make_kokoro_bundle

    root = tmp_path_factory.mktemp("kokoro")
    made: dict[tuple[tuple[str, ...], str], Path] = {}

    def make(voices: tuple[str, ...], version: str = "1.0.0") -> Path:
        key = (tuple(voices), version)
        if key not in made:
            out = root / f"{'-'.join(key[0])}-{version}"
            made[key] = make_kokoro_bundle(out, key[0], version=version)
        return made[key]

    return make


@pytest.fixture(scope="session")
def kokoro_zh_bundle(kokoro_bundle_factory: KokoroBundleFactory) -> Path:
    """A Mandarin Kokoro bundle: zm_yunxi (default) and zf_xiaobei, v1.0.0."""
    return kokoro_bundle_factory(("zm_yunxi", "zf_xiaobei"))


@pytest.fixture(scope="session")
def kokoro_zh_engine(kokoro_zh_bundle: Path) -> Engine:
    """The Mandarin Kokoro bundle loaded in this process, once."""
    from ttsops.bundle import load_manifest

    return load_engine(kokoro_zh_bundle, load_manifest(kokoro_zh_bundle), EngineOptions(threads=1))


@pytest.fixture(scope="session")
def joe_server(joe_bundle: Path) -> Iterator[ServerProcess]:
    """A real `ttsops serve` of joe on a loopback port, shared by read-only tests."""
    with ServerProcess(joe_bundle) as server:
        yield server


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A real headless Chromium (the system's, driven by playwright), one per test session.

    Tests open their own context (``browser.new_context()``) and close it; skipped when the
    system has no chromium (``make system-deps`` installs it as root).
    """
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: run `make system-deps` as root")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        try:
            yield chromium
        finally:
            chromium.close()
