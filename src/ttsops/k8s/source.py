"""Which image a version runs as: the one ``ttsops image build`` recorded, or one given."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ttsops.errors import KubernetesError
from ttsops.k8s.options import ModelMode

__all__ = ["ImageChoice", "image_of_version"]


@dataclass(frozen=True)
class ImageChoice:
    """The version's name, image and how it gets its model."""

    name: str
    """The bundle's name as a DNS label (``joe``): the default name of the objects."""

    version: str
    """The version, normalized (``1.0.0``)."""

    image: str
    """The image reference."""

    model: ModelMode
    """``baked`` or ``store``."""

    image_id: str | None
    """The image's content id, when the registry recorded one."""


def _dns_label(text: str) -> str:
    label = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:52].strip("-")
    return label or "tts"


def image_of_version(
    version: str, *, image: str | None = None, model: ModelMode | None = None
) -> ImageChoice:
    """The image of ``version``: ``image`` if given, else the newest the ledger recorded.

    With ``image`` the registry is not read (the name comes from the image's repository).
    Else the version must be registered; with ``model``, the newest recorded image of that
    kind is taken, and a version with none is refused with the command that builds one.
    """
    from ttsops.registry import Registry, normalize_version

    if image is not None:
        name = re.split(r"[:@]", image.rsplit("/", 1)[-1])[0]
        plain = version.strip().removeprefix("v")
        return ImageChoice(_dns_label(name), plain, image, model or "baked", None)
    plain = normalize_version(version)
    with Registry.open() as reg:
        record = reg.ledger.get_version(plain)
        images = reg.ledger.images(plain)
    fitting = [i for i in images if model is None or i.model == model]
    if not fitting:
        kind = f" {model}" if model else ""
        flag = f" --model {model}" if model == "store" else ""
        raise KubernetesError(
            f"version {plain} has no{kind} container image recorded; build one with "
            f"`ttsops image build {plain} --tag REPO:{plain}{flag} --push`, or give --image"
        )
    chosen = fitting[0]
    mode: ModelMode = "store" if chosen.model == "store" else "baked"
    return ImageChoice(_dns_label(record.name), plain, chosen.reference, mode, chosen.image_id)
