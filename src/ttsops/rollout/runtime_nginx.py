"""The nginx router at the edge: its process, its config file, test, reload and read-back.

nginx runs as the agent's child in the foreground (``-g 'daemon off;'``) in its own session
with every path under ``<state_dir>/nginx``, so it runs as any user and outlives a killed
agent; a restarted agent finds it through its pid file. A switch renders the config, checks
it with ``nginx -t``, moves it into place, sends SIGHUP (graceful reload: old workers finish
the requests they hold, so streams in flight end on the slot they started on), and then
reads the version back through the public port before it returns.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from ttsops.errors import RouterError
from ttsops.rollout.procs import alive, children, read_pid, stop_pid, write_atomic
from ttsops.rollout.router import Route, SessionActivity
from ttsops.rollout.router_nginx import render_nginx
from ttsops.rollout.router_sessions import read_sessions

__all__ = ["NGINX_PATHS", "NginxRouter", "find_nginx"]

NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
"""Where nginx is looked for when it is not on PATH (Debian puts it in /usr/sbin)."""

_MARK = "nginx"
_TEMPS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def find_nginx() -> str:
    """Path of the nginx binary; a ``RolloutError`` saying how to install it when missing."""
    found = shutil.which("nginx") or next((p for p in NGINX_PATHS if Path(p).is_file()), None)
    if found is None:
        raise RouterError(
            "nginx is not installed (not on PATH nor in /usr/sbin); the agent routes traffic "
            "through it: install it with `sudo apt-get install nginx-light` (or run "
            "scripts/system-deps.sh), then start the agent again"
        )
    return found


_VERIFY_STREAK = 6
"""Consecutive fresh connections that must reach the new routes before a switch counts."""


class NginxRouter:
    """The ``Router`` of a host: one nginx on the public port, config from ``render_nginx``."""

    def __init__(
        self,
        state_dir: Path,
        *,
        public_port: int,
        public_host: str = "127.0.0.1",
        read_timeout_s: float = 300.0,
        verify_timeout_s: float = 15.0,
        agent_upstream: str | None = None,
    ) -> None:
        """Keep nginx's config, pid, logs and temp files under ``state_dir/nginx``.

        ``agent_upstream`` (``host:port`` of the agent's API) serves the dashboard under
        ``/_ttsops/dashboard/`` on the public port too.
        """
        self.agent_upstream = agent_upstream
        self.prefix = (state_dir / "nginx").resolve()
        self.public_port = public_port
        self.public_host = public_host
        self.read_timeout_s = read_timeout_s
        self.verify_timeout_s = verify_timeout_s
        self.binary = find_nginx()
        self.conf = self.prefix / "nginx.conf"
        self.routes_file = self.prefix / "routes.json"
        self._child: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The public URL users reach."""
        host = "127.0.0.1" if self.public_host in ("0.0.0.0", "") else self.public_host  # noqa: S104
        return f"http://{host}:{self.public_port}"

    def routes(self) -> list[Route]:
        """The routes last applied (read from ``routes.json``)."""
        try:
            raw = json.loads(self.routes_file.read_text())
        except FileNotFoundError:
            return []
        return [Route(**item) for item in raw]

    def pid(self) -> int | None:
        """PID of the running nginx master, or None."""
        pid = read_pid(self.prefix / "nginx.pid")
        return pid if pid is not None and alive(pid, _MARK) else None

    def ensure_running(self) -> None:
        """Start nginx with the persisted routes, or reload a running one with them."""
        for sub in ("logs", *(f"temp/{t}" for t in _TEMPS)):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        self._write_config(self.routes())
        if self.pid() is not None:
            self._reload()
            return
        # Requests a dead nginx had open never end: its session log starts over.
        (self.prefix / "logs" / "sessions.log").unlink(missing_ok=True)
        self._child = subprocess.Popen(
            [self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.prefix / "logs" / "stderr.log").open("ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._child.poll() is not None:
                raise RouterError(
                    f"nginx exited with code {self._child.returncode} on start; see "
                    f"{self.prefix / 'logs'} (is port {self.public_port} taken? choose another "
                    "--public-port)"
                )
            if self.pid() is not None and self._answers():
                return
            time.sleep(0.05)
        raise RouterError(f"nginx did not answer on {self.url} within 10 s; see its logs")

    def apply(self, routes: list[Route]) -> None:
        """Persist, render, test and reload ``routes``; return once the public port serves them."""
        self._write_config(routes)  # refused here, nothing changes: not even routes.json
        write_atomic(self.routes_file, json.dumps([r.__dict__ for r in routes], indent=1))
        if self.pid() is None:
            self.ensure_running()
        else:
            self._reload()
        self._verify(routes)

    def sessions(self, slot: str) -> SessionActivity:
        """What the browser sessions that ``slot`` holds do (from nginx's session log)."""
        return read_sessions(self.prefix / "logs" / "sessions.log", slot)

    def stop(self) -> None:
        """Stop nginx gracefully (SIGQUIT), SIGKILL after 10 s."""
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, _MARK, grace_s=10, sig=signal.SIGQUIT)
        if self._child is not None:
            self._child.wait()

    def _write_config(self, routes: list[Route]) -> None:
        text = render_nginx(
            routes,
            prefix=str(self.prefix),
            listen_port=self.public_port,
            listen_host=self.public_host,
            read_timeout_s=self.read_timeout_s,
            user="root" if os.geteuid() == 0 else None,
            agent_upstream=self.agent_upstream,
        )
        candidate = self.prefix / "nginx.conf.new"
        write_atomic(candidate, text)
        test = subprocess.run(
            [self.binary, "-t", "-q", "-p", str(self.prefix), "-c", str(candidate)],
            capture_output=True,
            text=True,
            check=False,
        )
        if test.returncode != 0:
            raise RouterError(
                f"nginx refused the rendered config {candidate}: {test.stderr.strip()}; the "
                "router keeps its previous config"
            )
        candidate.replace(self.conf)

    def _reload(self) -> None:
        """SIGHUP, then wait until the workers of the old config accept no more connections.

        Until then a request may still be routed by the old config: a session cookie for a
        slot just taken out would still reach it, and the next request of the same press
        would not. A change that leaves the weighted slot as it was (a leaving slot taken
        out) cannot be told apart through the public port, so the workers are checked.
        """
        pid = self.pid()
        if pid is None:
            raise RouterError(f"nginx is not running (no live pid in {self.prefix}/nginx.pid)")
        before = self._accepting_workers(pid)
        os.kill(pid, signal.SIGHUP)
        if not before:
            return  # workers cannot be seen here (no /proc): the read-back has to do
        deadline = time.monotonic() + self.verify_timeout_s
        while time.monotonic() < deadline:
            now = self._accepting_workers(pid)
            if now and not now & before:
                return
            time.sleep(0.02)
        raise RouterError(
            f"nginx (pid {pid}) did not take its new config within {self.verify_timeout_s:.0f} s: "
            f"the workers of the old one still accept connections; see "
            f"{self.prefix / 'logs' / 'error.log'}"
        )

    @staticmethod
    def _accepting_workers(pid: int) -> set[int]:
        """PIDs of the master's workers that accept connections (not shutting down)."""
        return {
            child
            for child, title in children(pid).items()
            if "worker process" in title and "shutting down" not in title
        }

    def ready(self) -> bool:
        """True when ``/readyz`` through the public port answers 200 (users are served)."""
        try:
            return httpx.get(f"{self.url}/readyz", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def _answers(self) -> bool:
        try:
            httpx.get(f"{self.url}/healthz", timeout=1)
        except httpx.HTTPError:
            return False
        return True

    def _verify(self, routes: list[Route]) -> None:
        """Read back: new connections through the public port reach the weighted version."""
        wanted = {r.version for r in routes if r.weight > 0 and not r.backup}
        slots = {r.slot for r in routes if r.weight > 0 and not r.backup}
        deadline = time.monotonic() + self.verify_timeout_s
        seen: str | None = None
        streak = 0  # old workers accept new connections for a moment after SIGHUP
        while time.monotonic() < deadline:
            reached = False
            try:
                with httpx.Client(timeout=2) as client:  # a fresh connection each try
                    reply = client.get(f"{self.url}/version")
                if not wanted and reply.status_code == 503:
                    return
                # A service may have no /version: the slot nginx names as the answerer counts,
                # whatever it answered, unless nginx could not reach it (502, 504).
                slot = reply.headers.get("x-ttsops-slot")
                reached = reply.status_code not in (502, 504) and slot in slots
                seen = f"slot {slot}" if slot else None
                if reply.status_code == 200 and reply.headers.get("content-type", "").startswith(
                    "application/json"
                ):
                    seen = reply.json().get("version") or seen
            except (httpx.HTTPError, ValueError, AttributeError):
                seen = None
            streak = streak + 1 if seen in wanted or reached else 0
            if streak >= _VERIFY_STREAK:
                return
            time.sleep(0.05)
        raise RouterError(
            f"router on {self.url} still serves {seen or 'nothing'} {self.verify_timeout_s:.0f} s "
            f"after switching to {', '.join(sorted(wanted)) or 'no version'}; see "
            f"{self.prefix / 'logs' / 'error.log'}"
        )
