"""Where a release goes: the target's name from the version, its agent URL and token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ttsops.errors import ConfigError
from ttsops.registry import Stage, stage_of
from ttsops.settings import Settings

__all__ = ["PRODUCTION", "STAGING", "Target", "choose_target", "resolve_target"]

PRODUCTION = "production"
"""Target of a release version (a git tag such as ``v1.4.0``)."""

STAGING = "staging"
"""Target of a pre-release, such as an untagged commit's ``0.0.0-dev+<sha>``."""


@dataclass(frozen=True)
class Target:
    """A deployment target resolved to the agent that serves it."""

    name: str
    """``production``, ``staging`` or a name from ``[targets.<name>]``."""

    agent_url: str
    """The target agent's management API."""

    token: str | None = field(repr=False)
    """Bearer token of that API; None when none was found (the agent will refuse)."""

    token_from: str
    """Where the token came from, for messages (never the token itself)."""

    configured: bool
    """True when ``ttsops.toml`` names the target; False for the single-agent fallback."""


def choose_target(version: str, explicit: str | None = None) -> str:
    """``explicit`` if given; else production for a release version, staging for a
    pre-release (``0.0.0-dev+<sha>``)."""
    if explicit:
        return explicit
    return STAGING if stage_of(version) is Stage.STAGING else PRODUCTION


def resolve_target(
    name: str,
    settings: Settings,
    env: Mapping[str, str],
    *,
    agent_url: str | None = None,
    token_file: Path | None = None,
) -> Target:
    """The agent URL and token of target ``name``.

    A target in ``[targets.<name>]`` takes its token from its ``token_env`` variable, else
    its ``token_file``. Without any ``[targets]`` section every name falls back to
    ``agent_url`` and ``TTSOPS_TOKEN`` (else the local agent's token file). ``agent_url``
    and ``token_file`` override what the settings say.
    """
    conf = settings.targets.get(name)
    if conf is None and settings.targets:
        known = ", ".join(sorted(settings.targets))
        raise ConfigError(
            f"target {name!r} is not configured (ttsops.toml names {known}); pass --target "
            f"with one of those, or add a [targets.{name}] section with its agent_url"
        )
    if conf is None:
        return _fallback(name, settings, agent_url, token_file)
    url = agent_url or conf.agent_url
    if token_file is not None:
        return Target(name, url, _read(token_file, "--token-file"), "--token-file", True)
    if env.get(conf.token_env):
        return Target(name, url, env[conf.token_env], conf.token_env, True)
    if conf.token_file is not None:
        return Target(
            name, url, _read(conf.token_file, f"[targets.{name}] token_file"), "token_file", True
        )
    raise ConfigError(
        f"target {name!r}: environment variable {conf.token_env} is not set and "
        f"[targets.{name}] has no token_file; export {conf.token_env} with the agent's token "
        "or pass --token-file"
    )


def _fallback(
    name: str, settings: Settings, agent_url: str | None, token_file: Path | None
) -> Target:
    """No [targets] at all: the one agent of ``agent_url`` with ``TTSOPS_TOKEN``."""
    url = agent_url or settings.agent_url
    if token_file is not None:
        return Target(name, url, _read(token_file, "--token-file"), "--token-file", False)
    if settings.token:
        return Target(name, url, settings.token, "TTSOPS_TOKEN", False)
    local = settings.agent.token_file or settings.agent_state_dir / "token"
    if local.is_file():
        return Target(name, url, _read(local, "the local agent's"), str(local), False)
    return Target(name, url, None, "none", False)


def _read(path: Path, what: str) -> str:
    path = path.expanduser()
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read token file {path} ({what}): {exc.strerror}; point it at the agent's "
            "token file"
        ) from None
    if not token:
        raise ConfigError(f"token file {path} ({what}) is empty; write the agent's token into it")
    return token
