"""Slots as containers: the agent's slot runtime over the Docker Engine API.

Each slot is a container of its version's image (the newest one recorded in the ledger by
``ttsops image build``), published on a loopback port for the router. The containers
outlive the agent; a restarted agent adopts them by their labels.

A *service* version with an ``[image]`` runs its own image instead (``service.toml``: its
reference pinned by ``image_id``, its port, its env); it is ready once a real synthesis
through its speaker passed (``rollout.readiness``), and its slot dir keeps ``kind``,
``bundle`` and ``started`` for the prober of a restarted agent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ttsops.containers import ContainerLimits, ContainerSlots, PodmanService, find_engine
from ttsops.containers.slots import slot_owner
from ttsops.errors import RolloutError
from ttsops.registry import Ledger
from ttsops.rollout.procs import write_atomic
from ttsops.rollout.readiness import ReadinessProber, port_open, read_marker
from ttsops.rollout.runtime import SlotInfo, service_dir
from ttsops.service.bundle import SERVICE_ENGINE, service_of
from ttsops.settings import ContainerSettings

__all__ = ["ContainerSlotRuntime"]


class ContainerSlotRuntime:
    """Starts, inspects and stops the slot containers of one state dir."""

    def __init__(
        self,
        state_dir: Path,
        ledger: Ledger,
        settings: ContainerSettings,
        *,
        drain_timeout_s: float = 30.0,
        fetch: Callable[[str], Path] | None = None,
    ) -> None:
        """Reach the engine (``docker_host``, which ``load_settings`` defaults to ``DOCKER_HOST``,
        or a podman service of ours). ``fetch(version)`` gives a service version's dir."""
        self.ledger = ledger
        self.fetch = fetch
        self.root = state_dir / "slots"
        self.prober = ReadinessProber()
        self.service: PodmanService | None = None
        host = settings.docker_host  # [agent.container] docker_host, else DOCKER_HOST
        if not host:
            engine = find_engine()
            if engine.kind != "podman":
                raise RolloutError(
                    "the container runtime needs the Docker API: set [agent.container] "
                    "docker_host or DOCKER_HOST"
                )
            self.service = PodmanService(engine, f"podman-{slot_owner(state_dir)}")
            host = self.service.start()
        limits = ContainerLimits(
            memory=settings.memory,
            cpus=settings.cpus,
            gpus=settings.gpus,
            env=dict(settings.env),
            volumes=tuple(settings.volumes),
            network=settings.network,
        )
        self.slots_api = ContainerSlots(
            host, state_dir, self._image_of, limits=limits, drain_timeout_s=drain_timeout_s
        )

    def _image_of(self, version: str) -> tuple[str, str]:
        images = self.ledger.images(version)
        if not images:
            raise RolloutError(
                f"version {version} has no container image recorded; build one: "
                f"ttsops image build {version} --tag REPO:{version}"
            )
        return images[0].reference, images[0].image_id

    def start(self, slot: str, version: str) -> None:
        """Start a container of ``version`` in ``slot`` (whatever ran there is stopped)."""
        where = self.root / slot
        self.prober.forget(where)
        for name in ("kind", "bundle", "started", "ready.json"):
            (where / name).unlink(missing_ok=True)
        record = self.ledger.get_version(version)
        if record.manifest.get("engine") != SERVICE_ENGINE:
            self.slots_api.start(slot, version)
            return
        if self.fetch is None:
            raise RolloutError(f"{version} is a service version; this runtime cannot fetch it")
        bundle = self.fetch(version)
        service = service_of(bundle)
        assert service is not None
        if service.image is None:
            raise RolloutError(
                f"{service.name}@{version} runs as a command ([command] in its service.toml); "
                "the container runtime runs only [image] services: set [agent] runtime = "
                '"process" to run command services'
            )
        self.slots_api.stop(slot)
        where.mkdir(parents=True, exist_ok=True)
        write_atomic(where / "kind", "service")
        write_atomic(where / "bundle", str(bundle))
        write_atomic(where / "started", repr(time.time()))
        self.slots_api.start_service(slot, version, service)

    def status(self, slot: str) -> SlotInfo | None:
        """What ``slot``'s container is doing, or None when it has none."""
        found = self.slots_api.status(slot)
        if found is None:
            return None
        short = found.container_id[:12] if found.container_id else None
        detail = found.detail or (f"container {short}" if short else "")
        if found.state == "running" and found.container_id and found.port:
            return self._service_status(slot, found.version, found.container_id, found.port)
        return SlotInfo(
            found.slot, found.version, found.state, None, found.port, detail, container=short
        )

    def _service_status(self, slot: str, version: str, container_id: str, port: int) -> SlotInfo:
        """A running service container's state from its prober's marker (no synthesis)."""
        where = self.root / slot
        short = container_id[:12]
        owner = f"container {short}"
        bundle = service_dir(where)
        service = service_of(bundle) if bundle is not None else None
        runs = service.image.reference if service and service.image else None

        def info(state: str, detail: str = "", timeout: float | None = None) -> SlotInfo:
            return SlotInfo(
                slot, version, state, None, port, detail, container=short, kind="service",
                runs=runs, start_timeout_s=timeout,
            )  # fmt: skip

        if bundle is None or service is None:
            return info("failed", f"its version dir is gone from {where}; deploy it again")
        marker = read_marker(where, owner)
        if marker is None or marker.state == "starting":
            try:
                started = float((where / "started").read_text().strip())
            except (FileNotFoundError, ValueError):
                started = time.time()
            self.prober.ensure(
                where, owner, service=service, version_dir=bundle, port=port,
                started_at=started, alive=lambda: self.slots_api.running(container_id),
            )  # fmt: skip
            return info("starting", marker.reason if marker else "", service.start_timeout_s)
        if marker.state == "failed":
            return info("failed", marker.reason)
        if not port_open(port):
            return info("starting", f"was ready; port {port} now refuses connections")
        return info("ready")

    def version_dir(self, slot: str) -> Path | None:
        """The fetched version dir of ``slot``'s service, or None for a bundle slot."""
        return service_dir(self.root / slot)

    def slots(self) -> list[SlotInfo]:
        """Every slot that has a container."""
        found = (self.status(name) for name in ("blue", "green"))
        return [info for info in found if info is not None]

    def stop(self, slot: str) -> None:
        """Drain and remove ``slot``'s container."""
        self.prober.forget(self.root / slot)
        self.slots_api.stop(slot)

    def logs(self, slot: str, tail: int | None = None) -> str:
        """The slot container's log."""
        return self.slots_api.logs(slot, tail)

    def rotate_logs(self) -> None:
        """Nothing to do: the engine keeps container logs."""

    def close(self) -> None:
        """Close the API connection and stop the podman service this runtime started."""
        self.slots_api.close()
        if self.service is not None:
            self.service.stop()
