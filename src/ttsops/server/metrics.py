"""Prometheus metrics of one replica, in a registry of its own."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from ttsops.server.gpu import register_gpu_metrics

__all__ = ["ServerMetrics"]

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)
_RTF_BUCKETS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5)


class ServerMetrics:
    """Requests, latency, real-time factor, audio produced, queue and version info."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "ttsops_requests", "HTTP requests by route and status.", ["route", "status"], registry=r
        )
        self.latency = Histogram(
            "ttsops_request_duration_seconds",
            "Time from request to last byte, by route.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.first_audio = Histogram(
            "ttsops_time_to_first_audio_seconds",
            "Time from request to the first audio piece being ready.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rtf = Histogram(
            "ttsops_synthesis_rtf",
            "Real-time factor: synthesis seconds per audio second.",
            buckets=_RTF_BUCKETS,
            registry=r,
        )
        self.audio_seconds = Counter(
            "ttsops_audio_seconds", "Seconds of audio produced.", registry=r
        )
        self.input_chars = Counter(
            "ttsops_input_characters", "Characters of input synthesized.", registry=r
        )
        self.queue_depth = Gauge(
            "ttsops_queue_depth", "Admitted requests waiting for a worker.", registry=r
        )
        self.in_flight = Gauge("ttsops_in_flight", "Syntheses running now.", registry=r)
        self.ready = Gauge("ttsops_ready", "1 when the replica serves, else 0.", registry=r)
        self.cancelled = Counter(
            "ttsops_cancelled_requests", "Requests whose client left before the end.", registry=r
        )
        self.broken = Counter(
            "ttsops_broken_streams",
            "Speech answers that started (HTTP 200) and then broke off because synthesis "
            "failed on a later piece: the client got cut audio. Counted as errors by the "
            "canary analysis.",
            registry=r,
        )
        self.model = Info("ttsops_model", "The model this replica serves.", registry=r)
        self.gpu = register_gpu_metrics(r)
        """True when NVML found a GPU: ``ttsops_gpu_*`` gauges are exported."""

    def set_load(self, in_flight: int, queued: int) -> None:
        """Update the in-flight and queue gauges."""
        self.in_flight.set(in_flight)
        self.queue_depth.set(queued)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
