"""The agent of one host: recovery on start, the controller loop, and the operations
the management API exposes (deploy, roll back, abort, status).

State lives in the ledger and in the state dir, never only here: on start the agent
first re-applies the persisted routes to nginx (so traffic never points at nothing),
then resumes whatever deployment was in flight, adopting the slots that still run.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ttsops.errors import (
    DeploymentBusyError,
    DeploymentNotFoundError,
    RolloutError,
    RolloutRefusedError,
    TtsopsError,
)
from ttsops.registry import DeploymentRecord, DeploymentState, EventKind, Registry
from ttsops.rollout.alerts import Alert, send_webhook
from ttsops.rollout.controller import STRATEGIES, Controller
from ttsops.rollout.observer import SlotObserver
from ttsops.rollout.patrol import (
    Patrol,
    heal_action,
    probe_speaker,
    probe_speech,
    with_slot_death,
)
from ttsops.rollout.procs import write_atomic
from ttsops.rollout.runtime import SLOT_NAMES, SlotRuntime
from ttsops.rollout.runtime_nginx import NginxRouter

if TYPE_CHECKING:
    from ttsops.rollout.runtime_container import ContainerSlotRuntime
from ttsops.rollout.state import Phase, Rollout, load, start, transition
from ttsops.settings import Settings

__all__ = ["Agent", "SlotView", "agent_token"]

log = logging.getLogger("ttsops.agent")


@dataclass(frozen=True)
class SlotView:
    """A slot as ``status`` shows it."""

    slot: str
    version: str
    state: str
    pid: int | None
    port: int | None
    weight: int
    backup: bool
    detail: str
    container: str | None = None
    """Short container id of a container slot (``pid`` is then None)."""
    kind: str = "bundle"
    """``bundle`` (``ttsops serve`` of model files) or ``service`` (a team's own server)."""
    runs: str | None = None
    """For a service slot: the command line or image it runs."""


def agent_token(settings: Settings, state_dir: Path) -> tuple[str, Path | None]:
    """The API token: ``TTSOPS_TOKEN``, else ``[agent] token_file``, else ``<state_dir>/token``.

    The last is created (random, mode 0600) when missing; returns where it was read from.
    """
    if settings.token:
        return settings.token, None
    path = settings.agent.token_file or state_dir / "token"
    if not path.is_file():
        if settings.agent.token_file is not None:
            raise RolloutError(f"token file {path} does not exist; create it or set TTSOPS_TOKEN")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, secrets.token_urlsafe(32))
        path.chmod(0o600)
    token = path.read_text().strip()
    if not token:
        raise RolloutError(f"token file {path} is empty; put a secret in it or set TTSOPS_TOKEN")
    return token, path


class Agent:
    """Owns a host's slots and router; every change goes through the controller."""

    def __init__(self, settings: Settings, *, state_dir: Path | None = None) -> None:
        """Open the registry and set up the slots and the router under the state dir."""
        self.settings = settings
        self.state_dir = (state_dir or settings.agent_state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.registry = Registry.open(settings)
        self.ledger = self.registry.ledger
        cfg = settings.agent
        self.slots: SlotRuntime | ContainerSlotRuntime
        if cfg.runtime == "container":
            from ttsops.rollout.runtime_container import ContainerSlotRuntime

            self.slots = ContainerSlotRuntime(
                self.state_dir,
                self.ledger,
                cfg.container,
                drain_timeout_s=cfg.drain_timeout_s,
                fetch=lambda version: self.registry.fetch(version).path,
            )
        else:
            self.slots = SlotRuntime(
                self.state_dir,
                lambda version: self.registry.fetch(version).path,
                serve_args=cfg.serve_args,
                drain_timeout_s=cfg.drain_timeout_s,
                log_max_bytes=cfg.log_max_bytes,
            )
        self.router = NginxRouter(
            self.state_dir,
            public_port=cfg.public_port,
            public_host=cfg.public_host,
            read_timeout_s=settings.server.request_timeout_s + 30,
            agent_upstream=f"{_loopback(cfg.host)}:{cfg.port}" if cfg.port else None,
        )
        self.actor = f"agent@{os.uname().nodename}"
        self.observer = SlotObserver(
            settings.canary,
            timeout_s=settings.server.request_timeout_s,
            upstream_log=self.router.prefix / "logs" / "upstreams.log",
            service_dir=self.service_dir,
        )
        self.controller = Controller(
            self.ledger,
            self.slots,
            self.router,
            start_timeout_s=cfg.start_timeout_s,
            keep_previous_warm=cfg.keep_previous_warm,
            actor=self.actor,
            observer=self.observer,
            canary=settings.canary,
            drain_timeout_s=cfg.drain_timeout_s,
        )
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock_file = _hold_lock(self.state_dir / "agent.lock")
        self._thread: threading.Thread | None = None
        patrol = settings.patrol
        self.patrol = (
            Patrol(
                self.probe_live,
                interval_s=patrol.interval_s,
                failures=patrol.failures,
                on_alarm=self.on_alarm,
            )
            if patrol.enabled
            else None
        )

    # -- life cycle -------------------------------------------------------------------------

    def recover(self) -> None:
        """Re-apply the persisted routes to nginx (starting it if needed) before anything else."""
        self.router.ensure_running()
        active = self.active()
        if active is not None:
            rollout = load(self.ledger, active)
            log.info(
                "resuming deployment #%d of %s in %s", rollout.id, rollout.version, rollout.phase
            )
            return
        # Nothing in flight: if the live version's slot is gone (a reboot, a killed process),
        # bring it back through an ordinary deployment rather than leave the router dangling.
        live = self.controller.live_route()
        version = live.version if live else self.ledger.live_version()
        if version is None:
            return
        info = self.slots.status(live.slot) if live else None
        if info is None or info.state in ("exited", "failed"):
            why = f"restore {version}: its slot was not running when the agent started"
            log.warning(why)
            start(self.ledger, version, "blue-green", reason=why, actor=self.actor)

    def start_loop(self) -> None:
        """Run the controller loop in a background thread."""
        self._thread = threading.Thread(target=self._loop, name="controller", daemon=True)
        self._thread.start()
        if self.patrol is not None:
            self.patrol.start()

    def stop_loop(self) -> None:
        """Stop the loop after its current tick; slots and nginx keep serving."""
        self._stop.set()
        self._wake.set()
        if self.patrol is not None:
            self.patrol.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.observer.shutdown()

    def _loop(self) -> None:
        last_rotate = 0.0
        while not self._stop.is_set():
            try:
                moved = self.tick()
            except TtsopsError as exc:
                log.warning("tick failed, retrying: %s", exc.message)
                moved = False
                self._stop.wait(1.0)
            except Exception:
                log.exception("tick crashed, retrying")
                moved = False
                self._stop.wait(1.0)
            if time.monotonic() - last_rotate > 10:
                self.slots.rotate_logs()
                last_rotate = time.monotonic()
            if not moved:
                self._wake.wait(0.2)  # a new deployment wakes the loop at once
                self._wake.clear()

    def tick(self) -> bool:
        """One controller step of the active deployment; True if its phase changed."""
        with self._lock:
            record = self.active()
            if record is None:
                return False
            before = load(self.ledger, record)
            after = self.controller.step(before)
        if after.phase != before.phase and after.phase in (Phase.ROLLED_BACK, Phase.FAILED):
            self._alert(
                f"deployment.{after.phase.value}",
                f"deployment #{after.id} of {after.version} {after.phase.value}: {after.reason}",
                after.version,
                {"deployment": after.id, "strategy": after.strategy, "live": after.old_version},
            )
        return after.phase != before.phase

    def close(self) -> None:
        """Stop the loop, close the registry and release the state dir."""
        self.stop_loop()
        if not isinstance(self.slots, SlotRuntime):
            self.slots.close()
        self.registry.close()
        self._lock_file.close()

    # -- patrol -----------------------------------------------------------------------------

    def probe_live(self) -> str | None:
        """One patrol probe: a real synthesis through the router; None when it is fine.

        A live service version is probed in its own protocol (its speaker, aimed at the
        router), so silence or errors it starts answering are caught as for a bundle.
        """
        live = self.controller.live_route()
        if live is None:
            return None  # nothing is live: nothing to patrol
        cfg = self.settings.patrol
        version_dir = self.slots.version_dir(live.slot)
        if version_dir is None:
            reason = probe_speech(self.router.url, cfg.text, timeout_s=cfg.timeout_s)
        else:
            from ttsops.service.speakers import speaker_for

            speaker = speaker_for(version_dir, self.router.url, timeout_s=cfg.timeout_s)
            try:
                reason = probe_speaker(speaker, cfg.text)
            finally:
                speaker.close()
        return None if reason is None else with_slot_death(reason, self.slots.status(live.slot))

    def service_dir(self, port: int) -> Path | None:
        """The version dir of the service slot on ``port``; None for a bundle slot."""
        for name in SLOT_NAMES:
            found = self.slots.version_dir(name)
            if found is None:
                continue
            info = self.slots.status(name)
            if info is not None and info.port == port:
                return found
        return None

    def _public_ready(self) -> bool:
        """Whether users are served: ``/readyz`` through the router, or for a live service
        (which has none), a ready live slot behind a running router."""
        live = self.controller.live_route()
        if live is not None and self.slots.version_dir(live.slot) is not None:
            info = self.slots.status(live.slot)
            ready = info is not None and info.state == "ready" and info.port == live.port
            return ready and self.router.pid() is not None
        return self.router.ready()

    def on_alarm(self, reasons: list[str]) -> None:
        """Probes keep failing: heal (restart or roll back), record an alert, call the webhook."""
        with self._lock:
            live = self.controller.live_route()
            version = live.version if live else self.ledger.live_version()
            why = f"{len(reasons)} patrol probes in a row failed through {self.router.url}: "
            why += reasons[-1]
            action = self._heal(version, why)
        self._alert("patrol.failed", why, version, {"reasons": reasons, "heal": action})

    def _alert(self, kind: str, reason: str, version: str | None, details: dict[str, Any]) -> None:
        """Record an ``alert`` event and POST it to ``[patrol] webhook_url`` when set."""
        url = self.settings.patrol.webhook_url
        alert = Alert(kind, reason, version, details=details)
        delivery = send_webhook(url, alert) if url else None
        self.ledger.append_event(
            EventKind.ALERT,
            f"alert {kind}: {reason}",
            version=version,
            actor=self.actor,
            data={**alert.payload(), "webhook": url, "webhook_error": delivery},
        )

    def _heal(self, version: str | None, why: str) -> str:
        """Start the healing deployment; what was done, in words."""
        active = self.active()
        if active is not None:
            return f"none: deployment #{active.id} is in flight and handles its own failures"
        if version is None:
            return "none: no version is live"
        live = self._live_deployment()
        live_for = None
        if live is not None and live.finished_at is not None:
            finished = live.finished_at
            if finished.tzinfo is None:
                finished = finished.replace(tzinfo=UTC)
            live_for = time.time() - finished.timestamp()
        previous = self.ledger.previous_stable()
        recent = self.settings.patrol.recent_s
        if heal_action(live_for, recent, previous is not None) == "rollback":
            done = self.rollback(to=None, actor="patrol", reason=why)
            return f"rollback to {previous} (deployment #{done.id}): {version} went live recently"
        done = start(
            self.ledger, version, "blue-green", reason=f"patrol: restart {version}: {why}",
            actor=self.actor,
        )  # fmt: skip
        self._wake.set()
        return f"restart {version} in a fresh slot (deployment #{done.id})"

    # -- operations -------------------------------------------------------------------------

    def active(self) -> DeploymentRecord | None:
        """The deployment in flight (not terminal), if any."""
        for record in self.ledger.list_deployments(limit=50):
            if not record.state.terminal:
                return record
        return None

    def deploy(
        self,
        version: str,
        strategy: str,
        *,
        actor: str,
        reason: str | None,
        start_timeout_s: float | None = None,
    ) -> Rollout:
        """Accept a deployment of ``version``; the loop carries it out."""
        if strategy not in STRATEGIES:
            raise RolloutError(
                f"unknown strategy {strategy!r}; use one of: {', '.join(STRATEGIES)}"
            )
        with self._lock:
            self._refuse_if_busy()
            self.ledger.get_version(version)
            self._check_disk()
            self._wake.set()
            return start(
                self.ledger,
                version,
                strategy,
                reason=reason,
                actor=actor,
                start_timeout_s=start_timeout_s,
            )

    def rollback(self, *, to: str | None, actor: str, reason: str | None) -> Rollout:
        """Return to ``to`` (default: the previous stable version), as a router switch when warm."""
        with self._lock:
            active = self.active()
            if active is not None and to is None:
                # A rollback while a deployment is in flight stops it: the old version stays.
                return self.abort(active.id, actor=actor, reason=reason)
            self._refuse_if_busy()
            live = self._live_deployment()
            target = to or self.ledger.previous_stable()
            if target is None:
                raise RolloutRefusedError(
                    "there is no previous stable version to roll back to; name one with --to"
                )
            if live is not None and live.version == target:
                raise RolloutRefusedError(
                    f"{target} is already live; name another version with --to"
                )
            self.ledger.get_version(target)
            why = f"rollback by {actor}" + (f": {reason}" if reason else "")
            self._wake.set()
            return start(
                self.ledger,
                target,
                "rollback",
                reason=why,
                actor=actor,
                retires=live.id if live else None,
            )

    def abort(self, deployment_id: int, *, actor: str, reason: str | None) -> Rollout:
        """Stop a deployment in flight; traffic returns to (or stays on) the old version."""
        with self._lock:
            record = self.ledger.get_deployment(deployment_id)
            if record is None:
                raise DeploymentNotFoundError(
                    f"there is no deployment #{deployment_id}; see `ttsops history`"
                )
            rollout = load(self.ledger, record)
            if rollout.phase.terminal:
                raise DeploymentBusyError(
                    f"deployment #{deployment_id} is already {rollout.phase.value}; "
                    "use `ttsops rollback` to leave a live version"
                )
            if rollout.phase not in _ABORTABLE:
                raise DeploymentBusyError(
                    f"deployment #{deployment_id} is {rollout.phase.value}: too late to abort, "
                    "it is about to be live; use `ttsops rollback` then"
                )
            why = f"aborted by {actor}" + (f": {reason}" if reason else "")
            if rollout.phase == Phase.ROLLING_BACK:
                return rollout
            return transition(
                self.ledger, rollout, Phase.ROLLING_BACK, reason=why, actor=actor, abort=True
            )

    def promote(self, deployment_id: int, *, actor: str, reason: str | None) -> Rollout:
        """Promote a canary in flight now: skip its remaining steps and watch, make it live."""
        with self._lock:
            rollout = self.rollout(deployment_id)
            if rollout.phase not in (Phase.CANARY, Phase.WATCHING):
                raise DeploymentBusyError(
                    f"deployment #{deployment_id} ({rollout.strategy}) is {rollout.phase.value}: "
                    "only a canary in its steps or watch window can be promoted"
                )
            why = f"promoted by {actor}" + (f": {reason}" if reason else "")
            moved = transition(self.ledger, rollout, Phase.DRAINING, reason=why, actor=actor)
            self._wake.set()
        self.observer.shutdown()  # its open window is never judged: stop the probes
        return moved

    def _check_disk(self) -> None:
        """Refuse a deploy when the state dir's disk is too full to fetch and run a version."""
        need = self.settings.agent.min_free_disk_mb
        free = shutil.disk_usage(self.state_dir).free // 1_000_000
        if free < need:
            raise RolloutRefusedError(
                f"only {free} MB free on the disk of {self.state_dir} (a deploy needs "
                f"{need} MB: [agent] min_free_disk_mb); free space, e.g. `ttsops gc` to drop "
                "old versions' blobs, then deploy again"
            )

    def _live_deployment(self) -> DeploymentRecord | None:
        """The newest deployment in state ``live``, if any."""
        return next(
            (d for d in self.ledger.list_deployments(limit=200) if d.state == DeploymentState.LIVE),
            None,
        )

    def _refuse_if_busy(self) -> None:
        active = self.active()
        if active is not None:
            raise DeploymentBusyError(
                f"deployment #{active.id} of {active.version} is {active.state.value}; wait for "
                f"it (`ttsops deploy --wait`) or abort it (POST /v1/deployments/{active.id}/abort)"
            )

    def rollout(self, deployment_id: int) -> Rollout:
        """The persisted rollout of one deployment."""
        record = self.ledger.get_deployment(deployment_id)
        if record is None:
            raise DeploymentNotFoundError(
                f"there is no deployment #{deployment_id}; see `ttsops history`"
            )
        return load(self.ledger, record)

    def slot_views(self) -> list[SlotView]:
        """Every slot with its router weight."""
        routes = {r.slot: r for r in self.router.routes()}
        views = []
        for info in self.slots.slots():
            route = routes.get(info.slot)
            views.append(
                SlotView(
                    info.slot,
                    info.version,
                    info.state,
                    info.pid,
                    info.port,
                    route.weight if route and route.port == info.port else 0,
                    bool(route and route.backup and route.port == info.port),
                    info.detail,
                    info.container,
                    info.kind,
                    info.runs,
                )
            )
        return views

    def status(self) -> dict[str, Any]:
        """What is live, since when, from which commit; slots, weights, the router."""
        live_route = self.controller.live_route()
        live = self._live_deployment()
        version = live_route.version if live_route else None
        record = self.ledger.find_version(version) if version else None
        active = self.active()
        return {
            "live_version": version,
            "live_since": live.finished_at if live and live.version == version else None,
            "live_deployment": live.id if live and live.version == version else None,
            "git_sha": record.git_sha if record else None,
            "digest": record.digest if record else None,
            "public_url": self.router.url,
            "router_pid": self.router.pid(),
            "public_ready": self._public_ready(),
            "slots": [view.__dict__ for view in self.slot_views()],
            "active_deployment": active.id if active else None,
            "patrol": asdict(self.patrol.state) if self.patrol is not None else None,
        }


def _loopback(host: str) -> str:
    """Where nginx on this host reaches the agent's API bound to ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104


def _hold_lock(path: Path) -> TextIO:
    """Hold an exclusive lock on ``path`` for the process's life: one agent per state dir."""
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise RolloutError(
            f"another agent (pid {holder}) already owns the state dir {path.parent}; stop it "
            "first or give this one another --state-dir"
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


_ABORTABLE = frozenset(
    {
        Phase.PENDING,
        Phase.STOPPING_OLD,
        Phase.STARTING,
        Phase.SHIFTING,
        Phase.CANARY,
        Phase.WATCHING,
        Phase.ROLLING_BACK,
    }
)
