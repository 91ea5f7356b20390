"""Deriving a bundle: a new version whose model file is a real, changed copy of its parent's.

A recipe perturbs every float weight with seeded Gaussian noise (std = sigma × that
tensor's own std; scalars, whose std is 0, stay as they are), zeroes named weights,
corrupts one phoneme's embedding, quantizes to int8 with onnxruntime, and/or changes
inference settings in the manifest. The result records its parent (``name@version
digest``) and the recipe, so lineage is always known. It stands in for a retrained
checkpoint (a small perturbation), a broken one (a large perturbation, a zeroed output
layer), one broken on a single sound the eval set never says (a NaN phoneme embedding:
the model fails on any text with that sound and speaks all other text), or an
optimisation (int8).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ttsops.bundle.build import build_bundle
from ttsops.bundle.manifest import Manifest, Source
from ttsops.bundle.verify import verify_bundle
from ttsops.errors import BundleError

__all__ = ["DeriveRecipe", "derive_bundle", "parse_setting"]

# Inference settings an engine reads from engine_options; others would be ignored silently.
_SETTABLE: dict[str, tuple[str, ...]] = {
    "piper": ("length_scale", "noise_scale", "noise_w_scale"),
    "kokoro": ("speed",),
}
_FILE_KEYS = ("model", "config", "vocab", "voice_files", "speakers")


@dataclass(frozen=True)
class DeriveRecipe:
    """How to make the derived model from its parent."""

    perturb_sigma: float | None = None
    """Noise std as a multiple of each float tensor's own std; None for no noise."""

    seed: int = 0
    """Seed of the noise, so the same recipe gives the same file."""

    zero: tuple[str, ...] = ()
    """Glob patterns of weight names to set to zero (e.g. ``dec.conv_post.*``)."""

    corrupt_phoneme: str | None = None
    """A phoneme of the voice (e.g. ``x``) whose embedding row is set to NaN (Piper)."""

    quantize: Literal["int8"] | None = None
    """Dynamic int8 quantization of the weights (onnxruntime.quantization)."""

    settings: dict[str, float | str] = field(default_factory=dict)
    """Inference settings written into the manifest's ``engine_options``."""

    @property
    def changes_model(self) -> bool:
        """Whether a new model file is written."""
        return (
            self.perturb_sigma is not None
            or bool(self.zero)
            or self.corrupt_phoneme is not None
            or self.quantize is not None
        )

    def describe(self) -> str:
        """One line for ``source.recipe``, e.g. ``perturb sigma=0.01 seed=0; quantize int8``."""
        steps = []
        if self.zero:
            steps.append("zero " + ",".join(self.zero))
        if self.corrupt_phoneme is not None:
            steps.append(f"corrupt phoneme {self.corrupt_phoneme}")
        if self.perturb_sigma is not None:
            steps.append(f"perturb sigma={self.perturb_sigma:g} seed={self.seed}")
        if self.quantize:
            steps.append(f"quantize {self.quantize}")
        steps += [f"set {k}={v}" for k, v in sorted(self.settings.items())]
        return "; ".join(steps)


def parse_setting(text: str) -> tuple[str, float | str]:
    """``KEY=VALUE`` → (key, number if VALUE is one, else the string)."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise BundleError(f"--set {text!r} is not KEY=VALUE; e.g. --set length_scale=1.2")
    try:
        return key, float(value)
    except ValueError:
        return key, value


def derive_bundle(
    src: Path, out: Path, *, version: str, recipe: DeriveRecipe, force: bool = False
) -> Manifest:
    """Make bundle ``out`` at ``version`` from the verified bundle ``src`` by ``recipe``."""
    parent = verify_bundle(src)
    _check(src, parent, version, recipe)
    phoneme_ids = _phoneme_ids(src, parent, recipe)
    options: dict[str, Any] = {**parent.engine_options, **recipe.settings}
    files: dict[str, Path] = {rel: src / rel for rel in parent.files}
    with tempfile.TemporaryDirectory(prefix=".derive-", dir=out.resolve().parent) as tmp:
        if recipe.changes_model:
            model_rel = str(parent.engine_options["model"])
            files[model_rel] = _derive_model(src / model_rel, Path(tmp), recipe, phoneme_ids)
        return build_bundle(
            out,
            files,
            name=parent.name,
            version=version,
            engine=parent.engine,
            sample_rate=parent.sample_rate,
            languages=parent.languages,
            voices=parent.voices,
            engine_options=options,
            source=Source(
                trigger="derive",
                parent=f"{parent.ref} {parent.digest}",
                recipe=recipe.describe(),
            ),
            force=force,
        )


def _check(src: Path, parent: Manifest, version: str, recipe: DeriveRecipe) -> None:
    if not recipe.changes_model and not recipe.settings:
        raise BundleError(
            "nothing to derive: pass --perturb SIGMA, --quantize int8, --zero NAME, "
            "--corrupt-phoneme PHONEME or --set KEY=VALUE"
        )
    if version.removeprefix("v") == parent.version:
        raise BundleError(
            f"derived version {version} is the parent's ({parent.ref}); a changed model "
            "needs a new version, e.g. --version 1.1.0"
        )
    if recipe.perturb_sigma is not None and not recipe.perturb_sigma >= 0:
        raise BundleError(f"--perturb {recipe.perturb_sigma} must be 0 or more, e.g. 0.01")
    model = parent.engine_options.get("model")
    if recipe.changes_model and not str(model or "").endswith(".onnx"):
        raise BundleError(
            f"bundle {src}: engine_options.model is {model!r}; weights can only be derived "
            "from an ONNX model file (.onnx)"
        )
    settable = _SETTABLE.get(parent.engine)
    for key in recipe.settings:
        if key in _FILE_KEYS:
            raise BundleError(f"--set {key}=… would replace a model file; derive cannot do that")
        if settable is not None and key not in settable:
            raise BundleError(
                f"--set {key}: engine {parent.engine!r} has no setting {key!r}; "
                f"it reads {', '.join(settable)}"
            )


def _phoneme_ids(src: Path, parent: Manifest, recipe: DeriveRecipe) -> list[int]:
    """The embedding rows of ``recipe.corrupt_phoneme``, from the voice config's id map."""
    phoneme = recipe.corrupt_phoneme
    if phoneme is None:
        return []
    config_rel = parent.engine_options.get("config")
    if parent.engine != "piper" or not config_rel:
        raise BundleError(
            f"--corrupt-phoneme {phoneme!r}: bundle {src} is engine {parent.engine!r} without "
            "a voice config; only Piper voices (engine_options.config) have a phoneme map"
        )
    try:
        id_map = json.loads((src / str(config_rel)).read_text(encoding="utf-8"))["phoneme_id_map"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(
            f"--corrupt-phoneme {phoneme!r}: cannot read phoneme_id_map from "
            f"{src / str(config_rel)} ({exc}); is it a Piper voice config?"
        ) from None
    ids = id_map.get(phoneme) if isinstance(id_map, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
        known = " ".join(p for p in id_map if p.strip() and p not in "_^$")[:80]
        raise BundleError(
            f"--corrupt-phoneme {phoneme!r}: voice {parent.ref} has no such phoneme; "
            f"its phonemes include: {known}…"
        )
    return ids


def _derive_model(model: Path, tmp: Path, recipe: DeriveRecipe, phoneme_ids: list[int]) -> Path:
    """Write the changed model under ``tmp`` and return its path (named like the original)."""
    import onnx

    current = model
    if recipe.zero or recipe.perturb_sigma is not None or phoneme_ids:
        proto = onnx.load(str(model))
        if recipe.zero:
            _zero(proto, recipe.zero, model)
        if phoneme_ids:
            _corrupt_rows(proto, phoneme_ids, model)
        if recipe.perturb_sigma is not None:
            _perturb(proto, recipe.perturb_sigma, recipe.seed)
        current = tmp / "float" / model.name
        current.parent.mkdir()
        onnx.save(proto, str(current))
    if recipe.quantize == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        target = tmp / "int8" / model.name
        target.parent.mkdir()
        with _quiet_root_logger():
            quantize_dynamic(current, target, weight_type=QuantType.QInt8)
        current = target
    return current


def _float_initializers(proto: Any) -> Iterator[Any]:
    from onnx import TensorProto

    kinds = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE)
    return (init for init in proto.graph.initializer if init.data_type in kinds)


def _perturb(proto: Any, sigma: float, seed: int) -> None:
    import numpy as np
    from onnx import numpy_helper

    rng = np.random.default_rng(seed)
    for init in _float_initializers(proto):
        weights = numpy_helper.to_array(init)
        scale = float(np.std(weights, dtype=np.float64)) * sigma
        if weights.size < 2 or scale == 0.0:
            continue  # a scalar is a graph constant (epsilon, 0.5), not a learned weight
        noisy = weights.astype(np.float64) + rng.normal(0.0, scale, weights.shape)
        init.CopyFrom(numpy_helper.from_array(noisy.astype(weights.dtype), init.name))


def _zero(proto: Any, patterns: tuple[str, ...], model: Path) -> None:
    import numpy as np
    from onnx import numpy_helper

    for pattern in patterns:
        hits = [i for i in _float_initializers(proto) if fnmatch.fnmatchcase(i.name, pattern)]
        if not hits:
            names = [i.name for i in _float_initializers(proto)]
            sample = ", ".join(n for n in names if not n.startswith(("/", "onnx::")))[:200]
            raise BundleError(
                f"--zero {pattern!r} matches no float weight of {model.name}; names look "
                f"like: {sample}…"
            )
        for init in hits:
            zeros = np.zeros_like(numpy_helper.to_array(init))
            init.CopyFrom(numpy_helper.from_array(zeros, init.name))


def _corrupt_rows(proto: Any, ids: list[int], model: Path) -> None:
    """Set rows ``ids`` of the phoneme embedding to NaN.

    The embedding is the initializer gathered by the graph input ``input`` (the phoneme
    ids); in Piper's export it is named ``sid``, shaped [phonemes, channels].
    """
    import numpy as np
    from onnx import numpy_helper

    initializers = {init.name: init for init in proto.graph.initializer}
    tables = [
        node.input[0]
        for node in proto.graph.node
        if node.op_type == "Gather" and len(node.input) == 2 and node.input[1] == "input"
    ]
    table = next((initializers[name] for name in tables if name in initializers), None)
    if table is None:
        raise BundleError(
            f"--corrupt-phoneme: {model.name} has no Gather of a weight by the graph input "
            "'input'; it does not look like a Piper model, whose phoneme embedding that is"
        )
    weights = numpy_helper.to_array(table).copy()
    if weights.ndim != 2 or not np.issubdtype(weights.dtype, np.floating):
        raise BundleError(
            f"--corrupt-phoneme: embedding {table.name!r} of {model.name} is "
            f"{weights.dtype}{list(weights.shape)}, not a float matrix [phonemes, channels]"
        )
    bad = [i for i in ids if not 0 <= i < weights.shape[0]]
    if bad:
        raise BundleError(
            f"--corrupt-phoneme: phoneme ids {bad} are outside embedding {table.name!r} "
            f"({weights.shape[0]} rows) of {model.name}; the voice config does not match it"
        )
    weights[ids] = np.nan
    table.CopyFrom(numpy_helper.from_array(weights, table.name))


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization logs a warning per tensor it skips on the root logger.

    ``logging.warning`` configures a stderr handler on a root logger that has none, so a
    null handler stands in while quantizing, and the level hides the warnings.
    """
    root = logging.getLogger()
    before = root.level
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(before)
        root.removeHandler(placeholder)
