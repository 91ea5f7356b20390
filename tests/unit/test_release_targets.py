"""`ttsops release` targets: which target a version goes to, and its agent URL and token."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttsops.errors import ConfigError
from ttsops.release import PRODUCTION, STAGING, choose_target, resolve_target
from ttsops.settings import Settings, TargetSettings


def _settings(tmp_path: Path, **targets: TargetSettings) -> Settings:
    return Settings(home=tmp_path, targets=targets, agent_url="http://default:6007")


def test_a_release_version_goes_to_production() -> None:
    """A tagged version such as 1.2.0 goes to production."""
    assert choose_target("1.2.0") == PRODUCTION


def test_an_untagged_dev_version_goes_to_staging() -> None:
    """0.0.0-dev+<sha> goes to staging."""
    assert choose_target("0.0.0-dev+3f2a1c9") == STAGING


def test_an_explicit_target_wins() -> None:
    """--target overrides the choice by version."""
    assert choose_target("1.2.0", "staging") == "staging"
    assert choose_target("0.0.0-dev+3f2a1c9", "canary-host") == "canary-host"


def test_a_configured_target_takes_its_url_and_token_env(tmp_path: Path) -> None:
    """[targets.production] gives the agent URL; the token comes from its token_env."""
    settings = _settings(
        tmp_path, production=TargetSettings(agent_url="http://prod:6007", token_env="PROD_TOKEN")
    )
    target = resolve_target("production", settings, {"PROD_TOKEN": "s3cret"})
    assert (target.agent_url, target.token, target.token_from) == (
        "http://prod:6007",
        "s3cret",
        "PROD_TOKEN",
    )
    assert target.configured
    assert "s3cret" not in repr(target)


def test_an_unset_token_env_falls_back_to_the_token_file(tmp_path: Path) -> None:
    """With its variable unset, the target's token_file is read."""
    token = tmp_path / "token"
    token.write_text("from-file\n")
    settings = _settings(
        tmp_path, staging=TargetSettings(token_env="STAGING_TOKEN", token_file=token)
    )
    assert resolve_target("staging", settings, {}).token == "from-file"


def test_an_unset_token_env_without_a_file_is_a_clear_error(tmp_path: Path) -> None:
    """No variable and no token_file: ConfigError naming the variable to export."""
    settings = _settings(tmp_path, production=TargetSettings(token_env="PROD_TOKEN"))
    with pytest.raises(ConfigError, match="export PROD_TOKEN"):
        resolve_target("production", settings, {})


def test_a_missing_token_file_is_a_clear_error(tmp_path: Path) -> None:
    """A token_file that does not exist is named in the error."""
    missing = tmp_path / "nope"
    settings = _settings(tmp_path, production=TargetSettings(token_env="X", token_file=missing))
    with pytest.raises(ConfigError, match=r"cannot read token file .*nope"):
        resolve_target("production", settings, {})


def test_overrides_replace_url_and_token(tmp_path: Path) -> None:
    """--agent and --token-file win over the target's settings."""
    token = tmp_path / "t"
    token.write_text("override")
    settings = _settings(tmp_path, production=TargetSettings(token_env="PROD_TOKEN"))
    target = resolve_target(
        "production", settings, {}, agent_url="http://other:1", token_file=token
    )
    assert (target.agent_url, target.token) == ("http://other:1", "override")


def test_without_targets_any_name_uses_the_default_agent_and_ttsops_token(
    tmp_path: Path,
) -> None:
    """No [targets] at all: agent_url and TTSOPS_TOKEN of the settings."""
    settings = _settings(tmp_path)
    settings.token = "tok"
    target = resolve_target("staging", settings, {})
    assert (target.name, target.agent_url, target.token) == (
        "staging",
        "http://default:6007",
        "tok",
    )
    assert not target.configured


def test_without_targets_or_token_the_local_agents_token_file_is_used(tmp_path: Path) -> None:
    """No TTSOPS_TOKEN: the local agent's token file, as `ttsops deploy` does."""
    (tmp_path / "agent").mkdir()
    (tmp_path / "agent" / "token").write_text("local\n")
    assert resolve_target("production", _settings(tmp_path), {}).token == "local"


def test_a_name_missing_from_configured_targets_is_refused(tmp_path: Path) -> None:
    """With [targets] configured, an unknown name is an error listing the known ones."""
    settings = _settings(tmp_path, production=TargetSettings(), staging=TargetSettings())
    with pytest.raises(ConfigError, match="names production, staging"):
        resolve_target("prod", settings, {})
