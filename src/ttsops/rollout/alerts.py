"""Alerts: what the agent tells people when the live service fails, POSTed to a webhook.

Delivery never raises: an alert that cannot be sent is logged and reported back as a
reason, because a broken webhook must not stop the agent from healing the service.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

__all__ = ["Alert", "send_webhook"]

log = logging.getLogger("ttsops.agent")


def _hostname() -> str:
    return os.uname().nodename


@dataclass(frozen=True)
class Alert:
    """One thing that went wrong on a host, worth telling a person about."""

    kind: str
    """What happened, e.g. ``patrol.failed`` or ``canary.rolled_back``."""

    reason: str
    """One line: why, e.g. ``HTTP 500: synthesis_error …``."""

    version: str | None
    """The version concerned (the live one for a patrol), or None when none is."""

    host: str = field(default_factory=_hostname)
    """The host the agent runs on."""

    at: float = field(default_factory=time.time)
    """When it happened, epoch seconds."""

    details: dict[str, Any] = field(default_factory=dict)
    """Anything else a receiver may use (JSON-serialisable), e.g. the failed probes."""

    def payload(self) -> dict[str, Any]:
        """The JSON body of the webhook, with ``at`` as ISO 8601 UTC."""
        return {
            "kind": self.kind,
            "reason": self.reason,
            "version": self.version,
            "host": self.host,
            "at": datetime.fromtimestamp(self.at, UTC).isoformat(),
            "details": dict(self.details),
        }


class _ServerError(Exception):
    """The receiver answered 5xx: worth another try."""


def send_webhook(
    url: str, alert: Alert, *, timeout_s: float = 5.0, attempts: int = 3
) -> str | None:
    """POST ``alert`` as JSON to ``url``; None when delivered (2xx), else why not. Never raises.

    Connection errors, timeouts and 5xx answers are retried with a short exponential
    backoff (0.25 s, 0.5 s, … at most 2 s); a 4xx answer is final.
    """
    retrying = Retrying(
        stop=stop_after_attempt(max(1, attempts)),
        wait=wait_exponential(multiplier=0.25, max=2.0),
        retry=retry_if_exception_type((httpx.TransportError, _ServerError)),
        reraise=True,
    )
    try:
        body = alert.payload()
        with httpx.Client(timeout=timeout_s) as client:
            response: httpx.Response = retrying(_post, client, url, body)
    except _ServerError as exc:
        reason = str(exc)
    except httpx.TimeoutException:
        reason = f"timed out after {timeout_s:g} s"
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - an alert must never crash the agent
        reason = f"{type(exc).__name__}: {exc}"
    else:
        if response.is_success:
            return None
        reason = f"HTTP {response.status_code}: {_snippet(response.text)}"
    tries = int(retrying.statistics.get("attempt_number", 1))
    message = f"webhook {url}: {reason} (after {tries} attempt{'s' if tries != 1 else ''})"
    log.warning("alert %s not delivered: %s", alert.kind, message)
    return message


def _post(client: httpx.Client, url: str, body: dict[str, Any]) -> httpx.Response:
    response = client.post(url, json=body)
    if response.status_code >= 500:
        raise _ServerError(f"HTTP {response.status_code}: {_snippet(response.text)}")
    return response


def _snippet(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
