"""Batch synthesis: many tasks from JSONL to audio files, resumable and safe to kill."""

from __future__ import annotations

from ttsops.batch.client import Backend, BackendInfo, BundleBackend, HttpBackend, TaskError
from ttsops.batch.results import ResultRecord
from ttsops.batch.runner import BatchOptions, Reporter, default_concurrency, run_batch
from ttsops.batch.sinks import DirSink, Sink, ZipSink, open_sink
from ttsops.batch.speech_backend import ServiceInfo, SpeakerBackend
from ttsops.batch.summary import EXIT_FAILED, BatchSummary
from ttsops.batch.tasks import BadLine, Task, TaskDefaults, read_tasks

__all__ = [
    "EXIT_FAILED",
    "Backend",
    "BackendInfo",
    "BadLine",
    "BatchOptions",
    "BatchSummary",
    "BundleBackend",
    "DirSink",
    "HttpBackend",
    "Reporter",
    "ResultRecord",
    "ServiceInfo",
    "Sink",
    "SpeakerBackend",
    "Task",
    "TaskDefaults",
    "TaskError",
    "ZipSink",
    "default_concurrency",
    "open_sink",
    "read_tasks",
    "run_batch",
]
