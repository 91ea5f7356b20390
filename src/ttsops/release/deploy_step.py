"""The release's deployment: ask the target's agent, follow its events to the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ttsops.errors import RolloutError
from ttsops.release.progress import Update, UpdateFn
from ttsops.release.result import DeployStep
from ttsops.rollout.client import AgentClient

__all__ = ["deploy_and_follow"]

_QUIET_KINDS = frozenset({"deployment.state"})
"""Event kinds not shown: the rollout's phase events say the same in more detail."""


def deploy_and_follow(
    client: AgentClient,
    *,
    version: str,
    strategy: str,
    actor: str,
    reason: str | None,
    timeout_s: float,
    on_update: UpdateFn,
    poll_s: float = 0.3,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DeployStep:
    """Deploy ``version`` and poll it until terminal or ``timeout_s`` passed.

    On a timeout the deployment is asked to abort (the agent then returns traffic to the
    old version), so CI giving up never leaves a half-done rollout behind unattended.
    """
    started = clock()
    created = client.deploy(version, strategy, actor, reason)
    on_update(Update("step", f"deployment #{created['id']} of {version} ({strategy}) accepted"))
    current: dict[str, Any] = created
    events: list[dict[str, Any]] = []
    seen = 0
    timed_out = False
    while True:
        current = client.deployment(created["id"])
        for event in client.events(created["id"], after=seen):
            seen = max(seen, int(event["id"]))
            if event["kind"] in _QUIET_KINDS:
                continue
            events.append({"at": event["at"], "kind": event["kind"], "message": event["message"]})
            on_update(Update("event", f"{str(event['at'])[11:19]}  {event['message']}"))
        if current["terminal"]:
            break
        if clock() - started >= timeout_s:
            timed_out = True
            _abort(client, created["id"], actor, timeout_s, on_update)
            break
        sleep(poll_s)
    return DeployStep(
        id=int(created["id"]),
        strategy=strategy,
        state=str(current["state"]),
        reason=current.get("reason"),
        old_version=current.get("old_version"),
        downtime_s=current.get("downtime_s"),
        events=tuple(events),
        timed_out=timed_out,
        seconds=clock() - started,
    )


def _abort(
    client: AgentClient, deployment_id: int, actor: str, timeout_s: float, on_update: UpdateFn
) -> None:
    why = f"ttsops release gave up waiting after {timeout_s:.0f} s (--timeout)"
    on_update(Update("warning", f"deployment #{deployment_id} not done: {why}; aborting it"))
    try:
        client.abort(deployment_id, actor, why)
    except RolloutError as exc:
        on_update(Update("warning", f"could not abort deployment #{deployment_id}: {exc.message}"))
