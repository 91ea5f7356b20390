"""What a Kubernetes render says: one frozen value, checked before anything is rendered."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ttsops.errors import KubernetesError

__all__ = ["ANALYSIS_PORT", "PORT", "K8sOptions", "ModelMode"]

ModelMode = Literal["baked", "store"]
"""``baked``: the bundle is in the image; ``store``: the container fetches it at start."""

PORT = 6006
"""The port ``ttsops serve`` listens on inside the image (``EXPOSE 6006``)."""

ANALYSIS_PORT = 8080
"""The port of ``ttsops analysis serve`` in the cluster."""

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._:/@-]*$", re.IGNORECASE)
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$", re.IGNORECASE)


@dataclass(frozen=True)
class K8sOptions:
    """Everything the manifests of one version say; ``check`` refuses what a cluster would."""

    name: str
    """Name of the app's objects (a DNS label, e.g. ``joe``); Services add ``-canary``…"""

    version: str
    """The version served (``app.kubernetes.io/version``; a store image's ``TTSOPS_VERSION``)."""

    image: str
    """The container image, ``REPO:TAG`` (or ``REPO@sha256:…``)."""

    model: ModelMode = "baked"
    """``baked`` or ``store`` (then ``store_url`` and ``ledger_url`` are required)."""

    namespace: str = "default"
    """Namespace of every object."""

    replicas: int = 2
    """Pods at start; the HorizontalPodAutoscaler's minimum."""

    max_replicas: int = 6
    """The HorizontalPodAutoscaler's maximum."""

    gpu: int = 0
    """``nvidia.com/gpu`` per pod; 0 for none."""

    cpu: str = "1"
    """CPU request per pod (also what ``[server] workers`` is sized from)."""

    memory: str = "1Gi"
    """Memory request per pod."""

    memory_limit: str = "2Gi"
    """Memory limit per pod (a pod above it is killed and restarted)."""

    workers: int = 1
    """``[server] workers``: syntheses at once per pod (the node's cores are not the pod's)."""

    rollouts: bool = False
    """An Argo Rollouts ``Rollout`` (canary 10 → 50 → 100, nginx) instead of a Deployment."""

    steps: tuple[int, ...] = (10, 50, 100)
    """Canary weights (%) of the Rollout, each followed by an analysis."""

    host: str | None = None
    """Ingress host; None: an Ingress only with ``rollouts`` (then for every host)."""

    ingress_class: str = "nginx"
    """``ingressClassName`` of the Ingress (Argo's nginx traffic routing needs ingress-nginx)."""

    store_url: str | None = None
    """``TTSOPS_STORE_URL`` of a store image (``s3://…``)."""

    ledger_url: str | None = None
    """``TTSOPS_LEDGER_URL`` of a store image (``postgresql://…``), where digests are read."""

    env_secret: str | None = None
    """A Secret whose keys become environment variables (store credentials, ``AWS_*``)."""

    image_id: str | None = None
    """The image's content id as the registry recorded it (``TTSOPS_IMAGE_ID``), if known."""

    analysis_image: str | None = None
    """Image of ``ttsops analysis serve`` (needs ``ttsops[gate]``); default ``image``."""

    analysis_interval_s: int = 30
    """Seconds between the analysis measurements of one step."""

    start_budget_s: int = 0
    """Seconds a pod may take to start (fetch, load, warm-up); 0: 120 baked, 300 store."""

    @property
    def startup_s(self) -> int:
        """The startupProbe's budget in seconds."""
        return self.start_budget_s or (300 if self.model == "store" else 120)

    @property
    def version_label(self) -> str:
        """The version as a label value: ``+`` of a dev version's build part becomes ``_``."""
        text = re.sub(r"[^A-Za-z0-9_.-]", "_", self.version)[:63]
        return text.strip("_.-") or "unknown"

    @property
    def analysis_image_ref(self) -> str:
        """The analysis service's image."""
        return self.analysis_image or self.image

    def check(self) -> K8sOptions:
        """Refuse what would render invalid YAML or what a cluster would reject; returns self."""
        self._check_names()
        self._check_model()
        self._check_sizes()
        return self

    def _check_names(self) -> None:
        for what, value in (("name", self.name), ("namespace", self.namespace)):
            if len(value) > 52 or not _LABEL.match(value):
                raise KubernetesError(
                    f"{what} {value!r} is not a DNS label: use at most 52 lowercase letters, "
                    "digits and '-', starting and ending with a letter or digit"
                )
        for what, value in (("image", self.image), ("analysis image", self.analysis_image_ref)):
            if not _IMAGE.match(value) or value.endswith((":", "/", "@")):
                raise KubernetesError(
                    f"{what} {value!r} is not an image reference; give REPO:TAG, "
                    "e.g. registry.example.com/tts/joe:1.0.0"
                )
        if not self.version or any(c in self.version for c in '"\n\\'):
            raise KubernetesError(f"version {self.version!r} is not a version such as 1.0.0")
        if self.host is not None and (len(self.host) > 253 or not _HOST.match(self.host)):
            raise KubernetesError(
                f"--host {self.host!r} is not a host name such as tts.example.com"
            )
        if self.env_secret is not None and not _LABEL.match(self.env_secret):
            raise KubernetesError(f"--env-secret {self.env_secret!r} is not a Secret name")
        if not _LABEL.match(self.ingress_class):
            raise KubernetesError(f"ingress class {self.ingress_class!r} is not a DNS label")

    def _check_model(self) -> None:
        if self.model not in ("baked", "store"):
            raise KubernetesError(f"--model is baked or store, not {self.model!r}")
        for what, url in (("--store-url", self.store_url), ("--ledger-url", self.ledger_url)):
            if self.model == "store" and not url:
                raise KubernetesError(
                    f"--model store needs {what}: the container fetches {self.version} "
                    "from the artifact store and reads its digests from the ledger at start"
                )
            if url is not None and not _URL.match(url):
                raise KubernetesError(f"{what} {url!r} is not a URL such as s3://bucket/ttsops")

    def _check_sizes(self) -> None:
        if not 1 <= self.replicas <= self.max_replicas:
            raise KubernetesError(
                f"--replicas {self.replicas} must be at least 1 and at most --max-replicas "
                f"{self.max_replicas}"
            )
        if self.gpu < 0 or self.workers < 1 or self.analysis_interval_s < 1:
            raise KubernetesError("--gpu must be 0 or more, --workers and the interval 1 or more")
        for what, value in (
            ("cpu", self.cpu),
            ("memory", self.memory),
            ("memory limit", self.memory_limit),
        ):
            if not _QUANTITY.match(value):
                raise KubernetesError(
                    f"{what} {value!r} is not a Kubernetes quantity such as 500m, 2, 1Gi"
                )
        steps = list(self.steps)
        if not steps or steps != sorted(set(steps)) or steps[0] < 1 or steps[-1] != 100:
            raise KubernetesError(f"canary steps {steps} must rise, each 1..100, ending at 100")
