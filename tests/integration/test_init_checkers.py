"""What `ttsops init` writes passes each ecosystem's own checker, run for real.

`ttsops init --ci github --monitoring --systemd` (and `--ci gitlab`, `--k8s`) in an empty
directory, then actionlint and zizmor (offline, no GitHub token) on the workflow, hadolint
on the Dockerfile, `systemd-analyze verify` on the unit, promtool on the Prometheus config
and rules (and the rules' own unit tests), the compose and GitLab CI JSON schemas that
check-jsonschema ships, YAML and JSON parsing. A test skips only when its checker is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

_VENV_BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    """The checker's path, from the venv or the system; skip the test when it is absent."""
    found = _VENV_BIN / name
    if found.is_file():
        return str(found)
    system = shutil.which(name)
    if system is None:
        pytest.skip(f"{name} is not installed (make setup / scripts/system-deps.sh install it)")
    return system


def _run(
    *argv: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), cwd=cwd, capture_output=True, text=True, timeout=120, check=False, env=env
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty directory after `ttsops init --ci github --monitoring --systemd`, plus GitLab."""
    from typer.testing import CliRunner

    from ttsops.cli import app

    root = tmp_path_factory.mktemp("repo")
    for flags in (["--ci", "github", "--monitoring", "--systemd"], ["--ci", "gitlab", "--k8s"]):
        result = CliRunner().invoke(app, ["init", "--dir", str(root), *flags, "--json"])
        assert result.exit_code == 0, result.output
        json.loads(result.stdout)
    return root


def test_github_workflow_passes_actionlint(repo: Path) -> None:
    """actionlint (with its shellcheck of run: scripts when present) finds nothing."""
    done = _run(_tool("actionlint"), ".github/workflows/ttsops-release.yml", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr


def test_github_workflow_passes_zizmor_offline(repo: Path) -> None:
    """zizmor's audits (pinning, injection, permissions, credentials) find nothing."""
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    done = _run(
        _tool("zizmor"),
        "--offline",
        "--persona=pedantic",
        "--no-progress",
        ".github/workflows/ttsops-release.yml",
        cwd=repo,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        (".github/workflows/ttsops-release.yml", "vendor.github-workflows"),
        (".gitlab-ci.yml", "vendor.gitlab-ci"),
        ("compose.yaml", "vendor.compose-spec"),
    ],
)
def test_ci_and_compose_files_match_their_schemas(repo: Path, path: str, schema: str) -> None:
    """The workflow, the GitLab pipeline and the compose file validate against their specs."""
    done = _run(_tool("check-jsonschema"), "--builtin-schema", schema, path, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_service_has_health_check_limits_and_the_store(repo: Path) -> None:
    """The serve container probes with a real synthesis, is limited, reads the store."""
    tts = yaml.safe_load((repo / "compose.yaml").read_text())["services"]["tts"]
    assert tts["healthcheck"]["test"] == ["CMD", "ttsops", "probe", "http://127.0.0.1:6006"]
    assert set(tts["deploy"]["resources"]["limits"]) == {"cpus", "memory"}
    assert "TTSOPS_STORE_URL" in tts["environment"]
    assert tts["volumes"][0]["read_only"] is True


def test_dockerfile_passes_hadolint(repo: Path) -> None:
    """hadolint finds nothing in the image recipe."""
    done = _run(_tool("hadolint"), "Dockerfile", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr


def test_systemd_unit_passes_systemd_analyze_verify(repo: Path) -> None:
    """`systemd-analyze verify` accepts the unit without a warning (ExecStart exists)."""
    done = _run(_tool("systemd-analyze"), "verify", "deploy/systemd/ttsops-agent.service", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_prometheus_config_and_rules_pass_promtool(repo: Path) -> None:
    """`promtool check config` (which checks the rules it names) and `check rules` pass."""
    where = repo / "deploy/prometheus"
    promtool = _tool("promtool")
    done = _run(promtool, "check", "config", "prometheus.yml", cwd=where)
    assert done.returncode == 0, done.stdout + done.stderr
    done = _run(promtool, "check", "rules", "ttsops-alerts.yml", cwd=where)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 9 rules found" in done.stdout


def test_alerts_fire_in_promtool_unit_tests(repo: Path) -> None:
    """`promtool test rules`: every alert fires on synthetic series, none on healthy ones."""
    where = repo / "deploy/prometheus"
    done = _run(_tool("promtool"), "test", "rules", "ttsops-alerts.test.yml", cwd=where)
    assert done.returncode == 0, done.stdout + done.stderr
    rules = yaml.safe_load((where / "ttsops-alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((where / "ttsops-alerts.test.yml").read_text())
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert fired == alerts


def test_a_broken_rules_test_is_caught(repo: Path, tmp_path: Path) -> None:
    """The rules' tests are real: an expected annotation changed makes promtool fail."""
    where = repo / "deploy/prometheus"
    shutil.copy(where / "ttsops-alerts.yml", tmp_path)
    text = (where / "ttsops-alerts.test.yml").read_text()
    (tmp_path / "t.yml").write_text(text.replace("fails 9.091%", "fails 9.1%"))
    done = _run(_tool("promtool"), "test", "rules", "t.yml", cwd=tmp_path)
    assert done.returncode != 0


def test_every_yaml_parses_and_the_dashboard_is_json(repo: Path) -> None:
    """Each YAML file is well-formed; the Grafana dashboard is JSON with panels."""
    for path in [*repo.rglob("*.yml"), *repo.rglob("*.yaml")]:
        list(yaml.safe_load_all(path.read_text()))
    dash = json.loads((repo / "deploy/grafana/ttsops-dashboard.json").read_text())
    assert len([p for p in dash["panels"] if p["type"] != "row"]) >= 10


def test_k8s_manifests_pass_kubernetes_validate(repo: Path) -> None:
    """`--k8s` writes ttsops.k8s's manifests, and kubernetes-validate accepts them strictly."""
    manifests = sorted((repo / "deploy/k8s").glob("*.yaml"))
    assert manifests
    plain = [p for p in manifests if "servicemonitor" not in p.name]
    done = _run(_tool("kubernetes-validate"), "--strict", *[str(p) for p in plain], cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_the_workflows_version_step_runs_as_written(
    repo: Path, tmp_path: Path, joe_bundle: Path
) -> None:
    """The "register the version" step, run by bash in a git checkout of an untagged commit:
    version 0.0.0-dev+<sha>, image tag with '-' for '+'. `uv run` is a shim for the venv's
    ttsops; the registry is a local directory."""
    workflow = yaml.safe_load((repo / ".github/workflows/ttsops-release.yml").read_text())
    (step,) = [s for s in workflow["jobs"]["release"]["steps"] if s.get("id") == "version"]
    checkout = tmp_path / "checkout"
    shutil.copytree(joe_bundle, checkout / "bundles" / "joe", copy_function=os.link)
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "uv").write_text(f'#!/bin/sh\n[ "$1" = run ] && shift\nexec "{_VENV_BIN}/$@"\n')
    (shims / "uv").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{shims}:{os.environ['PATH']}",
        "BUNDLE": "bundles/joe",
        "TTSOPS_HOME": str(tmp_path / "home"),
        "GIT_AUTHOR_NAME": "ci",
        "GIT_AUTHOR_EMAIL": "ci@example.com",
        "GIT_COMMITTER_NAME": "ci",
        "GIT_COMMITTER_EMAIL": "ci@example.com",
    }
    git = ["git", "-C", str(checkout)]
    (checkout / ".gitignore").write_text("bundles/\n")  # the model stays out of git's work
    for argv in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "joe"]):
        subprocess.run([*git, *argv], check=True, env=env)
    sha = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    out = tmp_path / "github-output"
    out.touch()
    done = _run(
        "bash", "-e", "-c", step["run"], cwd=checkout, env={**env, "GITHUB_OUTPUT": str(out)}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert outputs == {"version": f"0.0.0-dev+{sha}", "tag": f"0.0.0-dev-{sha}"}
