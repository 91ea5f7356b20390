"""Where the agent's API token comes from: environment, a named file, or one it creates."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ttsops.errors import RolloutError
from ttsops.rollout import agent_token
from ttsops.settings import load_settings


def test_environment_token_wins(tmp_path: Path) -> None:
    """TTSOPS_TOKEN is used as is and no file is written."""
    settings = load_settings(env={"TTSOPS_HOME": str(tmp_path), "TTSOPS_TOKEN": "s3cret"})
    assert agent_token(settings, tmp_path / "agent") == ("s3cret", None)
    assert not (tmp_path / "agent" / "token").exists()


def test_first_start_creates_a_private_random_token(tmp_path: Path) -> None:
    """Without a token, one is made in the state dir, readable by its owner only, and kept."""
    settings = load_settings(env={"TTSOPS_HOME": str(tmp_path)})
    token, path = agent_token(settings, tmp_path / "agent")
    assert path == tmp_path / "agent" / "token" and len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert agent_token(settings, tmp_path / "agent") == (token, path)


def test_named_token_file_must_exist_and_hold_a_secret(tmp_path: Path) -> None:
    """A configured token file that is missing or empty is an error naming the file."""
    config = tmp_path / "ttsops.toml"
    named = tmp_path / "token"
    config.write_text(f'[agent]\ntoken_file = "{named}"\n')
    settings = load_settings(config, env={"TTSOPS_HOME": str(tmp_path)})
    with pytest.raises(RolloutError, match=f"token file {named} does not exist"):
        agent_token(settings, tmp_path / "agent")
    named.write_text("\n")
    with pytest.raises(RolloutError, match="is empty"):
        agent_token(settings, tmp_path / "agent")
    named.write_text("from-a-file\n")
    assert agent_token(settings, tmp_path / "agent") == ("from-a-file", named)
