"""ttsops: continuous delivery for text-to-speech models."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("ttsops")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
