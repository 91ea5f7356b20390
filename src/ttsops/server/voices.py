"""Voice names a request may use: the bundle's own voices and OpenAI's names as aliases."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ttsops.errors import ConfigError, InvalidInputError

__all__ = ["OPENAI_VOICES", "VoiceMap"]

OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
)
"""The voice names of OpenAI's speech API; each is an alias of one of the bundle's voices."""


class VoiceMap:
    """Resolves a request's ``voice`` to one of the bundle's voices."""

    def __init__(self, voices: Sequence[str], configured: Mapping[str, str] | None = None) -> None:
        self.voices = tuple(voices)
        """The bundle's voices; the first is the default."""
        configured = dict(configured or {})
        for alias, target in configured.items():
            if target not in self.voices:
                raise ConfigError(
                    f"server.voice_aliases (ttsops.toml) maps {alias!r} to {target!r}, which "
                    f"this bundle does not have; its voices are: {', '.join(self.voices)}. "
                    "Map the alias to one of them or remove it"
                )
            if alias in self.voices and alias != target:
                raise ConfigError(
                    f"server.voice_aliases (ttsops.toml) maps {alias!r} to {target!r}, but "
                    f"{alias!r} is a voice of this bundle itself; remove that alias"
                )
        default = self.voices[0]
        aliases = {name: default for name in OPENAI_VOICES if name not in self.voices}
        aliases.update({a: t for a, t in configured.items() if a not in self.voices})
        self.aliases: dict[str, str] = aliases
        """Alias → bundle voice: OpenAI's names (default: the default voice) and any configured."""

    @property
    def names(self) -> list[str]:
        """Every name a request may give: the voices, then the aliases."""
        return [*self.voices, *self.aliases]

    def resolve(self, voice: str | None) -> str:
        """The bundle voice for ``voice`` (None: the default), or a 400 naming the choices."""
        if voice is None:
            return self.voices[0]
        if voice in self.voices:
            return voice
        if voice in self.aliases:
            return self.aliases[voice]
        raise InvalidInputError(
            f"unknown voice {voice!r}; this model has: {', '.join(self.voices)}; "
            f"aliases: {', '.join(f'{a} → {t}' for a, t in self.aliases.items())}"
        )
