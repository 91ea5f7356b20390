"""The ``http`` adapter: any HTTP API, through a Jinja request template.

``path`` and ``json_body`` are Jinja templates (strict: an unknown name is an error) over
``text``, ``voice``, ``speed``, ``reference_b64``, ``reference_text`` and ``reference_name``.
The body is sent as JSON, or as a multipart form when ``reference_field`` names the field
the clip is uploaded in (the rendered JSON's fields then become form fields). The audio is
the whole answer, a base64 JSON field, or a JSON field holding a URL to download.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

import httpx
import jinja2

from ttsops.errors import ReferenceNotSupportedError, SpeechError
from ttsops.speech.base import (
    RETRY_STATUSES,
    Speech,
    SpeechRequest,
    answered_version,
    decode_audio,
)
from ttsops.speech.spec import HttpSpeech

__all__ = ["TEMPLATE_VARIABLES", "HttpSpeaker"]

TEMPLATE_VARIABLES = ("text", "voice", "speed", "reference_b64", "reference_text", "reference_name")
"""Names a ``path`` or ``json_body`` template may use."""


class HttpSpeaker:
    """Speaks through the HTTP API at ``base_url`` that ``spec`` describes."""

    def __init__(self, base_url: str, spec: HttpSpeech) -> None:
        """Compile the templates now, so a broken one fails here and not on first use."""
        self.spec = spec
        self.base_url = base_url.rstrip("/")
        self.can_reference = spec.reference_field is not None or "reference_b64" in (
            spec.json_body or ""
        )
        if spec.audio != "body" and not spec.field:
            raise SpeechError(
                f'[speech] audio = "{spec.audio}" needs `field`: the dotted path of the JSON '
                'field that holds the audio (e.g. field = "data.audio")'
            )
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - JSON and URLs, not HTML
        try:
            self._path = env.from_string(spec.path)
            self._body = env.from_string(spec.json_body) if spec.json_body else None
        except jinja2.TemplateSyntaxError as exc:
            raise SpeechError(
                f"[speech] template is not valid Jinja (line {exc.lineno}): {exc.message}"
            ) from None
        self._http = httpx.Client(
            base_url=self.base_url, timeout=spec.timeout_s, headers=spec.headers
        )

    def speak(self, request: SpeechRequest) -> Speech:
        """Send the rendered request; find and decode the audio in the answer."""
        if request.reference is not None and not self.can_reference:
            raise ReferenceNotSupportedError(
                f"the HTTP API at {self.base_url} takes no reference clip; drop prompt_audio, "
                "or set [speech] reference_field (or use reference_b64 in json_body)"
            )
        values, clip = _variables(request)
        path = self._render(self._path, values, "path")
        where = f"the HTTP API at {self.base_url}{path.split('?', 1)[0]}"
        started = time.monotonic()
        try:
            reply = self._send(path, values, clip, request)
        except httpx.HTTPError as exc:
            raise SpeechError(f"{where} did not answer: {exc}", retryable=True) from None
        if not reply.is_success:
            raise SpeechError(
                f"{where} answered {reply.status_code}: {_said(reply)}",
                retryable=reply.status_code in RETRY_STATUSES,
            )
        data = self._audio_bytes(reply, where)
        samples, rate = decode_audio(data, where=where)
        took = time.monotonic() - started
        return Speech(samples, rate, took, answered_version(reply.headers))

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _send(
        self, path: str, values: dict[str, Any], clip: bytes | None, request: SpeechRequest
    ) -> httpx.Response:
        """The request: no body (GET), JSON, or a multipart form with the clip."""
        spec = self.spec
        if spec.method == "GET":
            return self._http.get(path)
        fields = self._json(values) if self._body is not None else None
        if spec.reference_field is None:
            return (
                self._http.post(path, json=fields) if fields is not None else self._http.post(path)
            )
        if not isinstance(fields, dict | None):
            raise SpeechError(
                "[speech] json_body must render to a JSON object when reference_field is set: "
                "its fields become the form's fields"
            )
        form = {
            key: _form_value(value) for key, value in (fields or {}).items() if value is not None
        }
        files = None
        if request.reference is not None and clip is not None:
            files = {spec.reference_field: (request.reference.path.name, clip)}
        return self._http.post(path, data=form, files=files)

    def _json(self, values: dict[str, Any]) -> Any:
        """The rendered ``json_body``, parsed."""
        assert self._body is not None
        text = self._render(self._body, values, "json_body")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpeechError(
                f"[speech] json_body rendered to invalid JSON ({exc.msg} at line {exc.lineno} "
                f"column {exc.colno}): {text[:200]!r}; quote values with `| tojson`"
            ) from None

    def _render(self, template: jinja2.Template, values: dict[str, Any], what: str) -> str:
        try:
            return template.render(**values)
        except jinja2.UndefinedError as exc:
            raise SpeechError(
                f"[speech] {what} uses an undefined name ({exc.message}); the names defined "
                f"are {', '.join(TEMPLATE_VARIABLES)}"
            ) from None
        except jinja2.TemplateError as exc:
            raise SpeechError(f"[speech] {what} failed to render: {exc}") from None

    def _audio_bytes(self, reply: httpx.Response, where: str) -> bytes:
        """The audio file's bytes: the body, a base64 field, or a URL it names."""
        spec = self.spec
        if spec.audio == "body":
            kind = reply.headers.get("content-type", "").split(";")[0].strip()
            if kind == "application/json" or kind.startswith("text/"):
                raise SpeechError(
                    f"{where} answered {kind}, not audio: {' '.join(reply.text.split())[:200]}; "
                    'if the audio is in a JSON field, set [speech] audio = "base64" or "url" '
                    "and field"
                )
            return reply.content
        assert spec.field is not None
        value = _field(reply, spec.field, where)
        if spec.audio == "base64":
            encoded = value.split(",", 1)[1] if value.startswith("data:") else value
            try:
                return base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise SpeechError(
                    f"{where}: field {spec.field} is not base64 ({value[:60]!r}…)"
                ) from None
        base = httpx.URL(self.base_url + "/")
        url = base.join(value)
        try:
            if (url.scheme, url.host, url.port) == (base.scheme, base.host, base.port):
                download = self._http.get(url)
            else:  # elsewhere (a bucket's signed URL): without the service's headers
                download = httpx.get(url, timeout=spec.timeout_s, follow_redirects=True)
        except httpx.HTTPError as exc:
            raise SpeechError(
                f"{where}: cannot download the audio at {url}: {exc}", retryable=True
            ) from None
        if not download.is_success:
            raise SpeechError(
                f"{where}: the audio URL {url} (field {spec.field}) answered "
                f"{download.status_code}: {_said(download)}"
            )
        return download.content


def _variables(request: SpeechRequest) -> tuple[dict[str, Any], bytes | None]:
    """The template's names for ``request``, and the reference clip's bytes."""
    clip = None
    name = None
    if request.reference is not None:
        try:
            clip = request.reference.path.read_bytes()
        except OSError as exc:
            raise SpeechError(
                f"cannot read the reference clip {request.reference.path}: {exc}"
            ) from None
        name = request.reference.path.name
    values = {
        "text": request.text,
        "voice": request.voice,
        "speed": request.speed,
        "reference_b64": base64.b64encode(clip).decode("ascii") if clip is not None else None,
        "reference_text": request.reference.text if request.reference is not None else None,
        "reference_name": name,
    }
    return values, clip


def _form_value(value: Any) -> str:
    """A JSON value as a form field: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _field(reply: httpx.Response, dotted: str, where: str) -> str:
    """The string at ``dotted`` in the JSON answer (``data.audio``, ``items.0.url``)."""
    try:
        node: Any = reply.json()
    except ValueError:
        kind = reply.headers.get("content-type", "?")
        raise SpeechError(
            f"{where} answered {kind}, not JSON, so it has no field {dotted}; if the body is "
            'the audio, set [speech] audio = "body"'
        ) from None
    walked: list[str] = []
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            at = ".".join(walked) or "the answer"
            if isinstance(node, dict):
                present = ", ".join(sorted(map(str, node))) or "(none)"
                has = f"its keys are {present}"
            else:
                has = f"it is {type(node).__name__}"
            raise SpeechError(f"{where} answered no field {dotted}: at {at}, {has}")
        walked.append(part)
    if not isinstance(node, str) or not node:
        raise SpeechError(
            f"{where}: field {dotted} is {type(node).__name__}, not a string of audio"
        )
    return node


def _said(reply: httpx.Response) -> str:
    """The message in an error answer: ``error``, ``detail`` or ``message``, else its text."""
    try:
        body = reply.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            said = body.get(key)
            if isinstance(said, dict):
                said = said.get("message", said)
            elif isinstance(said, list):  # FastAPI's validation errors
                said = "; ".join(_problem(item) for item in said)
            if said:
                return " ".join(str(said).split())[:300]
    return " ".join(reply.text.split())[:300] or "(empty body)"


def _problem(item: Any) -> str:
    """One of FastAPI's validation errors: ``body.text: Field required``."""
    if isinstance(item, dict) and "msg" in item:
        where = ".".join(str(part) for part in item.get("loc", ()))
        return f"{where}: {item['msg']}" if where else str(item["msg"])
    return str(item)
