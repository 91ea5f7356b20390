"""How `[server]` settings and `ttsops serve` options become the engine's thread options."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ttsops.bundle import Manifest
from ttsops.server.replica import Replica
from ttsops.settings import ServerSettings, load_settings


@pytest.fixture
def replica_for(joe_bundle: Path, joe_manifest: Manifest) -> Callable[[ServerSettings], Replica]:
    """A replica of joe with given settings, not loaded (only its options are looked at)."""
    return lambda settings: Replica(joe_bundle, joe_manifest, settings)


def test_solo_threads_default_to_the_cpu_count(
    replica_for: Callable[[ServerSettings], Replica],
) -> None:
    """By default a lone synthesis may use every core; others run on ``threads``."""
    options = replica_for(ServerSettings()).engine_options
    assert options.threads == 1
    assert options.solo_threads == (os.cpu_count() or 1)


def test_solo_threads_zero_turns_the_wide_session_off(
    replica_for: Callable[[ServerSettings], Replica],
) -> None:
    """``solo_threads = 0`` reaches the engine as 0: no second session."""
    options = replica_for(ServerSettings(solo_threads=0, threads=2)).engine_options
    assert (options.threads, options.solo_threads) == (2, 0)


def test_server_settings_read_solo_threads_and_seed_from_the_config(tmp_path: Path) -> None:
    """``[server] solo_threads`` and ``seed`` in ttsops.toml are read; bad values are refused."""
    from ttsops.errors import ConfigError

    config = tmp_path / "ttsops.toml"
    config.write_text("[server]\nsolo_threads = 4\nseed = 42\n", encoding="utf-8")
    server = load_settings(config, env={}).server
    assert (server.solo_threads, server.seed) == (4, 42)
    config.write_text("[server]\nsolo_threads = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="solo_threads"):
        load_settings(config, env={})
