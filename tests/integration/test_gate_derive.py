"""`derive_bundle`: real new model files with recorded lineage, made from the joe voice."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from gate_fixtures import derived  # noqa: F401 - fixture

from ttsops.bundle import DeriveRecipe, Manifest, derive_bundle, load_manifest, verify_bundle
from ttsops.engines import Engine, EngineOptions, load_engine
from ttsops.errors import BundleError

SENTENCE = "The quick brown fox jumps over the lazy dog."


def _weights(bundle: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    manifest = load_manifest(bundle)
    model = onnx.load(str(bundle / str(manifest.engine_options["model"])))
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _engine(bundle: Path) -> Engine:
    return load_engine(bundle, verify_bundle(bundle), EngineOptions(threads=1))


def test_perturb_adds_noise_scaled_to_each_tensor(
    derived: Callable[[str], Path],  # noqa: F811
    joe_bundle: Path,
    joe_manifest: Manifest,
) -> None:
    """sigma 0.01: every weight tensor moves by 1% of its own std; constants stay; lineage kept."""
    bundle = derived("retrained")
    manifest = verify_bundle(bundle)
    assert manifest.ref == "joe@1.1.0"
    assert manifest.source.trigger == "derive"
    assert manifest.source.parent == f"joe@1.0.0 {joe_manifest.digest}"
    assert manifest.source.recipe == "perturb sigma=0.01 seed=0"
    before, after = _weights(joe_bundle), _weights(bundle)
    weight = before["dec.conv_post.weight"]
    moved = np.std(after["dec.conv_post.weight"] - weight) / np.std(weight)
    assert moved == pytest.approx(0.01, rel=0.15)
    assert after["/dp/convs/Constant_2_output_0"] == before["/dp/convs/Constant_2_output_0"]


def test_same_seed_same_model_other_seed_other_model(joe_bundle: Path, tmp_path: Path) -> None:
    """The noise is seeded: the same recipe gives the same file, another seed another."""
    digests = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        manifest = derive_bundle(
            joe_bundle,
            tmp_path / name,
            version="1.1.1",
            recipe=DeriveRecipe(perturb_sigma=0.001, seed=seed),
        )
        digests.append(manifest.digest)
    assert digests[0] == digests[1] != digests[2]


def test_int8_is_smaller_and_still_speaks(derived: Callable[[str], Path]) -> None:  # noqa: F811
    """quantize int8 writes a model under 40% of the float size that synthesizes speech."""
    bundle = derived("int8")
    manifest = verify_bundle(bundle)
    model = bundle / str(manifest.engine_options["model"])
    float_size = 63_201_294
    assert model.stat().st_size < 0.4 * float_size
    assert manifest.source.recipe == "quantize int8"
    audio = _engine(bundle).synthesize(SENTENCE, "joe", 1.0)
    assert audio.duration_s > 1.0
    assert float(np.abs(audio.samples).max()) > 0.1


def test_zeroed_output_layer_speaks_silence(derived: Callable[[str], Path]) -> None:  # noqa: F811
    """Zeroing the decoder's last layer gives a model whose audio is exactly silent."""
    audio = _engine(derived("silent")).synthesize(SENTENCE, "joe", 1.0)
    assert audio.duration_s > 1.0
    assert float(np.abs(audio.samples).max()) == 0.0


def test_set_changes_an_inference_setting(
    joe_bundle: Path, joe_engine: Engine, tmp_path: Path
) -> None:
    """--set length_scale=1.4 keeps the model file and makes speech about 40% longer."""
    manifest = derive_bundle(
        joe_bundle,
        tmp_path / "slow",
        version="1.2.1",
        recipe=DeriveRecipe(settings={"length_scale": 1.4}),
    )
    assert manifest.engine_options["length_scale"] == 1.4
    assert manifest.files == load_manifest(joe_bundle).files
    slow = _engine(tmp_path / "slow").synthesize(SENTENCE, "joe", 1.0)
    normal = joe_engine.synthesize(SENTENCE, "joe", 1.0)
    assert slow.duration_s / normal.duration_s > 1.2


@pytest.mark.parametrize(
    ("version", "recipe", "message"),
    [
        ("1.0.0", DeriveRecipe(perturb_sigma=0.1), "needs a new version"),
        ("1.1.0", DeriveRecipe(), "nothing to derive"),
        ("1.1.0", DeriveRecipe(settings={"lenght_scale": 1.2}), "it reads length_scale"),
        ("1.1.0", DeriveRecipe(settings={"model": "x.onnx"}), "replace a model file"),
        ("1.1.0", DeriveRecipe(zero=("no.such.*",)), "matches no float weight"),
    ],
)
def test_bad_recipes_are_refused(
    joe_bundle: Path, tmp_path: Path, version: str, recipe: DeriveRecipe, message: str
) -> None:
    """A recipe that would make a wrong or useless bundle is refused, saying why."""
    with pytest.raises(BundleError, match=message):
        derive_bundle(joe_bundle, tmp_path / "out", version=version, recipe=recipe)
    assert not (tmp_path / "out").exists()
