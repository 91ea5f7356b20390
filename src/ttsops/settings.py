"""Settings: the one place that reads ``ttsops.toml`` and ``TTSOPS_*`` environment variables.

Precedence, highest first: environment variables, the config file, defaults. The config
file is ``$TTSOPS_CONFIG`` if set, else ``./ttsops.toml`` if present.

Environment variables:
``TTSOPS_CONFIG`` (path of ttsops.toml), ``TTSOPS_HOME`` (state dir, default ``~/.ttsops``),
``TTSOPS_STORE_URL`` (artifact store, default ``file://$TTSOPS_HOME/store``),
``TTSOPS_LEDGER_URL`` (SQLAlchemy URL, default ``sqlite:///$TTSOPS_HOME/ledger.db``),
``TTSOPS_AGENT_URL`` (the agent's management API, default ``http://127.0.0.1:6007``),
``TTSOPS_TOKEN`` (bearer token of the agent's API).

Sections of ``ttsops.toml``: ``[server]`` (limits of ``ttsops serve``), ``[gate]``
(evaluation set and thresholds of ``ttsops gate``), ``[agent]`` (the deployment agent),
``[canary]`` (canary steps and analysis thresholds), ``[patrol]`` (probes of the live
service and the alert webhook) and ``[targets.<name>]`` (where ``ttsops release`` deploys).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ttsops.errors import ConfigError, validation_problems

__all__ = [
    "AgentSettings",
    "CanarySettings",
    "ContainerSettings",
    "GateSettings",
    "PatrolSettings",
    "ServerSettings",
    "Settings",
    "TargetSettings",
    "load_settings",
]


class ServerSettings(BaseModel):
    """Limits of one ``ttsops serve`` replica (section ``[server]``)."""

    model_config = ConfigDict(extra="forbid")

    max_input_chars: int = Field(default=5000, ge=1)
    """Longest accepted ``input`` in characters; longer gets 413."""

    workers: int | None = Field(default=None, ge=1)
    """Syntheses run at once; default is the number of CPU cores."""

    threads: int = Field(default=1, ge=1)
    """onnxruntime intra-op threads per synthesis."""

    solo_threads: int | None = Field(default=None, ge=0)
    """onnxruntime threads for a synthesis that runs alone (the idle cores speed it up);
    default the number of CPU cores. Costs a second copy of the model in memory; 0 (or the
    value of ``threads``) turns it off."""

    queue_size: int = Field(default=16, ge=0)
    """Requests that may wait for a worker; beyond that, 503 with Retry-After."""

    request_timeout_s: float = Field(default=120.0, gt=0)
    """Longest one synthesis may take before it is abandoned with 504."""

    drain_timeout_s: float = Field(default=30.0, ge=0)
    """After SIGTERM, how long requests in flight may take before the process exits anyway."""

    max_audio_seconds: float = Field(default=1800.0, gt=0)
    """Most audio one request may produce."""

    seed: int | None = Field(default=None, ge=0, lt=2**31)
    """Noise seed used when a request names none (same text + seed → identical audio);
    None draws fresh noise for every request."""

    image: str | None = None
    """The container image this replica runs in (``TTSOPS_IMAGE``, set by the image)."""

    image_id: str | None = None
    """That image's content id (``TTSOPS_IMAGE_ID``, set by whoever starts the container)."""

    voice_aliases: dict[str, str] = Field(default_factory=dict)
    """Voice name → one of the bundle's voices, e.g. ``{alloy = "joe"}``. OpenAI's names
    (alloy, ash, ballad, coral, echo, fable, nova, onyx, sage, shimmer, verse) not listed
    here name the bundle's default voice; an alias naming a voice the bundle lacks is
    refused at start."""

    voices_dir: Path | None = None
    """Where reference voices (``POST /v1/voices``) are kept; every slot of a host must share
    it. Default ``$TTSOPS_HOME/voices``."""


class GateSettings(BaseModel):
    """Evaluation set and thresholds of ``ttsops gate`` (section ``[gate]``).

    Floors judge the candidate alone; regression limits judge its paired difference from
    the baseline over the same sentences, with a bootstrap confidence interval.
    """

    model_config = ConfigDict(extra="forbid")

    eval_set: Path | None = None
    """Sentences to synthesize: a text file (one per line) or JSONL; default the shipped set."""

    workers: int | None = Field(default=None, ge=1)
    """Processes that synthesize and score at once; default the number of CPU cores (≤ 8)."""

    min_ovrl: float = Field(default=2.7, ge=1, le=5)
    """Floor on the candidate's mean DNSMOS OVRL."""

    min_p808: float = Field(default=3.2, ge=1, le=5)
    """Floor on the candidate's mean DNSMOS P.808 MOS."""

    max_wer: float = Field(default=0.5, ge=0)
    """Ceiling on the candidate's mean ASR word error rate (pocketsphinx is a weak ASR)."""

    max_rtf: float = Field(default=1.0, gt=0)
    """Ceiling on the candidate's mean real-time factor (synthesis seconds per audio second)."""

    max_ovrl_drop: float = Field(default=0.1, ge=0)
    """Largest allowed drop of mean DNSMOS OVRL below the baseline."""

    max_p808_drop: float = Field(default=0.15, ge=0)
    """Largest allowed drop of mean DNSMOS P.808 below the baseline."""

    max_wer_increase: float = Field(default=0.2, ge=0)
    """Largest allowed rise of mean WER over the baseline; wide, as pocketsphinx is a jumpy
    ASR: a slightly different voice (or another synthesis seed) moves its WER by ±0.06."""

    max_cer: float = Field(default=0.25, ge=0)
    """Ceiling on the candidate's mean character error rate on Mandarin sentences (Whisper
    base; good voices measure 0.00–0.05, a voice listeners reject 0.41)."""

    max_cer_increase: float = Field(default=0.1, ge=0)
    """Largest allowed rise of mean CER over the baseline on Mandarin sentences."""

    languages: list[str] = Field(default_factory=list)
    """Languages whose shipped sets the gate speaks (``en``, ``zh``); empty: the candidate's
    manifest ``languages``."""

    asr_timeout_s: float = Field(default=60.0, gt=0)
    """Longest one Whisper transcript may take before it counts as unintelligible."""

    references: list[Path] = Field(default_factory=list)
    """Reference voice clips (WAV/FLAC): the candidate speaks each sentence also with one of
    them (``reference=``), and the output's speaker similarity to it is judged."""

    min_similarity: float | None = Field(default=None, ge=-1, le=1)
    """Floor on the candidate's mean speaker similarity to the references (cosine); none
    by default, as what a voice reaches depends on the model (about 0.9 is the same person)."""

    max_similarity_drop: float = Field(default=0.05, ge=0)
    """Largest allowed drop of mean speaker similarity below the baseline's."""

    max_rtf_ratio: float = Field(default=1.5, ge=1)
    """Largest allowed candidate/baseline ratio of mean real-time factor."""

    max_duration_change: float = Field(default=0.25, ge=0)
    """Largest allowed relative change of total audio duration (0.25 = ±25%)."""

    max_bad_utterances: float = Field(default=0.1, ge=0, le=1)
    """Share of candidate utterances that may fail a signal sanity check."""

    max_failed_utterances: int = Field(default=0, ge=0)
    """Candidate utterances that may fail to synthesize at all."""

    min_utterances: int = Field(default=5, ge=1)
    """Fewest scored sentence pairs a verdict may rest on; fewer is inconclusive."""

    round_size: int = Field(default=10, ge=1)
    """Sentences scored per round; after each round every check is judged and the gate
    stops once the answer is known (a fail at any round, a pass once the core set is in)."""

    timing_sentences: int = Field(default=5, ge=0)
    """When the baseline's scores come from the cache, sentences it speaks again (synthesis
    only, alongside the candidate) so real-time factor is compared under today's load."""

    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    """Two-sided confidence of the bootstrap intervals."""

    bootstrap_resamples: int = Field(default=2000, ge=100)
    """Resamples of the paired bootstrap."""

    seed: int = 0
    """Seed of the bootstrap resampling."""

    synthesis_seed: int = 0
    """Seed of the synthesis noise: each sentence is spoken with a seed derived from this and
    its id, by candidate and baseline alike, so both hear the same noise and a repeat gate
    gives bit-identical audio (and the same scores)."""

    max_silence_s: float = Field(default=1.0, gt=0)
    """Longest leading or trailing silence an utterance may have."""

    max_pause_s: float = Field(default=1.5, gt=0)
    """Longest silence inside an utterance."""

    max_clipping: float = Field(default=0.001, ge=0, le=1)
    """Share of samples at full scale an utterance may have."""

    seconds_per_char: tuple[float, float] = (0.03, 0.2)
    """Plausible range of audio seconds per input character (English)."""

    seconds_per_char_zh: tuple[float, float] = (0.08, 0.6)
    """Plausible range of audio seconds per input character of a Mandarin sentence (a
    character is a syllable: Kokoro's voices measure 0.20–0.46 s, pauses included)."""

    loudness_lufs: tuple[float, float] = (-40.0, -8.0)
    """Plausible range of integrated loudness (LUFS)."""


class ContainerSettings(BaseModel):
    """Slot containers of the agent (section ``[agent.container]``)."""

    model_config = ConfigDict(extra="forbid")

    memory: str | None = "1g"
    """Memory limit of each slot container (``512m``, ``2g``); none when empty."""

    cpus: float | None = Field(default=None, gt=0)
    """CPUs each slot container may use; no limit when unset."""

    gpus: int = Field(default=0, ge=0)
    """GPUs requested for each slot container (Docker device requests); 0 for none."""

    docker_host: str | None = None
    """Docker Engine API URL; default ``DOCKER_HOST``, else a podman service the agent starts."""

    env: dict[str, str] = Field(default_factory=dict)
    """Environment of each slot container, e.g. ``TTSOPS_STORE_URL`` for store images."""

    volumes: list[str] = Field(default_factory=list)
    """Bind mounts of each slot container, ``HOST:CONTAINER[:ro]``."""

    network: str | None = None
    """Network mode of each slot container; default the engine's bridge. With podman,
    ``slirp4netns:allow_host_loopback=true`` lets a container reach the host's loopback
    services (a store on 127.0.0.1) at 10.0.2.2; the slot's port is published either way."""


class AgentSettings(BaseModel):
    """The deployment agent of a host (section ``[agent]``)."""

    model_config = ConfigDict(extra="forbid")

    state_dir: Path | None = None
    """Slots, router config and logs; default ``$TTSOPS_HOME/agent``."""

    host: str = "127.0.0.1"
    """Address the management API binds to."""

    port: int = Field(default=6007, ge=0, le=65535)
    """Port of the management API."""

    public_port: int = Field(default=6006, ge=1, le=65535)
    """Port the router (nginx) serves users on."""

    public_host: str = "127.0.0.1"
    """Address the router listens on; 0.0.0.0 for all."""

    start_timeout_s: float = Field(default=120.0, gt=0)
    """How long a new slot may take to become ready before the deployment rolls back."""

    drain_timeout_s: float = Field(default=30.0, ge=0)
    """How long an old slot may finish requests in flight after SIGTERM before SIGKILL."""

    keep_previous_warm: bool = True
    """Keep the previous version's slot running so a rollback is a router switch."""

    token_file: Path | None = None
    """File holding the API's bearer token, when ``TTSOPS_TOKEN`` is not set."""

    serve_args: list[str] = Field(default_factory=list)
    """Extra arguments for every slot's ``ttsops serve`` (e.g. ``["--workers", "2"]``)."""

    log_max_bytes: int = Field(default=10_000_000, ge=4096)
    """Size at which a slot's log is rotated (one older copy is kept)."""

    min_free_disk_mb: int = Field(default=500, ge=0)
    """A deploy is refused when the state dir's disk has less free space than this."""

    runtime: Literal["process", "container"] = "process"
    """Slots as ``ttsops serve`` processes, or as containers of each version's image."""

    container: ContainerSettings = Field(default_factory=ContainerSettings)
    """Limits and engine of slot containers (``runtime = "container"``)."""


class CanarySettings(BaseModel):
    """Steps and analysis thresholds of the ``canary`` strategy (section ``[canary]``).

    At each step the canary slot gets ``steps[i]`` % of new requests for ``step_interval_s``;
    then its window is compared with the stable slot's over the same time. Probe syntheses
    keep both slots at ``min_requests`` and give the audio-quality check its samples.
    """

    model_config = ConfigDict(extra="forbid")

    steps: list[int] = Field(default_factory=lambda: [10, 50, 100], min_length=1)
    """Canary traffic share (%) of each step, rising, ending at 100."""

    step_interval_s: float = Field(default=30.0, gt=0)
    """Seconds of traffic each step's analysis looks at."""

    watch_s: float = Field(default=60.0, ge=0)
    """After promotion to 100%: seconds during which a regression still rolls back."""

    min_requests: int = Field(default=5, ge=1)
    """Requests each slot must have answered in a window to judge errors and latency;
    probe syntheses make up the difference when real traffic is thinner."""

    probes_per_window: int = Field(default=4, ge=0)
    """Probe syntheses sent to each slot per window and scored with DNSMOS."""

    min_scored: int = Field(default=3, ge=1)
    """Fewest DNSMOS-scored probes per slot for the audio-quality check; fewer is
    inconclusive."""

    max_error_rate: float = Field(default=0.02, ge=0, le=1)
    """Largest share of the canary's requests that may fail (HTTP 5xx)."""

    max_error_rate_increase: float = Field(default=0.01, ge=0, le=1)
    """Largest rise of the canary's error rate over the stable slot's."""

    max_latency_ratio: float = Field(default=1.5, ge=1)
    """Largest canary/stable ratio of request latency p95."""

    min_latency_slack_s: float = Field(default=0.25, ge=0)
    """p95 differences smaller than this never fail (noise on a busy host)."""

    max_ovrl_drop: float = Field(default=0.3, ge=0)
    """Largest drop of mean DNSMOS OVRL of canary probes below the stable slot's."""

    failure_limits: dict[str, int] = Field(
        default_factory=lambda: {"error_rate": 0, "latency_p95": 1, "audio_quality": 1}
    )
    """Failed analyses a metric may have before the canary rolls back (a failed window
    within the limit is repeated); metrics not named get 0."""

    inconclusive_limit: int = Field(default=3, ge=0)
    """Inconclusive analyses in a row before the canary rolls back: missing data is
    never a pass."""

    error_limit: int = Field(default=3, ge=0)
    """Analyses in a row that could not gather data (error) before the canary rolls back."""

    @field_validator("steps")
    @classmethod
    def _rising_to_100(cls, steps: list[int]) -> list[int]:
        if any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)) or steps[-1] != 100:
            raise ValueError(f"steps must rise strictly within 1..100 and end at 100, got {steps}")
        return steps


class PatrolSettings(BaseModel):
    """The agent's patrol of the live service, and its alerts (section ``[patrol]``)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    """Probe the live service through the router on a schedule."""

    interval_s: float = Field(default=30.0, gt=0)
    """Seconds between probes."""

    timeout_s: float = Field(default=30.0, gt=0)
    """Longest a probe synthesis may take before it counts as a failure."""

    failures: int = Field(default=3, ge=1)
    """Consecutive failed probes that raise an alert and start healing."""

    text: str = "This is a patrol check of the live voice."
    """What the probe synthesizes."""

    webhook_url: str | None = None
    """Alerts are POSTed here as JSON (version, host, reason); none when unset."""

    recent_s: float = Field(default=900.0, ge=0)
    """A version live for less than this is rolled back to the previous stable one
    instead of restarted."""


class TargetSettings(BaseModel):
    """A deployment target of ``ttsops release`` (section ``[targets.<name>]``)."""

    model_config = ConfigDict(extra="forbid")

    agent_url: str = "http://127.0.0.1:6007"
    """The target's agent management API."""

    token_env: str = "TTSOPS_TOKEN"  # noqa: S105 - the name of a variable, not a secret
    """Environment variable holding the target agent's bearer token."""

    token_file: Path | None = None
    """File holding the token, when the environment variable is not set."""


class Settings(BaseModel):
    """Everything ttsops reads from its config file and environment."""

    model_config = ConfigDict(extra="forbid")

    home: Path = Field(default_factory=lambda: Path("~/.ttsops").expanduser())
    """State dir: artifact store, ledger, caches, agent state."""

    store_url: str | None = None
    """Artifact store URL (``file://…`` or ``s3://…``); default under ``home``."""

    ledger_url: str | None = None
    """SQLAlchemy URL of the ledger; default a SQLite file under ``home``."""

    s3_endpoint_url: str | None = None
    """Endpoint of an S3-compatible store (MinIO); also read from ``AWS_ENDPOINT_URL``."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    """Limits of ``ttsops serve``."""

    gate: GateSettings = Field(default_factory=GateSettings)
    """Evaluation set and thresholds of ``ttsops gate``."""

    agent: AgentSettings = Field(default_factory=AgentSettings)
    """The deployment agent."""

    canary: CanarySettings = Field(default_factory=CanarySettings)
    """Steps and thresholds of canary deployments."""

    patrol: PatrolSettings = Field(default_factory=PatrolSettings)
    """The agent's patrol and alerts."""

    targets: dict[str, TargetSettings] = Field(default_factory=dict)
    """Deployment targets of ``ttsops release`` by name (``staging``, ``production``…);
    a target not named here uses ``agent_url`` and ``TTSOPS_TOKEN``."""

    agent_url: str = "http://127.0.0.1:6007"
    """Where the CLI finds the agent's management API."""

    token: str | None = Field(default=None, repr=False)
    """Bearer token of the agent's API (``TTSOPS_TOKEN``)."""

    containers_dir: Path | None = None
    """Container caches: base image, wheels, podman's storage and config
    (``TTSOPS_CONTAINERS_DIR``); default ``$XDG_CACHE_HOME/ttsops/containers``."""

    docker_host: str | None = None
    """Docker Engine API the container engine is reached at (``DOCKER_HOST``); unset: a
    ``docker`` whose daemon answers, else podman."""

    @property
    def resolved_store_url(self) -> str:
        """The artifact store URL, defaulted under ``home``."""
        return self.store_url or (self.home / "store").resolve().as_uri()

    @property
    def resolved_ledger_url(self) -> str:
        """The ledger's SQLAlchemy URL, defaulted to SQLite under ``home``."""
        return self.ledger_url or f"sqlite:///{(self.home / 'ledger.db').resolve()}"

    @property
    def cache_dir(self) -> Path:
        """Where fetched bundles are materialised."""
        return self.home / "cache"

    @property
    def agent_state_dir(self) -> Path:
        """The agent's state dir, defaulted under ``home``."""
        return (self.agent.state_dir or self.home / "agent").expanduser()


_ENV_KEYS = {
    "TTSOPS_HOME": "home",
    "TTSOPS_STORE_URL": "store_url",
    "TTSOPS_LEDGER_URL": "ledger_url",
    "AWS_ENDPOINT_URL": "s3_endpoint_url",
    "TTSOPS_AGENT_URL": "agent_url",
    "TTSOPS_TOKEN": "token",
    "TTSOPS_CONTAINERS_DIR": "containers_dir",
    "DOCKER_HOST": "docker_host",
}
_SERVER_ENV_KEYS = {"TTSOPS_IMAGE": "image", "TTSOPS_IMAGE_ID": "image_id"}


def load_settings(
    config_path: Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read settings from the config file and the environment."""
    env = os.environ if env is None else env
    path = config_path or (Path(env["TTSOPS_CONFIG"]) if env.get("TTSOPS_CONFIG") else None)
    if path is None and Path("ttsops.toml").is_file():
        path = Path("ttsops.toml")
    data: dict[str, object] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(
                f"config file {path} does not exist; create it or unset TTSOPS_CONFIG"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for key, field in _ENV_KEYS.items():
        if env.get(key):
            data[field] = env[key]
    for key, field in _SERVER_ENV_KEYS.items():
        if env.get(key):
            server = data.setdefault("server", {})
            if isinstance(server, dict):
                server[field] = env[key]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        where = f"config file {path}" if path else "environment"
        problems = validation_problems(exc, "settings")
        raise ConfigError(f"{where} is invalid: {problems}") from None
    settings.home = settings.home.expanduser()
    cache = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    containers_dir = settings.containers_dir or cache / "ttsops" / "containers"
    settings.containers_dir = containers_dir.expanduser()
    container = settings.agent.container
    container.docker_host = container.docker_host or settings.docker_host
    voices_dir = settings.server.voices_dir or settings.home / "voices"
    settings.server.voices_dir = voices_dir.expanduser()
    return settings
