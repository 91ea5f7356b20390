"""The public surface of ttsops.batch: what __all__ names exists and says what it is."""

from __future__ import annotations

import ttsops.batch


def test_all_names_exist_and_have_a_docstring() -> None:
    """Every name in ttsops.batch.__all__ is importable and documented in one line or more."""
    for name in ttsops.batch.__all__:
        obj = getattr(ttsops.batch, name)
        if isinstance(obj, int):
            continue  # EXIT_FAILED: a constant, documented where it is defined
        assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
    public = {n for n in vars(ttsops.batch) if not n.startswith("_")}
    modules = {
        "annotations",
        "client",
        "parts",
        "references",
        "results",
        "runner",
        "sinks",
        "speech_backend",
        "speech_options",
        "summary",
        "tasks",
    }
    assert public - modules == set(ttsops.batch.__all__)
