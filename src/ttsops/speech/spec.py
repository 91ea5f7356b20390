"""How to reach a service's speech: the ``[speech]`` table of ``service.toml``.

One model per protocol, told apart by ``protocol``:

- ``openai``: ``POST {path}`` with ``{"model", "input", "voice", "response_format"}``.
- ``gradio``: ``gradio_client.Client(url).predict(..., api_name=...)``, the request's text,
  voice, reference clip and its transcript mapped onto the endpoint's parameters by name,
  and which output holds the audio.
- ``http``: a Jinja request template, and where the audio is in the answer: the body, a
  base64 JSON field, or a JSON field holding a file URL.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GradioSpeech", "HttpSpeech", "OpenAISpeech", "SpeechSpec"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(default=120.0, gt=0)
    """Longest one synthesis may take before the adapter gives up (large models are slow)."""


class OpenAISpeech(_Spec):
    """A service that speaks OpenAI's speech API."""

    protocol: Literal["openai"] = "openai"
    path: str = "/v1/audio/speech"
    """Route of the speech endpoint."""

    model: str = "tts-1"
    """``model`` sent in the body (most self-hosted servers ignore it)."""

    voice: str | None = None
    """Voice sent when the request names none; None sends no ``voice``."""

    response_format: str = "wav"
    """Audio format asked for (``wav`` decodes without loss)."""

    can_reference: bool = False
    """True for a server that takes ttsops' ``voice=ref-…`` reference voices
    (``POST /v1/voices``), as ``ttsops serve`` of a Kokoro bundle does."""


class GradioSpeech(_Spec):
    """A Gradio app (``gradio.Blocks`` / ``gr.Interface``) reached through ``gradio_client``."""

    protocol: Literal["gradio"]
    api_name: str = "/predict"
    """Endpoint name as ``view_api()`` lists it, e.g. ``/synthesize``."""

    text: str = "text"
    """Parameter that takes the text."""

    voice: str | None = None
    """Parameter that takes a voice name, if any."""

    reference_audio: str | None = None
    """Parameter that takes the reference clip (sent as a file upload); None: the app takes
    no reference, and requests with one are refused."""

    reference_text: str | None = None
    """Parameter that takes the reference clip's transcript, if any."""

    fixed: dict[str, Any] = Field(default_factory=dict)
    """Other parameters and the values always sent (seed, temperature…)."""

    output: int = Field(default=0, ge=0)
    """Which of the endpoint's outputs is the audio (a filepath or ``(rate, samples)``)."""


class HttpSpeech(_Spec):
    """Any HTTP API: a request template, and where the audio is in the answer."""

    protocol: Literal["http"]
    method: Literal["POST", "GET"] = "POST"
    path: str = "/tts"
    """Route, itself a template (``/tts?text={{ text | urlencode }}``)."""

    json_body: str | None = None
    """Jinja template of a JSON body; ``{{ text | tojson }}``, ``{{ voice | tojson }}``,
    ``{{ reference_b64 | tojson }}`` and ``{{ reference_text | tojson }}`` are defined."""

    reference_field: str | None = None
    """Multipart field the reference clip is uploaded in (then ``json_body`` fields are sent
    as form fields); None with no ``reference_b64`` in the template: no reference."""

    audio: Literal["body", "base64", "url"] = "body"
    """Where the audio is: the whole answer body, a base64 JSON field, or a JSON field with a
    URL (absolute, or relative to the service) to download it from."""

    field: str | None = None
    """Dotted path of the JSON field for ``base64`` and ``url`` (``data.audio``)."""

    headers: dict[str, str] = Field(default_factory=dict)
    """Headers sent with every request."""


SpeechSpec = Annotated[OpenAISpeech | GradioSpeech | HttpSpeech, Field(discriminator="protocol")]
"""The ``[speech]`` table: one of the three protocols."""
