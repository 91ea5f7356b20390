"""The agent's management API answers bad requests with 4xx and a message, never a 500.

The agent's FastAPI app in process (ASGI), over a real state dir and SQLite ledger; the
controller loop does not run, as nothing here deploys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ttsops.rollout import Agent
from ttsops.rollout.api import Strategy, create_agent_app
from ttsops.rollout.controller import STRATEGIES
from ttsops.settings import Settings

_AUTH = {"Authorization": "Bearer t0ken"}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    """The API of an agent with an empty ledger."""
    agent = Agent(Settings(home=tmp_path))
    try:
        with TestClient(create_agent_app(agent, "t0ken", run_loop=False)) as client:
            yield client
    finally:
        agent.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/deployments/519", None),
        ("GET", "/v1/deployments/519/events", None),
        ("POST", "/v1/deployments/519/abort", {}),
    ],
)
def test_unknown_deployment_is_404(
    api: TestClient, method: str, path: str, body: dict[str, str] | None
) -> None:
    """A deployment id nobody made gets 404 saying so, not 500."""
    resp = api.request(method, path, json=body, headers=_AUTH)
    assert resp.status_code == 404
    assert resp.json()["error"]["message"] == ("there is no deployment #519; see `ttsops history`")


def test_unknown_strategy_is_422_naming_the_strategies(api: TestClient) -> None:
    """strategy "x" gets 422 listing the strategies there are, not 500."""
    resp = api.post("/v1/deployments", json={"version": "1.0.0", "strategy": "x"}, headers=_AUTH)
    assert resp.status_code == 422
    message = resp.json()["error"]["message"]
    assert "strategy" in message and "'x'" in message
    assert all(f"'{name}'" in message for name in STRATEGIES)


def test_schema_lists_the_strategies(api: TestClient) -> None:
    """The request model's strategy is an enum of exactly the controller's strategies."""
    from typing import get_args

    assert get_args(Strategy) == STRATEGIES
    spec = api.get("/openapi.json").json()
    strategy = spec["components"]["schemas"]["DeploymentRequest"]["properties"]["strategy"]
    assert tuple(strategy["enum"]) == STRATEGIES


def test_rollback_with_nothing_to_return_to_is_409(api: TestClient) -> None:
    """A rollback on a fresh host is refused with 409 and what to do."""
    resp = api.post("/v1/rollback", json={}, headers=_AUTH)
    assert resp.status_code == 409
    assert "name one with --to" in resp.json()["error"]["message"]


def test_wrong_method_is_405_with_every_allowed_method(api: TestClient) -> None:
    """PUT /v1/deployments gets 405 with Allow naming both GET and POST."""
    resp = api.put("/v1/deployments", headers=_AUTH)
    assert resp.status_code == 405
    assert resp.headers["allow"] == "GET, POST"
