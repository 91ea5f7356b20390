"""Kubernetes manifests of a version (``ttsops k8s render``): pure renders, checked offline.

``render_manifests(options)`` returns file name → YAML text; nothing here talks to a
cluster. ``image_of_version`` reads the image a registered version was built into.
"""

from __future__ import annotations

from ttsops.k8s.manifests import render_manifests
from ttsops.k8s.options import ANALYSIS_PORT, PORT, K8sOptions, ModelMode
from ttsops.k8s.source import ImageChoice, image_of_version

__all__ = [
    "ANALYSIS_PORT",
    "PORT",
    "ImageChoice",
    "K8sOptions",
    "ModelMode",
    "image_of_version",
    "render_manifests",
]
