"""Slots as containers: the agent's slot runtime over the Docker Engine API.

Each slot is a container of its version's image (the newest one recorded in the ledger by
``ttsops image build``), published on a loopback port for the router. The containers
outlive the agent; a restarted agent adopts them by their labels.
"""

from __future__ import annotations

from pathlib import Path

from ttsops.containers import ContainerLimits, ContainerSlots, PodmanService, find_engine
from ttsops.containers.slots import slot_owner
from ttsops.errors import RolloutError
from ttsops.registry import Ledger
from ttsops.rollout.runtime import SlotInfo
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
    ) -> None:
        """Reach the engine (``docker_host``, which ``load_settings`` defaults to ``DOCKER_HOST``,
        or a podman service of ours)."""
        self.ledger = ledger
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
        self.slots_api.start(slot, version)

    def status(self, slot: str) -> SlotInfo | None:
        """What ``slot``'s container is doing, or None when it has none."""
        found = self.slots_api.status(slot)
        if found is None:
            return None
        short = found.container_id[:12] if found.container_id else None
        detail = found.detail or (f"container {short}" if short else "")
        return SlotInfo(
            found.slot, found.version, found.state, None, found.port, detail, container=short
        )

    def slots(self) -> list[SlotInfo]:
        """Every slot that has a container."""
        found = (self.status(name) for name in ("blue", "green"))
        return [info for info in found if info is not None]

    def stop(self, slot: str) -> None:
        """Drain and remove ``slot``'s container."""
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
