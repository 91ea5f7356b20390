"""A deploy onto a disk that is too full is refused before anything changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttsops.errors import RolloutError
from ttsops.registry import Registry
from ttsops.rollout import Agent
from ttsops.settings import AgentSettings, Settings


def test_deploy_refused_when_the_disk_is_too_full(tmp_path: Path, joe_bundle: Path) -> None:
    """Asking for more free space than any disk has: a clear error, and no deployment row."""
    settings = Settings(home=tmp_path, agent=AgentSettings(min_free_disk_mb=10**12))
    with Registry.open(settings) as registry:
        registry.register(joe_bundle)
    agent = Agent(settings)
    try:
        with pytest.raises(RolloutError) as refused:
            agent.deploy("1.0.0", "blue-green", actor="test", reason=None)
        assert "MB free on the disk" in refused.value.message
        assert "ttsops gc" in refused.value.message
        assert agent.ledger.list_deployments() == []
    finally:
        agent.close()
