"""`ttsops init`'s plan: pure renders of templates (golden text), the files each flag adds."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

import ttsops
from ttsops.containers import ImageSpec, base_image_tag, render_dockerfile
from ttsops.errors import InitError
from ttsops.init import InitOptions, plan_files

_GOLDEN = Path(__file__).parent.parent / "golden" / "init"

_ALL = InitOptions(ci="github", monitoring=True, systemd=True)


def _check_golden(name: str, text: str) -> None:
    path = _GOLDEN / name
    if os.environ.get("TTSOPS_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; if intended, rerun with TTSOPS_UPDATE_GOLDEN=1 and review the diff"
    )


def _files(options: InitOptions) -> dict[str, str]:
    return {f.path: f.text for f in plan_files(options)}


@pytest.mark.parametrize(
    "path",
    [
        "Dockerfile",
        "compose.yaml",
        ".github/workflows/ttsops-release.yml",
        "deploy/systemd/ttsops-agent.service",
        "deploy/prometheus/prometheus.yml",
        "deploy/prometheus/ttsops-alerts.yml",
        "deploy/prometheus/ttsops-alerts.test.yml",
        "deploy/grafana/ttsops-dashboard.json",
    ],
)
def test_each_file_matches_its_golden_text(path: str) -> None:
    """Every file of `init --ci github --monitoring --systemd` is the reviewed text."""
    _check_golden(path.replace("/", "__"), _files(_ALL)[path])


def test_gitlab_pipeline_matches_its_golden_text() -> None:
    """`--ci gitlab` writes .gitlab-ci.yml (and no GitHub workflow)."""
    files = _files(InitOptions(ci="gitlab"))
    assert ".github/workflows/ttsops-release.yml" not in files
    _check_golden(".gitlab-ci.yml", files[".gitlab-ci.yml"])


def test_without_flags_only_the_dockerfile_and_compose_are_written() -> None:
    """No flag: the image recipe and the compose file, nothing else."""
    assert sorted(_files(InitOptions())) == ["Dockerfile", "compose.yaml"]


def test_the_dockerfile_is_the_image_builds_own_template() -> None:
    """The Dockerfile is `render_dockerfile` of a store image, not a copy of its template."""
    text = _files(InitOptions())["Dockerfile"]
    spec = ImageSpec(
        reference="localhost/joe-store:latest",
        base=base_image_tag(),
        wheel=f"ttsops-{ttsops.__version__}-py3-none-any.whl",
        wheel_sha256=ttsops.__version__,
        wheels_key="uv.lock",
        model="store",
        title="joe",
        version="latest",
        revision="",
        created="1970-01-01T00:00:00Z",
        source="https://github.com/ttsops/ttsops",
        digest="",
        ttsops_version=ttsops.__version__,
    )
    assert text == render_dockerfile(spec)
    assert 'CMD ["ttsops", "image", "start", "--host", "0.0.0.0", "--port", "6006"]' in text


def test_the_workflow_pins_actions_by_full_sha_with_their_version() -> None:
    """Every `uses:` names a 40-hex commit and a `# vX.Y.Z` comment; no floating tag."""
    text = _files(_ALL)[".github/workflows/ttsops-release.yml"]
    uses = [line.split("uses:", 1)[1].strip() for line in text.splitlines() if "uses:" in line]
    assert len(uses) == 3
    for use in uses:
        ref, _, comment = use.partition(" # ")
        assert len(ref.split("@")[1]) == 40, use
        assert comment.startswith("v"), use


def test_the_workflow_never_puts_a_secret_in_a_command_line() -> None:
    """Secrets reach steps as environment variables only, and the password through stdin."""
    text = _files(_ALL)[".github/workflows/ttsops-release.yml"]
    for line in text.splitlines():
        if "secrets." in line:
            key = line.strip().split(":", 1)[0]
            assert key.isupper(), line  # an `env:` entry, never inside `run:`
    assert "--password-stdin" in text
    assert "cancel-in-progress: false" in text
    assert "permissions: {}" in text


def test_the_unit_keeps_slots_serving_when_the_agent_stops() -> None:
    """KillMode=process (explained), Restart=on-failure, ExecStart at the given path."""
    text = _files(replace(_ALL, ttsops_bin="/opt/ttsops/bin/ttsops"))[
        "deploy/systemd/ttsops-agent.service"
    ]
    assert "KillMode=process" in text
    assert "Restart=on-failure" in text
    assert "ExecStart=/opt/ttsops/bin/ttsops agent" in text
    assert "StateDirectory=ttsops" in text
    other = _files(replace(_ALL, state_dir="/srv/tts"))["deploy/systemd/ttsops-agent.service"]
    assert "ReadWritePaths=/srv/tts" in other and "StateDirectory" not in other


def test_the_dashboard_is_json_with_unique_panel_ids() -> None:
    """The dashboard parses as JSON, each panel has an id of its own and a Prometheus query."""
    dash = json.loads(_files(_ALL)["deploy/grafana/ttsops-dashboard.json"])
    panels = dash["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    assert all(t["expr"] for p in panels if p["type"] != "row" for t in p["targets"])


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"bundle": "/abs/joe"}, "inside the repository"),
        ({"bundle": "../joe"}, "inside the repository"),
        ({"bundle": "my bundle"}, "character"),
        ({"branch": "ma$in"}, "character"),
        ({"ttsops_bin": "ttsops"}, "absolute path"),
        ({"state_dir": "var/lib"}, "absolute path"),
        ({"name": "jo e"}, "image name"),
    ],
)
def test_unusable_options_are_refused_before_rendering(changes: dict[str, str], match: str) -> None:
    """A value that would break a file is refused with what to pass instead."""
    with pytest.raises(InitError, match=match):
        plan_files(replace(InitOptions(), **changes))  # type: ignore[arg-type]
