"""A worker whose broker goes away tells the truth on ``/healthz``, stops on SIGTERM in
bounded time, and exits non-zero, with one-line logs, when its topics are gone.

Each test runs its own broker (Tansu, memory storage) on a fixed port, so that stopping
it does not disturb the other tests and a restart comes back at the same address
without any topic, as a broker whose storage was lost does.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from kafkatest import WorkerProc, isolated_settings, prepare, wait_until

from segflow.streams.broker import LocalBroker, free_port
from segflow.streams.health import HealthConfig

pytestmark = pytest.mark.kafka

QUICK = HealthConfig(probe_s=1.0, stale_s=3.0, topics_gone_s=4.0)


def health(port: int) -> tuple[int, dict[str, Any]]:
    """Status code and body of ``GET /healthz`` (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}


def says(port: int, status: int, problem: str) -> bool:
    code, body = health(port)
    return code == status and any(problem in p for p in body.get("problems", []))


def ready_worker(broker: LocalBroker, tmp_path: Path) -> WorkerProc:
    settings = isolated_settings(broker, tmp_path, health=QUICK)
    prepare(settings)
    worker = WorkerProc(settings, tmp_path / "worker.log").start()
    assert wait_until(lambda: health(worker.port)[0] == 200), worker.log_tail()
    return worker


def test_health_follows_the_broker_and_a_worker_without_its_topics_stops(
    tmp_path: Path,
) -> None:
    port = free_port()
    broker = LocalBroker(port=port, log_path=tmp_path / "tansu-1.log").start()
    worker: WorkerProc | None = None
    try:
        worker = ready_worker(broker, tmp_path)
        assert health(worker.port)[1]["problems"] == []
        broker.stop()  # the broker goes away ...
        assert wait_until(lambda: says(worker.port, 503, "has not answered")), worker.log_tail()
        assert health(worker.port)[1]["status"] == "unhealthy"
        # ... and comes back empty: unready at once, then the worker stops, non-zero.
        broker = LocalBroker(port=port, log_path=tmp_path / "tansu-2.log").start()
        assert worker.proc is not None
        code = worker.proc.wait(timeout=60)
        assert code != 0
        log = worker.log_path.read_text(errors="replace")
        assert "the broker no longer has the topics" in log
        assert "stopping: the broker has not had the topics" in log
        assert "Traceback" not in log, worker.log_tail(80)
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()


def test_a_worker_stops_on_sigterm_in_bounded_time_while_its_broker_is_gone(
    tmp_path: Path,
) -> None:
    broker = LocalBroker(log_path=tmp_path / "tansu.log").start()
    worker: WorkerProc | None = None
    try:
        worker = ready_worker(broker, tmp_path)
        broker.stop()
        assert wait_until(lambda: says(worker.port, 503, "has not answered")), worker.log_tail()
        assert worker.proc is not None
        os.kill(worker.pid, signal.SIGTERM)
        worker.proc.wait(timeout=15)  # raises if the worker is still running
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()


def test_liveness_is_separate_from_readiness(tmp_path: Path) -> None:
    broker = LocalBroker(log_path=tmp_path / "tansu.log").start()
    worker: WorkerProc | None = None
    try:
        worker = ready_worker(broker, tmp_path)
        broker.stop()
        assert wait_until(lambda: health(worker.port)[0] == 503)
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/livez", timeout=2) as r:
            assert (r.status, json.loads(r.read())) == (200, {"status": "alive"})
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
