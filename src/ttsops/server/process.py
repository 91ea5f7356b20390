"""Running a replica as a process: binding, the port file, and the SIGTERM drain.

First SIGTERM (or SIGINT): readiness turns 503 at once, new requests get 503, requests in
flight finish, then the process exits 0. A second signal, or ``drain_timeout_s`` passing,
ends it at once with exit code 1 (requests still in flight are cut).
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

import uvicorn

from ttsops.bundle.manifest import Manifest
from ttsops.engines import EngineOptions
from ttsops.server.app import create_app
from ttsops.server.replica import Replica
from ttsops.settings import ServerSettings

__all__ = ["serve_forever"]

log = logging.getLogger("ttsops.server")


class _DrainingServer(uvicorn.Server):
    """uvicorn, with a drain on the first signal and a hard stop on the second."""

    def __init__(self, config: uvicorn.Config, replica: Replica, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.replica = replica
        self.drain_timeout_s = drain_timeout_s
        self.forced = False
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining:
            log.warning("second signal: exiting now, cutting %d request(s)", self._busy())
            self.forced = True
            self.force_exit = True
            self.should_exit = True
            return
        self._draining = True
        log.info("signal %s: draining (%d in flight)", signal.Signals(sig).name, self._busy())
        self.replica.begin_drain()
        threading.Thread(target=self._drain, name="drain", daemon=True).start()

    def _busy(self) -> int:
        return self.replica.pool.in_flight + self.replica.pool.queued

    def _drain(self) -> None:
        if self.replica.pool.wait_idle(self.drain_timeout_s):
            log.info("drained: all requests finished")
        else:
            log.warning(
                "drain limit %.0f s passed with %d request(s) in flight; exiting",
                self.drain_timeout_s,
                self._busy(),
            )
            self.forced = True
            self.force_exit = True
        self.should_exit = True


def serve_forever(
    bundle_dir: Path,
    manifest: Manifest,
    settings: ServerSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 6006,
    port_file: Path | None = None,
    ui: bool = True,
    log_level: str = "info",
    engine_options: EngineOptions | None = None,
) -> int:
    """Serve until signalled; returns the process exit code (0 after a clean drain)."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(bundle_dir, manifest, settings, engine_options=engine_options, ui=ui)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        print(
            f"error: cannot listen on {host}:{port}: {exc.strerror}; "
            "choose another --port or stop what uses it",
            file=sys.stderr,
        )
        return 1
    sock.listen(2048)
    bound = sock.getsockname()[1]
    if port_file is not None:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(bound))
        tmp.replace(port_file)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=5,
    )
    server = _DrainingServer(config, app.state.replica, settings.drain_timeout_s)
    log.info("serving %s on http://%s:%d", manifest.ref, host, bound)
    server.run(sockets=[sock])
    return 1 if server.forced else 0
