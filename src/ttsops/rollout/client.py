"""A small client of the agent's management API, used by the CLI."""

from __future__ import annotations

from typing import Any

import httpx

from ttsops.errors import RolloutError

__all__ = ["AgentClient"]


class AgentClient:
    """Talks to one agent with a bearer token; every failure is a ``RolloutError``."""

    def __init__(self, url: str, token: str | None, *, timeout_s: float = 60.0) -> None:
        """``url`` like ``http://127.0.0.1:6007``."""
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            reply = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise RolloutError(
                f"cannot reach the agent at {self.url} ({type(exc).__name__}: {exc}); start it "
                "with `ttsops agent` or point --agent / TTSOPS_AGENT_URL at it"
            ) from None
        if reply.status_code == 401:
            raise RolloutError(
                f"the agent at {self.url} refused the token (401); set TTSOPS_TOKEN or "
                "--token-file to the agent's token"
            )
        if reply.status_code >= 400:
            try:
                message = reply.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = reply.text[:300]
            raise RolloutError(f"agent at {self.url}: {message} (HTTP {reply.status_code})")
        return reply.json()

    def deploy(
        self,
        version: str,
        strategy: str,
        actor: str,
        reason: str | None,
        start_timeout_s: float | None = None,
    ) -> Any:
        """Create a deployment."""
        body = {
            "version": version,
            "strategy": strategy,
            "actor": actor,
            "reason": reason,
            "start_timeout_s": start_timeout_s,
        }
        return self._call("POST", "/v1/deployments", json=body)

    def rollback(self, to: str | None, actor: str, reason: str | None) -> Any:
        """Roll back to the previous stable version (or ``to``)."""
        return self._call("POST", "/v1/rollback", json={"to": to, "actor": actor, "reason": reason})

    def deployment(self, deployment_id: int) -> Any:
        """One deployment."""
        return self._call("GET", f"/v1/deployments/{deployment_id}")

    def events(self, deployment_id: int, after: int = 0) -> Any:
        """Events of a deployment, oldest first, after an event id."""
        return self._call("GET", f"/v1/deployments/{deployment_id}/events", params={"after": after})

    def abort(self, deployment_id: int, actor: str, reason: str | None) -> Any:
        """Abort a deployment in flight."""
        return self._call(
            "POST",
            f"/v1/deployments/{deployment_id}/abort",
            json={"actor": actor, "reason": reason},
        )

    def status(self) -> Any:
        """What is live, slots and weights."""
        return self._call("GET", "/v1/status")
