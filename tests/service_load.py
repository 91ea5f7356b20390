"""Load on a Gradio service through the router: API calls and real browser presses, traced.

- ``GradioApiLoad``: threads that call a Gradio endpoint the way ``gradio_client`` does —
  ``GET /config`` (where it picks up session-affinity cookies), ``POST
  /gradio_api/call/<api>``, the event stream ``GET /gradio_api/call/<api>/<event>``, then the
  audio file — with a cookie jar (a fresh connection per request) — and check the audio.
  Each answer's ``X-TTSOps-Slot`` (set by the router) names the slot that made it.
- ``SlotBook``: the agent's slots by id, polled from its status, so a slot names a version.
- ``BrowserPresser``: a real Chromium page of the service's web UI that presses Speak every
  few seconds (one long-lived session, and a fresh one now and then), run from the thread
  that owns the playwright browser.

Used by the end-to-end service tests and ``bench/service_bench.py``.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["ApiCall", "BrowserPresser", "GradioApiLoad", "Press", "SlotBook", "upload"]

TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Please call me back after lunch.",
    "Every morning I walk to the station.",
)


@dataclass
class ApiCall:
    """One synthesis through the router: its outcome and the slots that answered it."""

    started: float
    ended: float = 0.0
    ok: bool = False
    error: str = ""
    slots: list[str] = field(default_factory=list)
    audio_s: float = 0.0

    @property
    def slot(self) -> str | None:
        """The slot that made the audio (the one that answered the event stream)."""
        return self.slots[-2] if len(self.slots) >= 2 else None


class SlotBook:
    """Slot id → version, from the agent's ``/v1/status``, polled in a thread."""

    def __init__(self, status: Callable[[], dict[str, Any]], every_s: float = 0.5) -> None:
        self._status = status
        self._every_s = every_s
        self.versions: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlotBook:
        self.poll()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.poll()

    def poll(self) -> None:
        """Record the slots the agent has now."""
        try:
            status = self._status()
        except (httpx.HTTPError, ValueError):
            return
        for slot in status.get("slots", []):
            self.versions.setdefault(str(slot["slot"]), str(slot["version"]))

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.poll()

    def version(self, slot: str | None) -> str | None:
        """The version slot ``slot`` ran, if it was ever seen."""
        return self.versions.get(slot) if slot else None


class GradioApiLoad:
    """Calls ``api`` of the Gradio app at ``url`` from ``threads`` threads until stopped."""

    def __init__(
        self,
        url: str,
        api: str = "synthesize",
        *,
        data: Callable[[str, httpx.Client], list[Any]] | None = None,
        threads: int = 1,
        pause_s: float = 0.5,
        timeout_s: float = 60.0,
        max_s: float = 300.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.api = api.strip("/")
        self.data = data or (lambda text, _client: [text])
        self.threads = threads
        self.pause_s = pause_s
        self.timeout_s = timeout_s
        self.max_s = max_s
        self.calls: list[ApiCall] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def __enter__(self) -> GradioApiLoad:
        deadline = time.monotonic() + self.max_s
        for n in range(self.threads):
            worker = threading.Thread(target=self._run, args=(n, deadline), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(self.timeout_s + 5)

    def failures(self) -> list[ApiCall]:
        """Calls that got no audio."""
        return [c for c in self.calls if not c.ok]

    def _run(self, n: int, deadline: float) -> None:
        sent = n
        while not self._stop.is_set() and time.monotonic() < deadline:
            call = self.call(TEXTS[sent % len(TEXTS)])
            sent += self.threads
            with self._lock:
                self.calls.append(call)
            self._stop.wait(self.pause_s)

    def call(self, text: str) -> ApiCall:
        """One synthesis, as gradio_client makes it; never raises."""
        call = ApiCall(started=time.time())
        try:
            # A cookie jar (the router's session cookie) but a fresh connection per request,
            # as LoadGenerator does: an idle keep-alive connection closed by a router reload
            # at the moment a request is sent is a reset no server can prevent.
            limits = httpx.Limits(max_keepalive_connections=0)
            with httpx.Client(base_url=self.url, timeout=self.timeout_s, limits=limits) as client:
                self._steps(client, text, call)
        except (httpx.HTTPError, ValueError, KeyError, RuntimeError) as exc:
            call.error = call.error or f"{type(exc).__name__}: {exc}"
        call.ended = time.time()
        return call

    def _steps(self, client: httpx.Client, text: str, call: ApiCall) -> None:
        import soundfile

        def got(reply: httpx.Response, what: str) -> httpx.Response:
            call.slots.append(reply.headers.get("x-ttsops-slot", ""))
            if reply.status_code != 200:
                raise RuntimeError(f"{what} answered {reply.status_code}: {reply.text[:200]}")
            return reply

        got(client.get("/config"), "GET /config")
        posted = got(
            client.post(f"/gradio_api/call/{self.api}", json={"data": self.data(text, client)}),
            "POST call",
        )
        event = posted.json()["event_id"]
        stream = got(client.get(f"/gradio_api/call/{self.api}/{event}"), "GET event")
        outputs = _completed(stream.text)
        audio = outputs[0]
        where = audio.get("url") or f"/gradio_api/file={audio['path']}"
        wav = got(client.get(where), "GET audio")
        info = soundfile.info(io.BytesIO(wav.content))
        call.audio_s = info.frames / info.samplerate
        if call.audio_s <= 0.2:
            raise RuntimeError(f"audio of {call.audio_s:.2f} s")
        call.ok = True


def upload(client: httpx.Client, path: Path) -> dict[str, Any]:
    """Upload a file to the Gradio app (``POST /gradio_api/upload``); the value an endpoint's
    file input takes."""
    with path.open("rb") as f:
        reply = client.post("/gradio_api/upload", files={"files": (path.name, f, "audio/wav")})
    if reply.status_code != 200:
        raise RuntimeError(f"upload answered {reply.status_code}: {reply.text[:200]}")
    (stored,) = reply.json()
    return {"path": stored, "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def _completed(stream: str) -> list[dict[str, Any]]:
    """The outputs of a Gradio call's event stream, or ``RuntimeError`` with its error."""
    event = ""
    for line in stream.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:") and event in ("complete", "error"):
            data = line.split(":", 1)[1].strip()
            if event == "error":
                raise RuntimeError(f"the app answered an error: {data}")
            outputs: list[dict[str, Any]] = json.loads(data)
            return outputs
    raise RuntimeError(f"the event stream ended without an answer: {stream[-300:]!r}")


_PLAYER = """() => {
    for (const box of document.querySelectorAll('[data-testid^="waveform-"]')) {
        for (const el of box.querySelectorAll("*")) {
            const media = el.shadowRoot && el.shadowRoot.querySelector("audio");
            if (media) return media;
        }
    }
    return document.querySelector("audio");
}"""
_HEARD = f"""([previous]) => {{
    const media = ({_PLAYER})();
    return !!media && !!media.src && media.src !== previous && media.duration > 0;
}}"""
_SRC = f"""() => ({_PLAYER})()?.src || ''"""
_TOASTS = """() => Array.from(document.querySelectorAll('[data-testid="toast-body"]'))
    .map((el) => el.innerText.trim()).join(" | ")"""


@dataclass
class Press:
    """One press of Speak in a browser session."""

    session: int
    at: float
    heard: bool = False
    slots: set[str] = field(default_factory=set)
    seconds: float = 0.0
    trace: list[str] = field(default_factory=list)
    """Each Gradio API request of the press: method, path, status and answering slot."""


class BrowserPresser:
    """Real browser sessions on the service's page at ``url``, pressing ``button`` in turn
    after typing into the page's first text box.

    ``step()`` presses once (in the long-lived session, or every ``fresh_every``-th time in
    a new context); call it from the thread that owns ``browser``.
    """

    def __init__(
        self,
        browser: Any,
        url: str,
        *,
        button: str = "Speak",
        fresh_every: int = 4,
        audio_s: float = 30.0,
        load_s: float = 90.0,
        texts: Sequence[str] = TEXTS,
    ) -> None:
        self.browser = browser
        self.url = url
        self.button = button
        self.fresh_every = fresh_every
        self.audio_s = audio_s
        self.load_s = load_s
        self.texts = texts
        self.presses: list[Press] = []
        self._contexts: list[Any] = []
        self._answers: list[str] = []
        self._trace: list[str] = []
        self._main = self._open()

    def _open(self) -> Any:
        from playwright.sync_api import TimeoutError as NotLoaded

        context = self.browser.new_context()
        self._contexts.append(context)
        page = context.new_page()
        page.on("response", self._seen)
        pending: set[str] = set()
        page.on("request", lambda r: pending.add(r.url))
        page.on("requestfinished", lambda r: pending.discard(r.url))
        page.on("requestfailed", lambda r: pending.discard(r.url))
        page.on("requestfailed", self._failed)
        page.on("console", self._console)
        page.goto(self.url, wait_until="commit")
        button = page.get_by_role("button", name=self.button)
        try:
            button.wait_for(timeout=self.load_s * 1000)
        except NotLoaded:
            # A page whose every request was answered but that never rendered (a very busy
            # machine starves the renderer) is loaded once more, as in the browser tests;
            # the presses, not page loads, are what is measured.
            if pending:
                raise AssertionError(
                    f"page {self.url} not loaded in {self.load_s:g} s, still waiting for "
                    f"{sorted(pending)[:10]}"
                ) from None
            page.reload()
            button.wait_for(timeout=self.load_s * 1000)
        return page

    def _seen(self, response: Any) -> None:
        if "/gradio_api/" in response.url:
            slot = response.headers.get("x-ttsops-slot", "")
            self._answers.append(slot)
            path = urlsplit(response.url).path
            self._trace.append(
                f"{time.time():.3f} {response.request.method} {path} {response.status} {slot}"
            )

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self._trace.append(f"{time.time():.3f} console {message.type}: {message.text[:200]}")

    def _failed(self, request: Any) -> None:
        if "/gradio_api/" in request.url:
            path = urlsplit(request.url).path
            failure = request.failure
            self._trace.append(f"{time.time():.3f} {request.method} {path} failed {failure}")

    def step(self) -> Press:
        """One press of the button; waits for its audio (at most ``audio_s``)."""
        from playwright.sync_api import TimeoutError as NoAudio

        number = len(self.presses)
        fresh = self.fresh_every and number % self.fresh_every == self.fresh_every - 1
        page = self._open() if fresh else self._main
        press = Press(session=len(self._contexts) - 1 if fresh else 0, at=time.time())
        page.locator("textarea").first.fill(self.texts[number % len(self.texts)])
        before = str(page.evaluate(_SRC))
        self._answers.clear()
        self._trace.clear()
        started = time.monotonic()
        page.get_by_role("button", name=self.button).click()
        try:
            page.wait_for_function(_HEARD, arg=[before], timeout=self.audio_s * 1000)
            press.heard = True
        except NoAudio:
            press.heard = False
            shown = page.evaluate(_TOASTS)  # what the page told its user, if anything
            self._trace.append(f"{time.time():.3f} page shows: {shown!r}; src {before!r}")
        press.seconds = time.monotonic() - started
        press.slots = {s for s in self._answers if s}
        press.trace = list(self._trace)
        self.presses.append(press)
        if fresh:
            page.context.close()
            self._contexts.remove(page.context)
        return press

    def failures(self) -> list[Press]:
        """Presses that got no audio."""
        return [p for p in self.presses if not p.heard]

    def close(self) -> None:
        """Close every context."""
        for context in self._contexts:
            context.close()
        self._contexts.clear()
