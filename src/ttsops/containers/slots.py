"""Slots as containers: each slot a container of its version's image, via the Docker API.

The same questions as process slots (start, status, stop) answered with the Docker Engine
API (the ``docker`` SDK; podman's compatible socket here). Containers carry labels (slot,
version, the state dir that owns them), so a restarted agent finds and adopts them. Stopping
is graceful (SIGTERM, then the drain limit) — never the SDK's instant SIGKILL. The image's
health check is run by the agent (nothing schedules it here) and counts for readiness
together with ``/readyz``. A container that exited says why, "out of memory" included
(``containers.oom``).

A slot of a *service* version runs the service's own image (pinned by its ``image_id``),
publishing its ``port`` and with its ``env``; it is labelled ``io.ttsops.kind=service`` and
its status is only ``running`` or ``exited`` here: whether it speaks is proved by the
agent's readiness prober (``rollout.readiness``), not by a ``/readyz`` it does not have.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ttsops.containers.engine import ContainerEngine
from ttsops.containers.oom import oom_killed, oom_reason
from ttsops.errors import ContainerError

if TYPE_CHECKING:
    from ttsops.service.manifest import ServiceManifest

__all__ = [
    "KIND_LABEL",
    "OWNER_LABEL",
    "SLOT_LABEL",
    "ContainerLimits",
    "ContainerSlots",
    "SlotStatus",
    "container_run_args",
    "find_slot_container",
    "slot_log",
    "slot_owner",
]

SLOT_LABEL = "io.ttsops.slot"
"""Label naming the slot a container is."""

_VERSION_LABEL = "io.ttsops.version"
OWNER_LABEL = "io.ttsops.owner"
"""Label naming the state dir (hashed) whose agent owns a container."""
_PORT_LABEL = "io.ttsops.port"
KIND_LABEL = "io.ttsops.kind"
"""Label saying what a slot container runs: ``bundle`` (ttsops serve) or ``service``."""
_SLOT_NAMES = ("blue", "green")


@dataclass(frozen=True)
class ContainerLimits:
    """Resources one slot container may use (``[agent.container]``)."""

    memory: str | None = "1g"
    """Memory limit (``512m``, ``2g``); None for none."""

    cpus: float | None = None
    """CPUs (fractional); None for no limit."""

    gpus: int = 0
    """GPUs to request from the engine (``device_requests``); 0 for none."""

    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment of the container."""

    volumes: tuple[str, ...] = ()
    """Bind mounts, ``HOST:CONTAINER[:ro]``."""

    network: str | None = None
    """Network mode (``slirp4netns:allow_host_loopback=true``); None for the engine's bridge."""


@dataclass(frozen=True)
class SlotStatus:
    """What a slot container is doing now (mirrors the process runtime's ``SlotInfo``)."""

    slot: str
    version: str
    state: str
    """``starting``, ``ready``, ``failed`` or ``exited``."""
    container_id: str | None
    port: int | None
    detail: str = ""


def slot_owner(state_dir: Path) -> str:
    """The label value that marks a state dir's containers (its path's hash)."""
    return hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]


def slot_log(state_dir: Path, slot: str) -> Path:
    """Where the log of ``slot``'s last removed container is kept."""
    return state_dir / "slots" / slot / "serve.log"


def find_slot_container(engine: ContainerEngine, state_dir: Path, slot: str) -> str | None:
    """The id of ``slot``'s container owned by ``state_dir``'s agent, through the engine CLI."""
    done = engine.run(
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        f"label={SLOT_LABEL}={slot}",
        "--filter",
        f"label={OWNER_LABEL}={slot_owner(state_dir)}",
    )
    found = done.stdout.split()
    return found[0] if found else None


def container_run_args(
    *,
    image: str,
    image_id: str,
    slot: str,
    version: str,
    port: int,
    owner: str,
    limits: ContainerLimits,
    service: ServiceManifest | None = None,
) -> dict[str, Any]:
    """The keyword arguments of ``containers.run`` for one slot: a pure function, tested.

    With ``service`` (an image service) the container is of its image, pinned by its id
    when known, publishes its ``port`` and gets its ``env`` (then the limits' env).
    """
    inside, env, kind = 6006, {"TTSOPS_IMAGE_ID": image_id}, "bundle"
    if service is not None:
        if service.image is None or service.port is None:
            raise ContainerError(
                f"service {service.name}@{version} runs as a command, not from an image; the "
                'container runtime runs only [image] services: set [agent] runtime = "process"'
            )
        image = service.image.image_id or service.image.reference
        inside, env, kind = service.port, dict(service.image.env), "service"
    args: dict[str, Any] = {
        "image": image,
        "detach": True,
        "name": f"ttsops-{owner}-{slot}",
        "ports": {f"{inside}/tcp": ("127.0.0.1", port)},
        "labels": {
            SLOT_LABEL: slot,
            _VERSION_LABEL: version,
            OWNER_LABEL: owner,
            _PORT_LABEL: str(port),
            KIND_LABEL: kind,
        },
        "environment": {**env, **limits.env},
        "stop_signal": "SIGTERM",
    }
    if limits.volumes:
        args["volumes"] = list(limits.volumes)
    if limits.network:
        args["network_mode"] = limits.network
    if limits.memory:
        args["mem_limit"] = limits.memory
    if limits.cpus:
        args["nano_cpus"] = int(limits.cpus * 1e9)
    if limits.gpus:
        import docker.types

        args["device_requests"] = [
            docker.types.DeviceRequest(count=limits.gpus, capabilities=[["gpu"]])
        ]
    return args


class ContainerSlots:
    """Starts, inspects and stops the slot containers of one state dir."""

    def __init__(
        self,
        docker_host: str,
        state_dir: Path,
        image_of: Callable[[str], tuple[str, str]],
        *,
        limits: ContainerLimits | None = None,
        drain_timeout_s: float = 30.0,
    ) -> None:
        """``image_of(version)`` gives (reference, content id) of the version's image."""
        import docker

        self.client = docker.DockerClient(base_url=docker_host, version="1.41", timeout=120)
        self.state_dir = state_dir
        self.owner = slot_owner(state_dir)
        self.image_of = image_of
        self.limits = limits or ContainerLimits()
        self.drain_timeout_s = drain_timeout_s
        self._healthy: set[str] = set()

    def close(self) -> None:
        """Close the API connection."""
        self.client.close()

    def _find(self, slot: str) -> Any | None:
        found = self.client.containers.list(
            all=True, filters={"label": [f"{SLOT_LABEL}={slot}", f"{OWNER_LABEL}={self.owner}"]}
        )
        return found[0] if found else None

    def start(self, slot: str, version: str) -> str:
        """Start a container of ``version``'s image in ``slot``; its id."""
        import docker.errors

        self.stop(slot)
        image, image_id = self.image_of(version)
        args = container_run_args(
            image=image,
            image_id=image_id,
            slot=slot,
            version=version,
            port=_free_port(),
            owner=self.owner,
            limits=self.limits,
        )
        try:
            box = self.client.containers.run(**args)
        except docker.errors.APIError as exc:
            raise ContainerError(f"starting {image} in slot {slot} failed: {exc}") from None
        return str(box.id)

    def start_service(self, slot: str, version: str, service: ServiceManifest) -> str:
        """Start a container of ``service``'s own image in ``slot``; its id."""
        import docker.errors

        self.stop(slot)
        args = container_run_args(
            image=service.image.reference if service.image else "",
            image_id=(service.image.image_id or "") if service.image else "",
            slot=slot,
            version=version,
            port=_free_port(),
            owner=self.owner,
            limits=self.limits,
            service=service,
        )
        try:
            box = self.client.containers.run(**args)
        except docker.errors.ImageNotFound:
            raise ContainerError(
                f"the image {args['image']} of {service.name}@{version} is not on this host's "
                "container engine; pull or load it, then deploy again"
            ) from None
        except docker.errors.APIError as exc:
            raise ContainerError(
                f"starting {args['image']} ({service.name}@{version}) in slot {slot} failed: {exc}"
            ) from None
        return str(box.id)

    def running(self, container_id: str) -> bool:
        """True while the container ``container_id`` runs."""
        import docker.errors

        try:
            return bool(self.client.containers.get(container_id).status == "running")
        except (docker.errors.NotFound, docker.errors.APIError):
            return False

    def status(self, slot: str) -> SlotStatus | None:  # noqa: PLR0911 - one return per state
        """What ``slot`` is doing, or None when no container of it exists.

        A running service container is ``running``: its readiness is the prober's.
        """
        box = self._find(slot)
        if box is None:
            return None
        labels = box.labels
        version, port = labels.get(_VERSION_LABEL, "?"), int(labels.get(_PORT_LABEL, "0"))
        state = box.attrs.get("State", {})
        if state.get("Status") != "running":
            # The whole log, then its end: podman's own tail=N drops the text of a line that
            # was written in two pieces (a crash's last line, often).
            lines = box.logs(tail="all").decode(errors="replace").strip().splitlines()
            tail = " | ".join(lines[-5:])
            why = f"exit {state.get('ExitCode')}"
            if oom_killed(str(box.id), state):
                memory = (box.attrs.get("HostConfig") or {}).get("Memory")
                why += f" ({oom_reason(int(memory or 0))})"
            return SlotStatus(slot, version, "exited", box.id, port, f"{why}: {tail}")
        if labels.get(KIND_LABEL) == "service":
            return SlotStatus(slot, version, "running", box.id, port)
        try:
            readyz = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=3)
            served = httpx.get(f"http://127.0.0.1:{port}/version", timeout=3).json()["version"]
        except (httpx.HTTPError, ValueError, KeyError):
            return SlotStatus(slot, version, "starting", box.id, port)
        if served != version:
            return SlotStatus(slot, version, "failed", box.id, port, f"serves {served}")
        if readyz.status_code != 200:
            return SlotStatus(slot, version, "starting", box.id, port)
        if box.id not in self._healthy:
            if not self.healthcheck(box.id):
                return SlotStatus(slot, version, "starting", box.id, port, "health check")
            self._healthy.add(box.id)
        return SlotStatus(slot, version, "ready", box.id, port)

    def healthcheck(self, container_id: str) -> bool:
        """Run the image's health check now (podman: libpod API) or read the engine's verdict."""
        api = self.client.api
        answer = api.get(f"{api.base_url}/v4.0.0/libpod/containers/{container_id}/healthcheck")
        if answer.status_code == 404 and "page not found" in answer.text:
            health = self.client.containers.get(container_id).attrs["State"].get("Health", {})
            return bool(health.get("Status") == "healthy")
        return bool(answer.ok and answer.json().get("Status") == "healthy")

    def slots(self) -> list[SlotStatus]:
        """Every slot that has a container, running or not."""
        found = (self.status(name) for name in _SLOT_NAMES)
        return [info for info in found if info is not None]

    def stop(self, slot: str) -> None:
        """Drain (SIGTERM, up to the drain limit + 5 s) and remove the slot's container.

        Its log is kept in ``<state dir>/slots/<slot>/serve.log`` (where a process slot's
        is), so why a removed container failed stays readable with ``ttsops logs``.
        """
        box = self._find(slot)
        if box is None:
            return
        if box.status == "running":
            box.stop(timeout=int(self.drain_timeout_s + 5))
        kept = slot_log(self.state_dir, slot)
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_bytes(box.logs(tail="all"))
        box.remove()
        self._healthy.discard(str(box.id))

    def logs(self, slot: str, tail: int | None = None) -> str:
        """The slot container's log, or its last removed container's."""
        box = self._find(slot)
        if box is None:
            kept = slot_log(self.state_dir, slot)
            if not kept.is_file():
                raise ContainerError(f"slot {slot} has no container and no kept log")
            lines = kept.read_text(errors="replace").splitlines(keepends=True)
            return "".join(lines[-tail:] if tail else lines)
        data: bytes = box.logs(tail=tail if tail is not None else "all")
        return data.decode(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
