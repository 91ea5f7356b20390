"""GPU metrics of a replica through NVML, when an NVIDIA GPU and its driver are present.

NVML (``libnvidia-ml.so.1``, installed with the NVIDIA driver) is loaded with ctypes, so
no Python package is needed. Without the library, or when ``nvmlInit`` fails (no GPU, no
driver), nothing is registered and ``/metrics`` has no ``ttsops_gpu_*`` series at all.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

__all__ = ["GPU_METRICS", "GpuCollector", "GpuSample", "Nvml", "load_nvml", "register_gpu_metrics"]

log = logging.getLogger("ttsops.server")

GPU_METRICS = (
    "ttsops_gpu_utilization_ratio",
    "ttsops_gpu_memory_utilization_ratio",
    "ttsops_gpu_memory_used_bytes",
    "ttsops_gpu_memory_total_bytes",
)
"""The families the collector exports, each labelled ``gpu`` (index) and ``name``."""


@dataclass(frozen=True)
class GpuSample:
    """One GPU as NVML reports it now."""

    index: int
    name: str
    utilization: float
    """Share of the last sample period a kernel ran (0–1)."""
    memory_utilization: float
    """Share of the period device memory was read or written (0–1)."""
    memory_used: int
    """Bytes of device memory in use."""
    memory_total: int
    """Bytes of device memory."""


class Nvml(Protocol):
    """What the collector needs of NVML: the GPUs, sampled now."""

    def samples(self) -> list[GpuSample]:
        """Every GPU's utilisation and memory."""
        ...


class _Utilization(ctypes.Structure):
    _fields_ = [("gpu", ctypes.c_uint), ("memory", ctypes.c_uint)]  # noqa: RUF012 - ctypes


class _Memory(ctypes.Structure):
    _fields_ = [  # noqa: RUF012 - ctypes layout
        ("total", ctypes.c_ulonglong),
        ("free", ctypes.c_ulonglong),
        ("used", ctypes.c_ulonglong),
    ]


class _CtypesNvml:
    """NVML through ctypes (the C API of ``nvml.h``; 0 is NVML_SUCCESS)."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib

    def _call(self, name: str, *args: object) -> None:
        code = getattr(self.lib, name)(*args)
        if code != 0:
            raise OSError(f"{name} returned NVML error {code}")

    def samples(self) -> list[GpuSample]:
        """Every GPU's utilisation and memory."""
        count = ctypes.c_uint()
        self._call("nvmlDeviceGetCount_v2", ctypes.byref(count))
        found = []
        for index in range(count.value):
            handle = ctypes.c_void_p()
            self._call("nvmlDeviceGetHandleByIndex_v2", ctypes.c_uint(index), ctypes.byref(handle))
            name = ctypes.create_string_buffer(96)
            self._call("nvmlDeviceGetName", handle, name, ctypes.c_uint(96))
            util, mem = _Utilization(), _Memory()
            self._call("nvmlDeviceGetUtilizationRates", handle, ctypes.byref(util))
            self._call("nvmlDeviceGetMemoryInfo", handle, ctypes.byref(mem))
            found.append(
                GpuSample(
                    index=index,
                    name=name.value.decode(errors="replace"),
                    utilization=util.gpu / 100,
                    memory_utilization=util.memory / 100,
                    memory_used=int(mem.used),
                    memory_total=int(mem.total),
                )
            )
        return found


@cache
def load_nvml() -> Nvml | None:
    """NVML when the driver's library loads and initialises; None otherwise (no GPU)."""
    try:
        lib = ctypes.CDLL("libnvidia-ml.so.1")
        code = lib.nvmlInit_v2()
    except (OSError, AttributeError):
        return None
    if code != 0:
        log.info("NVML present but nvmlInit failed (error %d): no GPU metrics", code)
        return None
    return _CtypesNvml(lib)


class GpuCollector:
    """The ``ttsops_gpu_*`` gauges, sampled from NVML at each scrape."""

    def __init__(self, nvml: Nvml) -> None:
        self.nvml = nvml

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: sampling happens at scrape time only."""
        return []

    def collect(self) -> Iterator[Metric]:
        """One gauge family per value; a failed sample yields the families without samples."""
        labels = ["gpu", "name"]
        families = {
            "utilization": GaugeMetricFamily(
                GPU_METRICS[0], "Share of time a kernel ran on the GPU (0-1).", labels=labels
            ),
            "memory_utilization": GaugeMetricFamily(
                GPU_METRICS[1], "Share of time GPU memory was read or written (0-1).", labels=labels
            ),
            "memory_used": GaugeMetricFamily(
                GPU_METRICS[2], "GPU memory in use, bytes.", labels=labels
            ),
            "memory_total": GaugeMetricFamily(GPU_METRICS[3], "GPU memory, bytes.", labels=labels),
        }
        try:
            samples = self.nvml.samples()
        except OSError as exc:
            log.warning("GPU metrics: %s", exc)
            samples = []
        for sample in samples:
            key = [str(sample.index), sample.name]
            for attr, family in families.items():
                family.add_metric(key, float(getattr(sample, attr)))
        yield from families.values()


def register_gpu_metrics(registry: CollectorRegistry, nvml: Nvml | None = None) -> bool:
    """Add the GPU gauges to ``registry`` when NVML is there (or ``nvml`` is given)."""
    found = nvml if nvml is not None else load_nvml()
    if found is None:
        return False
    registry.register(GpuCollector(found))
    return True
