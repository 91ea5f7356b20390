"""Pure pieces of the container runtime: OOM verdicts, the patrol's death reasons, sdist pins."""

from __future__ import annotations

from pathlib import Path

from ttsops.containers.oom import oom_killed, oom_reason
from ttsops.containers.wheels import sdist_only
from ttsops.rollout.patrol import with_slot_death
from ttsops.rollout.runtime import SlotInfo


def test_the_engines_oom_flag_is_believed() -> None:
    """``State.OOMKilled`` true is an OOM kill whatever the exit code."""
    assert oom_killed("abc", {"OOMKilled": True, "ExitCode": 1})


def test_an_exit_other_than_137_is_never_an_oom_kill() -> None:
    """Exit 1 (a refused model) or 0 (a drain) is not looked up in the kernel log."""
    assert not oom_killed("abc", {"OOMKilled": False, "ExitCode": 1})
    assert not oom_killed("abc", {"OOMKilled": False, "ExitCode": 0})


def test_a_container_the_kernel_never_logged_is_not_oom_killed() -> None:
    """Exit 137 with no kernel line naming the container (a `kill -9`) is not out of memory."""
    state = {"OOMKilled": False, "ExitCode": 137, "StartedAt": "2026-12-01T10:25:08.5656068Z"}
    assert not oom_killed("f" * 64, state)


def test_the_oom_reason_names_the_limit() -> None:
    """The reason a status shows says out of memory and the limit in MiB."""
    assert oom_reason(2**30) == "out of memory: killed by the kernel at its 1024 MiB limit"
    assert oom_reason(None) == "out of memory: killed by the kernel"


def test_a_failed_probe_is_led_by_the_slots_death() -> None:
    """The patrol's reason names the dead slot and its cause before the probe's symptom."""
    dead = SlotInfo("blue", "1.0.0", "exited", None, 1234, "exit 137 (out of memory: …): log")
    said = with_slot_death("HTTP 502: bad gateway", dead)
    assert said.startswith("slot blue (1.0.0) is down, exit 137 (out of memory")
    assert said.endswith("probe: HTTP 502: bad gateway")
    alive = SlotInfo("blue", "1.0.0", "ready", 1, 1234)
    assert with_slot_death("timed out after 30 s", alive) == "timed out after 30 s"
    assert with_slot_death("connection refused", None) == "connection refused"


def test_sdist_only_packages_are_found_in_the_lock(tmp_path: Path) -> None:
    """A package with an sdist and no wheel for the image is built on the host; others not."""
    (tmp_path / "uv.lock").write_text(
        'version = 1\n[[package]]\nname = "jieba"\nversion = "0.42.1"\n'
        'sdist = { url = "https://x/jieba-0.42.1.tar.gz" }\n'
        '[[package]]\nname = "Some_Pkg"\nversion = "1"\nsdist = { url = "https://x/s.tar.gz" }\n'
        'wheels = [{ url = "https://x/some_pkg-1-cp311-cp311-win_amd64.whl" }]\n'
        '[[package]]\nname = "numpy"\nversion = "2"\nsdist = { url = "https://x/n.tar.gz" }\n'
        'wheels = [{ url = "https://x/numpy-2-cp311-cp311-manylinux_2_28_x86_64.whl" }]\n'
        '[[package]]\nname = "six"\nversion = "1"\n'
        'wheels = [{ url = "https://x/six-1-py2.py3-none-any.whl" }]\n'
    )
    assert sdist_only(tmp_path) == {"jieba", "some-pkg"}


def test_the_engine_settings_come_from_the_environment(tmp_path: Path) -> None:
    """DOCKER_HOST is the agent's container API unless the config names one; the caches
    follow TTSOPS_CONTAINERS_DIR, else XDG_CACHE_HOME."""
    from ttsops.settings import load_settings

    config = tmp_path / "ttsops.toml"
    config.write_text("[agent.container]\nmemory = '1g'\n")
    env = {"DOCKER_HOST": "unix:///run/docker.sock", "XDG_CACHE_HOME": str(tmp_path / "c")}
    settings = load_settings(config, env=env)
    assert settings.agent.container.docker_host == "unix:///run/docker.sock"
    assert settings.containers_dir == tmp_path / "c" / "ttsops" / "containers"
    config.write_text("[agent.container]\ndocker_host = 'tcp://10.0.0.5:2375'\n")
    env["TTSOPS_CONTAINERS_DIR"] = str(tmp_path / "mine")
    settings = load_settings(config, env=env)
    assert settings.agent.container.docker_host == "tcp://10.0.0.5:2375"
    assert settings.containers_dir == tmp_path / "mine"


def test_a_slot_container_gets_the_configured_network_mode() -> None:
    """`[agent.container] network` becomes the run request's network mode; unset, none."""
    from ttsops.containers.slots import ContainerLimits, container_run_args

    def run_args(limits: ContainerLimits) -> dict[str, object]:
        return container_run_args(
            image="i", image_id="", slot="blue", version="1", port=1, owner="o", limits=limits
        )

    mode = "slirp4netns:allow_host_loopback=true"
    args = run_args(ContainerLimits(network=mode))
    assert args["network_mode"] == mode and args["ports"] == {"6006/tcp": ("127.0.0.1", 1)}
    assert "network_mode" not in run_args(ContainerLimits())
