"""The gate's service parts that need no running service: a service.toml made a version,
the report's seed note, and why similarity is skipped for a service."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from joe_service import write_service

from ttsops.bundle import load_manifest, verify_bundle
from ttsops.gate.corpus import eval_set_for
from ttsops.gate.services import seed_note, service_version_dir
from ttsops.gate.similarity import similarity_scope
from ttsops.gate.worker import ReferenceClip
from ttsops.service import load_service_manifest, service_of


def test_a_service_toml_becomes_a_verified_version(tmp_path: Path) -> None:
    """The directory of a service.toml is written as a one-file bundle of engine service,
    pinned (absolute cwd, app sha256); its languages pick the gate's sentences."""
    root = write_service(tmp_path / "svc", [sys.executable, "app.py"], files={"app.py": "x=1\n"})
    version = service_version_dir(root, tmp_path / "version")
    manifest = verify_bundle(version)
    assert manifest.engine == "service"
    service = service_of(version)
    assert service is not None and service.command is not None
    assert service.command.cwd == str(root.resolve())
    assert set(service.command.digests) == {"app.py"}
    assert eval_set_for(manifest.languages).languages == ("en",)


def test_a_bundle_directory_is_left_as_it_is(tmp_path: Path) -> None:
    """Only a service.toml is converted; anything else is the gate's as before."""
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "bundle.toml").write_text("", encoding="utf-8")
    assert service_version_dir(tmp_path / "bundle", tmp_path / "out") == tmp_path / "bundle"
    assert not (tmp_path / "out").exists()


def test_the_seed_note_says_whether_a_seed_is_sent(tmp_path: Path) -> None:
    """openai sends one (the service may ignore it); gradio sends none."""
    openai = load_service_manifest(write_service(tmp_path / "a", ["x"]))
    assert "is a command service: the synthesis seed is sent" in seed_note("candidate", openai)
    gradio = load_service_manifest(
        write_service(tmp_path / "b", ["x"], speech={"protocol": "gradio"})
    )
    note = seed_note("baseline", gradio)
    assert "its gradio adapter sends no synthesis seed" in note


def test_similarity_is_skipped_for_a_service_that_takes_no_clip(
    tmp_path: Path, joe_bundle: Path
) -> None:
    """The reason names the service's [speech] adapter, not an engine flag."""
    version = service_version_dir(write_service(tmp_path / "svc", ["x"]), tmp_path / "version")
    clip = ReferenceClip("joe.wav", np.ones(22050, dtype=np.float32), 22050, "/tmp/joe.wav")
    notes: list[str] = []
    scope, record = similarity_scope(
        (clip,),
        {"candidate": False, "baseline": False},
        {},
        load_manifest(version),
        load_manifest(joe_bundle),
        notes,
    )
    assert scope == "off"
    assert record["state"] == "skipped"
    assert "the candidate is a service whose [speech] adapter takes no reference" in notes[0]
