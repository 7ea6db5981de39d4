"""Fixtures of the streaming tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kafkatest import WorkerProc

from segflow.streams.settings import Settings


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[Settings], WorkerProc]]:
    """Start ``segflow worker`` processes; all are stopped (by PID) after the test.

    On failure, the tail of each worker's log is printed (pytest shows it).
    """
    started: list[WorkerProc] = []

    def start(settings: Settings) -> WorkerProc:
        worker = WorkerProc(settings, tmp_path / f"worker-{len(started)}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    for i, worker in enumerate(started):
        print(f"--- worker {i} log tail ---\n{worker.log_tail()}")
