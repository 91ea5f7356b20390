"""Every error a user can hit, in one tree.

Each message says what was wrong, the value involved, and what to do. The CLI maps
any ``TtsopsError`` to exit code 1; the HTTP server maps it to its ``http_status``
with a JSON body ``{"error": {"type", "code", "message"}}``.

::

    TtsopsError
    ├── ConfigError                  settings file or environment is invalid
    ├── BundleError                  a bundle directory is not usable
    │   ├── ManifestError            bundle.toml missing, unparsable or invalid
    │   └── DigestMismatchError      a file's sha256 differs from the manifest
    ├── EngineError                  turning text into audio failed
    │   ├── EngineNotFoundError      no engine registered under that name
    │   ├── EngineLoadError          the model files could not be loaded
    │   └── SynthesisError           the model failed on an input
    ├── RequestError                 a client sent something we cannot serve (4xx)
    │   ├── InvalidInputError        empty text, bad speed, unknown voice/format (400)
    │   ├── InputTooLongError        text over the configured limit (413)
    │   ├── ReferenceNotSupportedError  this model cannot use a reference voice (400)
    │   ├── InvalidReferenceError    a reference clip is not usable audio (400; too big: 413)
    │   └── ReferenceNotFoundError   no registered reference voice with that id (404)
    ├── OverloadedError              queue full or draining: retry later (503)
    ├── RequestTimeoutError          synthesis took longer than the request timeout (504)
    ├── RegistryError                artifact store or ledger refused an operation
    │   ├── InvalidVersionError      a version is not a semantic version (400)
    │   ├── VersionNotFoundError     no such version in the ledger (404)
    │   ├── VersionConflictError     version already registered with another digest (409)
    │   ├── LedgerUnavailableError   the ledger database cannot be reached (503)
    │   └── StoreError               the artifact store failed a read or write
    │       ├── StoreUnavailableError    the store URL cannot be reached (503)
    │       └── CorruptBlobError         a stored blob's sha256 differs from its name
    ├── GateError                    the quality gate could not reach a verdict
    ├── RolloutError                 a deployment step failed
    │   ├── DeploymentBusyError      another deployment is in flight on the host (409)
    │   ├── DeploymentNotFoundError  no deployment with that id (404)
    │   ├── RolloutRefusedError      nothing to roll back to, already live, disk full (409)
    │   ├── IllegalTransitionError   a phase change the transition table refuses (409)
    │   └── RouterError              nginx is missing, refused its config, or did not switch
    ├── BatchError                   a batch could not run
    ├── ContainerError               no container engine, or a build, run or push failed
    ├── KubernetesError              manifests cannot be rendered from these options
    ├── InitError                    `ttsops init` would overwrite a file, or an option is unusable
    ├── AnalysisError                the analysis service cannot judge the services named (400)
    ├── ServiceError                 a service version (service.toml) is invalid or cannot start
    │   └── ServiceManifestError     service.toml missing, unparsable or invalid
    └── SpeechError                  a speech adapter got no usable audio from a service
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "AnalysisError",
    "BatchError",
    "BundleError",
    "ConfigError",
    "ContainerError",
    "CorruptBlobError",
    "DeploymentBusyError",
    "DeploymentNotFoundError",
    "DigestMismatchError",
    "EngineError",
    "EngineLoadError",
    "EngineNotFoundError",
    "GateError",
    "IllegalTransitionError",
    "InitError",
    "InputTooLongError",
    "InvalidInputError",
    "InvalidReferenceError",
    "InvalidVersionError",
    "KubernetesError",
    "LedgerUnavailableError",
    "ManifestError",
    "OverloadedError",
    "ReferenceNotFoundError",
    "ReferenceNotSupportedError",
    "RegistryError",
    "RequestError",
    "RequestTimeoutError",
    "RolloutError",
    "RolloutRefusedError",
    "RouterError",
    "ServiceError",
    "ServiceManifestError",
    "SpeechError",
    "StoreError",
    "StoreUnavailableError",
    "SynthesisError",
    "TtsopsError",
    "VersionConflictError",
    "VersionNotFoundError",
    "validation_problems",
]


def validation_problems(exc: ValidationError, whole: str) -> str:
    """Each problem pydantic found, as ``dotted.field: what is wrong``, joined by "; ".

    ``whole`` names what a problem of the whole document (no field) is about.
    """
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or whole}: {err['msg']}" for err in exc.errors()
    )


class TtsopsError(Exception):
    """Base of every error ttsops raises on purpose."""

    http_status: int = 500
    """Status the HTTP server answers with when this error reaches it."""

    code: str = "ttsops_error"
    """Stable machine-readable name, used in JSON error bodies."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(TtsopsError):
    """Settings file or environment variable is invalid."""

    code = "config_error"


class BundleError(TtsopsError):
    """A bundle directory is not usable."""

    code = "bundle_error"


class ManifestError(BundleError):
    """bundle.toml is missing, unparsable or invalid."""

    code = "manifest_error"


class DigestMismatchError(BundleError):
    """A file's sha256 differs from what the manifest records."""

    code = "digest_mismatch"


class EngineError(TtsopsError):
    """Turning text into audio failed."""

    code = "engine_error"


class EngineNotFoundError(EngineError):
    """No engine is registered under the requested name."""

    code = "engine_not_found"


class EngineLoadError(EngineError):
    """The model files could not be loaded."""

    code = "engine_load_error"


class SynthesisError(EngineError):
    """The model failed on an input."""

    code = "synthesis_error"


class RequestError(TtsopsError):
    """A client sent something the server cannot serve."""

    http_status = 400
    code = "invalid_request"


class InvalidInputError(RequestError):
    """Empty text, speed out of range, unknown voice or format."""

    http_status = 400
    code = "invalid_input"


class InputTooLongError(RequestError):
    """Text is longer than the configured limit."""

    http_status = 413
    code = "input_too_long"


class ReferenceNotSupportedError(RequestError):
    """The model cannot use a reference clip (it neither clones nor matches voices)."""

    http_status = 400
    code = "reference_not_supported"


class InvalidReferenceError(RequestError):
    """A reference clip is not audio, too short or long, silent, too low a rate, too big."""

    http_status = 400
    code = "invalid_reference"

    def __init__(self, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


class ReferenceNotFoundError(RequestError):
    """No reference voice is registered under that id."""

    http_status = 404
    code = "reference_not_found"


class OverloadedError(TtsopsError):
    """The inference queue is full or the server is draining; retry later."""

    http_status = 503
    code = "overloaded"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RequestTimeoutError(TtsopsError):
    """Synthesis took longer than the per-request timeout."""

    http_status = 504
    code = "timeout"


class RegistryError(TtsopsError):
    """The artifact store or the ledger refused an operation."""

    code = "registry_error"


class InvalidVersionError(RegistryError):
    """A version string is not a semantic version."""

    http_status = 400
    code = "invalid_version"


class VersionNotFoundError(RegistryError):
    """The ledger has no such version."""

    http_status = 404
    code = "version_not_found"


class VersionConflictError(RegistryError):
    """The version is already registered with a different digest; versions are immutable."""

    http_status = 409
    code = "version_conflict"


class LedgerUnavailableError(RegistryError):
    """The ledger database cannot be reached or opened."""

    http_status = 503
    code = "ledger_unavailable"


class StoreError(RegistryError):
    """The artifact store failed a read or a write."""

    code = "store_error"


class StoreUnavailableError(StoreError):
    """The artifact store URL cannot be reached or opened."""

    http_status = 503
    code = "store_unavailable"


class CorruptBlobError(StoreError):
    """A stored blob's sha256 differs from the digest it is stored under."""

    code = "corrupt_blob"


class GateError(TtsopsError):
    """The quality gate could not reach a verdict."""

    code = "gate_error"


class RolloutError(TtsopsError):
    """A deployment step failed."""

    code = "rollout_error"


class DeploymentBusyError(RolloutError):
    """Another deployment is in flight on this host; one at a time."""

    http_status = 409
    code = "deployment_in_progress"


class DeploymentNotFoundError(RolloutError):
    """No deployment has that id."""

    http_status = 404
    code = "deployment_not_found"


class RolloutRefusedError(RolloutError):
    """The host's state does not allow the operation now (the message says what to do)."""

    http_status = 409
    code = "rollout_refused"


class IllegalTransitionError(RolloutError):
    """A phase change the deployment's transition table does not allow."""

    http_status = 409
    code = "illegal_transition"


class RouterError(RolloutError):
    """nginx is missing, refused the rendered config, or did not serve the new routes."""

    code = "router_error"


class BatchError(TtsopsError):
    """A batch could not run."""

    code = "batch_error"


class ContainerError(TtsopsError):
    """No Docker-compatible engine was found, or an image build, run or push failed."""

    code = "container_error"


class KubernetesError(TtsopsError):
    """Kubernetes manifests cannot be rendered: a bad name, image, option or missing image."""

    http_status = 400
    code = "k8s_error"


class AnalysisError(TtsopsError):
    """The analysis service cannot judge a request: a service does not answer or is no TTS."""

    http_status = 400
    code = "analysis_error"


class InitError(TtsopsError):
    """`ttsops init` refused: a file it would write exists (without --force), or a bad option."""

    code = "init_error"


class ServiceError(TtsopsError):
    """A service version cannot be used: its command, image, port or files are wrong."""

    http_status = 400
    code = "service_error"


class ServiceManifestError(ServiceError):
    """``service.toml`` is missing, not TOML, or fails validation (each problem named)."""

    code = "service_manifest_error"


class SpeechError(TtsopsError):
    """A speech adapter got no usable audio from a service (refused, timed out, not audio)."""

    http_status = 502
    code = "speech_error"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        """Trying again may help: the service did not answer, was busy, or was restarting
        (a rollout between slots); not when it refused the input or answered no audio."""
