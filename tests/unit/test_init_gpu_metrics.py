"""GPU gauges of `ttsops serve` through NVML, tested at the seam: no GPU exists here.

This machine has no NVIDIA GPU and no libnvidia-ml, so the real library cannot load; a fake
NVML (and a fake C library behind the ctypes layer) stands in for the driver.
"""

from __future__ import annotations

import ctypes
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ttsops.server.gpu import (
    GPU_METRICS,
    GpuSample,
    _CtypesNvml,
    load_nvml,
    register_gpu_metrics,
)
from ttsops.server.metrics import ServerMetrics


class _FakeNvml:
    """Two GPUs as NVML would report them."""

    def samples(self) -> list[GpuSample]:
        return [
            GpuSample(0, "NVIDIA H100", 0.42, 0.1, 3 * 2**30, 80 * 2**30),
            GpuSample(1, "NVIDIA H100", 0.0, 0.0, 2**20, 80 * 2**30),
        ]


class _BrokenNvml:
    """NVML that fails (a GPU fell off the bus)."""

    def samples(self) -> list[GpuSample]:
        raise OSError("nvmlDeviceGetCount_v2 returned NVML error 15")


def _scrape(registry: CollectorRegistry) -> dict[str, list[Any]]:
    text = generate_latest(registry).decode()
    found: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        found.setdefault(family.name, []).extend(family.samples)
    return found


def test_without_a_gpu_there_are_no_gpu_series() -> None:
    """No NVML here: nothing registered, and a replica's /metrics has no ttsops_gpu_*."""
    assert load_nvml() is None
    assert not register_gpu_metrics(CollectorRegistry())
    text = ServerMetrics().render().decode()
    assert "ttsops_gpu_" not in text


def test_with_a_gpu_each_one_gets_its_gauges() -> None:
    """Utilisation (0-1) and memory (bytes) per GPU, labelled with its index and name."""
    registry = CollectorRegistry()
    assert register_gpu_metrics(registry, nvml=_FakeNvml())
    found = _scrape(registry)
    assert set(GPU_METRICS) <= set(found)
    util = {s.labels["gpu"]: s.value for s in found["ttsops_gpu_utilization_ratio"]}
    assert util == {"0": 0.42, "1": 0.0}
    used = found["ttsops_gpu_memory_used_bytes"][0]
    assert used.labels == {"gpu": "0", "name": "NVIDIA H100"}
    assert used.value == 3 * 2**30


def test_a_failing_nvml_keeps_metrics_answering() -> None:
    """An NVML error at scrape time gives empty GPU families, never a failed /metrics."""
    registry = CollectorRegistry()
    register_gpu_metrics(registry, nvml=_BrokenNvml())
    found = _scrape(registry)
    assert all(found.get(name, []) == [] for name in GPU_METRICS)


class _FakeLib:
    """The C functions of libnvidia-ml the ctypes layer calls, writing through its pointers."""

    def nvmlDeviceGetCount_v2(self, count: Any) -> int:  # noqa: N802 - the C names
        count._obj.value = 1
        return 0

    def nvmlDeviceGetHandleByIndex_v2(self, index: ctypes.c_uint, handle: Any) -> int:  # noqa: N802
        handle._obj.value = 0x1000 + index.value
        return 0

    def nvmlDeviceGetName(self, handle: Any, buf: Any, size: ctypes.c_uint) -> int:  # noqa: N802
        buf.value = b"NVIDIA L4"
        return 0

    def nvmlDeviceGetUtilizationRates(self, handle: Any, util: Any) -> int:  # noqa: N802
        util._obj.gpu, util._obj.memory = 73, 12
        return 0

    def nvmlDeviceGetMemoryInfo(self, handle: Any, mem: Any) -> int:  # noqa: N802
        mem._obj.total, mem._obj.free, mem._obj.used = 24 * 2**30, 20 * 2**30, 4 * 2**30
        return 0


def test_the_ctypes_layer_reads_nvmls_structures() -> None:
    """Counts, names, utilisation percent and memory bytes are read from NVML's out-pointers."""
    (sample,) = _CtypesNvml(_FakeLib()).samples()  # type: ignore[arg-type]
    assert sample == GpuSample(0, "NVIDIA L4", 0.73, 0.12, 4 * 2**30, 24 * 2**30)
