"""The Docker-compatible container engine: found once, driven through its CLI.

``DOCKER_HOST`` wins (the ``docker`` CLI against that daemon), then a ``docker`` CLI whose
daemon answers, then podman. Podman gets a private ``containers.conf`` and ``storage.conf``
under the state dir (runc, explicit ulimits within the host's hard limits, cgroupfs, the
file events logger; images and containers under the state dir, never
/var/lib/containers), passed through ``CONTAINERS_CONF`` / ``CONTAINERS_STORAGE_CONF``.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ttsops.containers._proc import run_streamed
from ttsops.errors import ContainerError
from ttsops.settings import load_settings

__all__ = [
    "ContainerEngine",
    "PodmanService",
    "containers_state_dir",
    "find_engine",
    "podman_config",
]


def containers_state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where images, wheels and podman's storage live: outside any checkout, kept across runs.

    ``Settings.containers_dir`` (``TTSOPS_CONTAINERS_DIR``, else under ``XDG_CACHE_HOME``).
    """
    dirs = load_settings(env=env).containers_dir
    assert dirs is not None  # load_settings fills it in
    return dirs


def _host_ulimits() -> tuple[int, int]:
    """nofile and nproc limits a container may ask for: the host's hard limits (capped)."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    try:
        pid_max = int(Path("/proc/sys/kernel/pid_max").read_text().strip())
    except (OSError, ValueError):
        pid_max = 32768
    cap = 1 << 20
    nofile = cap if nofile == resource.RLIM_INFINITY else min(nofile, cap)
    nproc = pid_max if nproc == resource.RLIM_INFINITY else min(nproc, pid_max)
    return nofile, nproc


def podman_config(state_dir: Path) -> dict[str, str]:
    """Write podman's private config files under ``state_dir``; the environment that uses them."""
    conf_dir = state_dir / "conf"
    conf_dir.mkdir(parents=True, exist_ok=True)
    nofile, nproc = _host_ulimits()
    containers_conf = conf_dir / "containers.conf"
    storage_conf = conf_dir / "storage.conf"
    _write_if_changed(
        containers_conf,
        "# written by ttsops: runc (crun fails on cgroup v1 hybrid), ulimits within the\n"
        "# host's hard limits (podman's default nofile is refused), no systemd.\n"
        "[containers]\n"
        f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
        "\n[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'tmp_dir = "{state_dir / "tmp"}"\n',
    )
    _write_if_changed(
        storage_conf,
        "# written by ttsops: images and containers under its own state dir.\n"
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{state_dir / "storage"}"\n'
        f'runroot = "{state_dir / "run"}"\n',
    )
    return {"CONTAINERS_CONF": str(containers_conf), "CONTAINERS_STORAGE_CONF": str(storage_conf)}


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)


@dataclass(frozen=True)
class ContainerEngine:
    """One Docker-compatible engine: its CLI and the environment it runs with."""

    kind: str
    """``podman`` or ``docker``."""

    cli: str
    """Path of the engine's command-line program."""

    state_dir: Path
    """ttsops' container state: caches, podman's storage and config, the API socket."""

    env: Mapping[str, str] = field(default_factory=dict)
    """Variables added to the environment of every engine command."""

    def environ(self) -> dict[str, str]:
        """The full environment engine commands run with."""
        return {**os.environ, **self.env}

    def command(self, *args: str) -> list[str]:
        """The argv of one engine command."""
        return [self.cli, *args]

    def run(
        self, *args: str, check: bool = True, timeout: float | None = 600, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run an engine command and capture its output; a failure raises ``ContainerError``."""
        try:
            done = subprocess.run(
                self.command(*args),
                env=self.environ(),
                capture_output=True,
                text=True,
                timeout=timeout,
                input=input,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ContainerError(
                f"`{self.kind} {' '.join(args)}` did not finish within {timeout:.0f} s"
            ) from None
        if check and done.returncode != 0:
            raise ContainerError(
                f"`{self.kind} {' '.join(args)}` failed (exit {done.returncode}): "
                f"{_last_line(done.stderr or done.stdout)}"
            )
        return done

    def stream(self, args: Sequence[str], on_line: Callable[[str], None] | None) -> list[str]:
        """Run an engine command, passing each output line to ``on_line``; all its lines."""
        return run_streamed(
            self.command(*args), on_line, what=f"`{self.kind} {args[0]}`", env=self.environ()
        )

    def passthrough(self, *args: str) -> int:
        """Run an engine command on this terminal (its output straight to ours); its exit code."""
        return subprocess.run(self.command(*args), env=self.environ(), check=False).returncode

    def image_exists(self, ref: str) -> bool:
        """True when the engine holds an image named or with id ``ref``."""
        return self.run("image", "inspect", "--format", "{{.Id}}", ref, check=False).returncode == 0

    def pull_never(self) -> list[str]:
        """The build/run option that forbids reaching a registry for a missing image."""
        return ["--pull=never"] if self.kind == "podman" else ["--pull=false"]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if "unable to get systemd connection" not in ln]
    return (useful or lines or ["(no output)"])[-1]


def find_engine(
    state_dir: Path | None = None, env: Mapping[str, str] | None = None
) -> ContainerEngine:
    """The engine to use: ``DOCKER_HOST``, else a ``docker`` whose daemon answers, else podman.

    ``env`` stands in for the process environment when the settings are read.
    """
    settings = load_settings(env=env)
    assert settings.containers_dir is not None  # load_settings fills it in
    state = (state_dir or settings.containers_dir).expanduser().resolve()
    docker = shutil.which("docker")
    if settings.docker_host:
        if docker is None:
            raise ContainerError(
                f"DOCKER_HOST is {settings.docker_host} but there is no `docker` CLI on PATH; "
                "install it, or unset DOCKER_HOST to use podman"
            )
        return ContainerEngine("docker", docker, state, {"DOCKER_HOST": settings.docker_host})
    if docker is not None and _answers(docker):
        return ContainerEngine("docker", docker, state)
    podman = shutil.which("podman")
    if podman is None:
        raise ContainerError(
            "no container engine: DOCKER_HOST is unset, no docker daemon answers and podman "
            "is not installed; run scripts/system-deps.sh as root (podman, runc) or set "
            "DOCKER_HOST to a Docker-compatible engine"
        )
    state.mkdir(parents=True, exist_ok=True)
    (state / "tmp").mkdir(exist_ok=True)
    return ContainerEngine("podman", podman, state, podman_config(state))


def _answers(docker: str) -> bool:
    try:
        done = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _die_with_parent() -> None:
    """In the child: SIGTERM when the process that started it dies, even by kill -9.

    The containers do not need the service (conmon keeps them), so a killed agent leaves
    them running, and the restarted agent starts a service of its own.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class PodmanService:
    """``podman system service`` on a private Unix socket: the Docker Engine API for the SDK."""

    def __init__(self, engine: ContainerEngine, name: str = "podman") -> None:
        """A service on ``<state dir>/<name>.sock`` (one name per user of it: an agent, a test)."""
        if engine.kind != "podman":
            raise ContainerError(f"the API service is podman's; this engine is {engine.kind}")
        self.engine = engine
        self.socket = engine.state_dir / f"{name}.sock"
        self.log_path = engine.state_dir / f"{name}-service.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``DOCKER_HOST`` value that reaches the service."""
        return f"unix://{self.socket}"

    def start(self, timeout_s: float = 30) -> str:
        """Start the service and wait until its socket exists; returns its URL."""
        self.socket.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.engine.command("system", "service", "--time=0", self.url),
            env=self.engine.environ(),
            # conmon (cgroup v1) drops an `oom` mark in its working directory: keep it here.
            cwd=self.engine.state_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only, no locks taken
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while not self.socket.exists():
            if self.proc.poll() is not None:
                raise ContainerError(
                    f"podman system service exited ({self.proc.returncode}); see {self.log_path}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ContainerError(f"podman system service made no socket in {timeout_s} s")
            time.sleep(0.05)
        return self.url

    def stop(self, timeout_s: float = 10) -> None:
        """Stop the service by its own PID (SIGTERM, then SIGKILL)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self.socket.unlink(missing_ok=True)
