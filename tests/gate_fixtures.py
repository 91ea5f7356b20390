"""Derived joe bundles for the gate tests, each made once per test run.

Import the fixtures into a test module (``from gate_fixtures import derived``). Every
bundle is a real model file made by ``derive_bundle`` from the session's joe bundle.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ttsops.bundle import DeriveRecipe, Source, build_bundle, derive_bundle, load_manifest

RECIPES: dict[str, tuple[str, DeriveRecipe]] = {
    "retrained": ("1.1.0", DeriveRecipe(perturb_sigma=0.01, seed=0)),
    "broken": ("1.3.0", DeriveRecipe(perturb_sigma=0.5, seed=0)),
    "int8": ("1.4.0", DeriveRecipe(quantize="int8")),
    "silent": ("1.5.0", DeriveRecipe(zero=("dec.conv_post.*",))),
}
"""Name → (version, recipe): a stand-in for a retrained checkpoint, a broken one, an int8
optimisation, and a model whose output layer is zeroed (it speaks silence)."""


@pytest.fixture(scope="session")
def derived(joe_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``derived(name)``: the bundle dir of a recipe in ``RECIPES``, made on first use."""
    root = tmp_path_factory.mktemp("derived")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            version, recipe = RECIPES[name]
            derive_bundle(joe_bundle, root / name, version=version, recipe=recipe)
            made[name] = root / name
        return made[name]

    return get


@pytest.fixture(scope="session")
def unloadable_bundle(joe_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle whose digests match but whose model file is not an ONNX model."""
    joe = load_manifest(joe_bundle)
    root = tmp_path_factory.mktemp("unloadable")
    model = root / str(joe.engine_options["model"])
    model.write_bytes(b"this is not an onnx model\n" * 100)
    config = joe_bundle / str(joe.engine_options["config"])
    build_bundle(
        root / "bundle",
        {model.name: model, config.name: config},
        name=joe.name,
        version="1.6.0",
        engine=joe.engine,
        sample_rate=joe.sample_rate,
        languages=joe.languages,
        voices=joe.voices,
        engine_options=dict(joe.engine_options),
        source=Source(trigger="test", recipe="model file replaced by text"),
    )
    return root / "bundle"
