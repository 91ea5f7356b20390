"""What `ttsops init` writes: a pure plan of files, each a render of a template."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

import ttsops
from ttsops.containers.base import base_image_tag
from ttsops.containers.build import SOURCE_URL
from ttsops.containers.dockerfile import ImageSpec, render_dockerfile
from ttsops.errors import InitError
from ttsops.render import render_template

__all__ = ["THRESHOLDS", "Ci", "InitOptions", "PlannedFile", "plan_files"]

Ci = Literal["github", "gitlab"]
"""The CI systems `ttsops init --ci` writes a release pipeline for."""

THRESHOLDS: dict[str, float] = {
    "error_rate": 0.02,
    "latency_p95_s": 10,
    "ttfa_p95_s": 2,
    "rtf_p95": 1,
    "patrol_failures": 2,
}
"""Where the alert rules fire: error share, p95 latency and time to first audio (s), p95
real-time factor, failed patrol probes in a row. The rules' unit tests use the same."""


@dataclass(frozen=True)
class InitOptions:
    """What the user asked `ttsops init` for, and the few names the files need."""

    ci: Ci | None = None
    """Write a release pipeline for this CI system."""

    systemd: bool = False
    """Write the agent's systemd unit."""

    monitoring: bool = False
    """Write the Prometheus config, alert rules (and their tests) and a Grafana dashboard."""

    k8s: bool = False
    """Write Kubernetes manifests (through ``ttsops.k8s``)."""

    bundle: str = "bundles/joe"
    """The bundle directory in the repository, relative to its root."""

    name: str = "joe"
    """The model's name: the image repository's last part."""

    branch: str = "main"
    """The branch whose pushes release to staging."""

    ttsops_bin: str = "/usr/local/bin/ttsops"
    """Absolute path of ``ttsops`` on the host (the systemd unit's ``ExecStart``)."""

    state_dir: str = "/var/lib/ttsops"
    """``TTSOPS_HOME`` of the agent on the host."""

    user: str = "ttsops"
    """The system user the agent runs as."""

    version: str = "1.0.0"
    """The version the Kubernetes manifests are of (``ttsops k8s render`` makes others)."""

    image_repo: str = "registry.example.com/tts/joe"
    """The image repository the Kubernetes manifests pull ``:VERSION`` from."""

    agent_port: int = 6007
    public_port: int = 6006
    memory: str = "2g"
    """Memory limit of the compose service."""

    cpus: str = "2"
    """CPU limit of the compose service."""

    created: str = "1970-01-01T00:00:00Z"
    """The Dockerfile's ``org.opencontainers.image.created``: fixed, so that init writes the
    same file every time (``ttsops image build`` renders its own with the build's time)."""

    def check(self) -> None:
        """Refuse values that would make a broken file, saying which and what to pass."""
        bundle = PurePosixPath(self.bundle)
        if bundle.is_absolute() or ".." in bundle.parts or not self.bundle.strip():
            raise InitError(
                f"--bundle {self.bundle!r} must be a path inside the repository "
                "(relative, e.g. bundles/joe)"
            )
        for what, value in (("--ttsops-bin", self.ttsops_bin), ("--state-dir", self.state_dir)):
            if not value.startswith("/") or any(c.isspace() for c in value):
                raise InitError(f"{what} {value!r} must be an absolute path without spaces")
        for what, value in (("--bundle", self.bundle), ("--branch", self.branch)):
            if any(c in value for c in "\"'$`\\\n ") or not value:
                raise InitError(f"{what} {value!r} has a character CI files cannot hold; rename it")
        if not self.name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise InitError(
                f"model name {self.name!r} cannot be an image name; use letters, digits, - _ ."
            )


@dataclass(frozen=True)
class PlannedFile:
    """One file to write."""

    path: str
    """Where, relative to the repository root (POSIX separators)."""

    text: str
    """Its whole content."""

    what: str
    """What it is, for the listing."""

    check: str
    """The command that checks it."""


def _context(options: InitOptions) -> dict[str, Any]:
    state = PurePosixPath(options.state_dir)
    under_var_lib = state.parent == PurePosixPath("/var/lib")
    return {
        "ttsops_version": ttsops.__version__,
        "bundle": options.bundle,
        "branch": options.branch,
        "image": options.name.lower(),
        "store_image": f"localhost/{options.name.lower()}-store",
        "ttsops_bin": options.ttsops_bin,
        "state_dir": options.state_dir,
        "state_dir_name": state.name if under_var_lib else "",
        "user": options.user,
        "agent_port": options.agent_port,
        "public_port": options.public_port,
        "memory": options.memory,
        "cpus": options.cpus,
        "t": THRESHOLDS,
    }


def _dockerfile(options: InitOptions) -> str:
    """The store image's recipe, as `ttsops image build --model store` renders it."""
    name = options.name.lower()
    spec = ImageSpec(
        reference=f"localhost/{name}-store:latest",
        base=base_image_tag(),
        wheel=f"ttsops-{ttsops.__version__}-py3-none-any.whl",
        # Cache keys of the install steps; `ttsops image build` puts the wheels' hashes here.
        wheel_sha256=ttsops.__version__,
        wheels_key="uv.lock",
        model="store",
        title=name,
        version="latest",
        revision="",
        created=options.created,
        source=SOURCE_URL,
        digest="",
        ttsops_version=ttsops.__version__,
    )
    return render_dockerfile(spec)


def plan_files(options: InitOptions) -> list[PlannedFile]:
    """Every file `ttsops init` writes for ``options``, rendered (nothing is written here)."""
    options.check()
    ctx = _context(options)
    files = [
        PlannedFile(
            "Dockerfile",
            _dockerfile(options),
            "store image recipe (the one `ttsops image build --model store` uses)",
            "hadolint Dockerfile",
        ),
        PlannedFile(
            "compose.yaml",
            render_template("compose/compose.yaml.j2", **ctx),
            "one serve container: health check, limits, model from the store",
            "docker compose config",
        ),
    ]
    if options.ci == "github":
        files.append(
            PlannedFile(
                ".github/workflows/ttsops-release.yml",
                render_template("ci/github-release.yml.j2", **ctx),
                "GitHub Actions: v* tag → production, main → staging",
                "actionlint; zizmor",
            )
        )
    elif options.ci == "gitlab":
        files.append(
            PlannedFile(
                ".gitlab-ci.yml",
                render_template("ci/gitlab-ci.yml.j2", **ctx),
                "GitLab CI: v* tag → production, main → staging",
                "GitLab CI Lint (pipeline editor)",
            )
        )
    if options.systemd:
        files.append(
            PlannedFile(
                "deploy/systemd/ttsops-agent.service",
                render_template("systemd/ttsops-agent.service.j2", **ctx),
                "systemd unit of the agent (restart on failure, slots survive a stop)",
                "systemd-analyze verify ttsops-agent.service",
            )
        )
    if options.monitoring:
        files += _monitoring(ctx)
    if options.k8s:
        files += _k8s(options)
    return files


def _monitoring(ctx: dict[str, Any]) -> list[PlannedFile]:
    return [
        PlannedFile(
            "deploy/prometheus/prometheus.yml",
            render_template("prometheus/prometheus.yml.j2", **ctx),
            "Prometheus scrape config: the agent, and its slots by HTTP service discovery",
            "promtool check config prometheus.yml",
        ),
        PlannedFile(
            "deploy/prometheus/ttsops-alerts.yml",
            render_template("prometheus/ttsops-alerts.yml.j2", **ctx),
            "alert rules: errors, p95 latency, time to first audio, RTF, slots, patrol, rollbacks",
            "promtool check rules ttsops-alerts.yml",
        ),
        PlannedFile(
            "deploy/prometheus/ttsops-alerts.test.yml",
            render_template("prometheus/ttsops-alerts.test.yml.j2", **ctx),
            "unit tests of the alert rules on synthetic series",
            "promtool test rules ttsops-alerts.test.yml",
        ),
        PlannedFile(
            "deploy/grafana/ttsops-dashboard.json",
            render_template("grafana/ttsops-dashboard.json.j2", **ctx),
            "Grafana dashboard: traffic, latency, TTFA, RTF, errors, rollouts, queue, GPU",
            "Grafana: Dashboards → Import",
        ),
    ]


def _k8s(options: InitOptions) -> list[PlannedFile]:
    """Kubernetes manifests of ``version`` from ``ttsops.k8s`` (its renderer and templates)."""
    from ttsops.k8s import K8sOptions, render_manifests

    name = options.name.lower()
    k8s = K8sOptions(
        name=name, version=options.version, image=f"{options.image_repo}:{options.version}"
    )
    rendered = render_manifests(k8s.check())
    return [
        PlannedFile(
            f"deploy/k8s/{file}",
            text,
            f"Kubernetes manifest of {options.version} (`ttsops k8s render` gives others)",
            "kubectl apply --dry-run=server -f",
        )
        for file, text in sorted(rendered.items())
    ]
