"""The inference server: one replica serving one bundle over HTTP."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve_forever"]


def __getattr__(name: str) -> Any:
    # FastAPI and uvicorn load only when the server is used, not for ttsops.server.audio.
    if name == "create_app":
        from ttsops.server.app import create_app

        return create_app
    if name == "serve_forever":
        from ttsops.server.process import serve_forever

        return serve_forever
    raise AttributeError(name)
