"""`ttsops init`: write the files a repository needs to ship its voice with ttsops."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from ttsops.cli import output

__all__ = ["init"]


def _default_ttsops_bin() -> str:
    """The ttsops running now (its absolute path), for the systemd unit's ExecStart."""
    beside = Path(sys.executable).parent / "ttsops"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside.absolute())
    found = shutil.which("ttsops")
    return str(Path(found).absolute()) if found else "/usr/local/bin/ttsops"


def _find_bundle(root: Path) -> str | None:
    """The first directory under ``root`` (two levels deep at most) holding a bundle.toml.

    Hidden directories (``.venv``, ``.ttsops``, ``.demo``) are not the repository's bundles.
    """
    for pattern in ("bundle.toml", "*/bundle.toml", "*/*/bundle.toml"):
        found = sorted(
            p
            for p in root.glob(pattern)
            if not any(part.startswith(".") for part in p.parts[len(root.parts) :])
        )
        if found:
            rel = found[0].parent.relative_to(root).as_posix()
            return rel if rel != "." else None
    return None


def _model_name(root: Path, bundle: str) -> str:
    """The bundle's name from its bundle.toml, else the directory's name."""
    from ttsops.bundle import load_manifest
    from ttsops.errors import BundleError

    try:
        return load_manifest(root / bundle).name
    except BundleError:
        return Path(bundle).name or "tts"


def init(
    ci: Annotated[
        str | None,
        typer.Option(
            "--ci",
            help="Write a release pipeline: github (.github/workflows/ttsops-release.yml) or "
            "gitlab (.gitlab-ci.yml).",
            show_default=False,
        ),
    ] = None,
    k8s: Annotated[
        bool, typer.Option("--k8s", help="Write Kubernetes manifests under deploy/k8s/.")
    ] = False,
    monitoring: Annotated[
        bool,
        typer.Option(
            "--monitoring",
            help="Write deploy/prometheus/ (scrape config, alert rules and their tests) and "
            "deploy/grafana/ (a dashboard).",
        ),
    ] = False,
    systemd: Annotated[
        bool,
        typer.Option("--systemd", help="Write deploy/systemd/ttsops-agent.service."),
    ] = False,
    directory: Annotated[
        Path, typer.Option("--dir", help="The repository to write into.", file_okay=False)
    ] = Path(),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files that exist with other content.")
    ] = False,
    bundle: Annotated[
        str | None,
        typer.Option(
            "--bundle",
            help="The bundle directory, relative to --dir. Default: the first directory "
            "with a bundle.toml, else bundles/joe.",
            show_default=False,
        ),
    ] = None,
    branch: Annotated[
        str, typer.Option("--branch", help="Pushes to this branch release to staging.")
    ] = "main",
    ttsops_bin: Annotated[
        str | None,
        typer.Option(
            "--ttsops-bin",
            help="Absolute path of ttsops on the host, for the systemd unit. Default: this one.",
            show_default=False,
        ),
    ] = None,
    state_dir: Annotated[
        str, typer.Option("--state-dir", help="TTSOPS_HOME of the agent on the host.")
    ] = "/var/lib/ttsops",
    agent_port: Annotated[
        int, typer.Option("--agent-port", min=1, max=65535, help="The agent's API port.")
    ] = 6007,
    public_port: Annotated[
        int, typer.Option("--public-port", min=1, max=65535, help="The port users reach.")
    ] = 6006,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {dir, files: [{path, action, what, check}]}.")
    ] = False,
) -> None:
    """Write the files a repository needs to ship its voice with ttsops.

    \b
    Always: Dockerfile (the store image recipe of `ttsops image build`)
      and compose.yaml (a serve container: health check, limits, store model)
    --ci github|gitlab  release pipeline: a v* tag goes to production, a
                        push to --branch to staging (register, image, release)
    --systemd           the agent's unit; stopping it keeps the slots serving
    --monitoring        Prometheus scrape config, alert rules and their
                        `promtool test rules` tests; a Grafana dashboard
    --k8s               Kubernetes manifests, as `ttsops k8s render` makes
    A file that exists with other content is not replaced without --force:
    then nothing at all is written. Example:
      ttsops init --ci github --monitoring --systemd
    """
    from ttsops.errors import InitError
    from ttsops.init import InitOptions, plan_files, write_files

    if ci not in (None, "github", "gitlab"):
        raise typer.BadParameter(f"--ci is github or gitlab, not {ci!r}")
    root = directory.expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise InitError(f"--dir {root} is not a directory; pass your repository's directory")
    bundle_dir = bundle or (_find_bundle(root) if root.is_dir() else None) or "bundles/joe"
    name = _model_name(root, bundle_dir).lower()
    options = InitOptions(
        ci="github" if ci == "github" else "gitlab" if ci == "gitlab" else None,
        systemd=systemd,
        monitoring=monitoring,
        k8s=k8s,
        bundle=bundle_dir,
        name=name,
        branch=branch,
        ttsops_bin=ttsops_bin or _default_ttsops_bin(),
        state_dir=state_dir,
        image_repo=f"registry.example.com/tts/{name}",
        agent_port=agent_port,
        public_port=public_port,
    )
    written = write_files(root, plan_files(options), force=force)
    if as_json:
        output.print_json({"dir": str(root), "files": [w.__dict__ for w in written]})
        return
    output.table(
        f"ttsops init: {root}",
        ["file", "", "what", "check"],
        [(w.path, w.action, w.what, w.check) for w in written],
        cut="what",
    )
    changed = sum(w.action != "unchanged" for w in written)
    output.success(f"{changed} file(s) written, {len(written) - changed} already up to date")
