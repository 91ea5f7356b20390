"""Voice names a request may give: the bundle's voices and OpenAI's names as aliases."""

from __future__ import annotations

import pytest

from ttsops.errors import ConfigError, InvalidInputError
from ttsops.server.voices import OPENAI_VOICES, VoiceMap


def test_openai_names_speak_with_the_default_voice() -> None:
    """Without configuration every OpenAI name resolves to the bundle's first voice."""
    voices = VoiceMap(["joe", "amy"])
    assert {voices.resolve(name) for name in OPENAI_VOICES} == {"joe"}
    assert voices.resolve(None) == "joe"
    assert voices.resolve("amy") == "amy"


def test_configured_aliases_win_and_may_add_names() -> None:
    """A configured alias maps an OpenAI name elsewhere, or adds a name of its own."""
    voices = VoiceMap(["joe", "amy"], {"nova": "amy", "narrator": "joe"})
    assert voices.resolve("nova") == "amy"
    assert voices.resolve("narrator") == "joe"
    assert voices.resolve("alloy") == "joe"
    assert voices.names[:2] == ["joe", "amy"]


def test_alias_to_a_missing_voice_is_a_config_error() -> None:
    """An alias naming a voice the bundle lacks is refused, naming the voices there are."""
    with pytest.raises(ConfigError, match=r"'nova' to 'nobody'.*its voices are: joe"):
        VoiceMap(["joe"], {"nova": "nobody"})


def test_alias_shadowing_a_real_voice_is_a_config_error() -> None:
    """An alias may not redirect one of the bundle's own voice names."""
    with pytest.raises(ConfigError, match="is a voice of this bundle itself"):
        VoiceMap(["joe", "amy"], {"amy": "joe"})


def test_unknown_voice_lists_voices_and_aliases() -> None:
    """An unknown name is a 400 listing the voices and every alias with its target."""
    with pytest.raises(InvalidInputError) as refused:
        VoiceMap(["joe"]).resolve("bob")
    assert refused.value.http_status == 400
    assert "this model has: joe" in refused.value.message
    assert "alloy → joe" in refused.value.message
