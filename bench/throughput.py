"""Throughput: a do-nothing Faust agent against one and two segflow workers, in one run.

``python -m bench.throughput [--events N] [--broker HOST:PORT]`` pre-produces N simulator
events (default 200k, about 200-byte JSON each) into 4-partition input topics (a local
Tansu broker unless ``--broker``), then drains them with (a) a Faust agent that only
counts, default settings, (b) one segflow worker, (c) two segflow workers, each in its
own consumer group, and prints one JSON object::

    {"events": N, "faust_noop_eps": .., "segflow_eps": .., "segflow_2w_eps": ..,
     "ratio": segflow_eps / faust_noop_eps, "profile_top": [..]}

Rates count from the first event a consumer sees to the last, so group joins are left
out. ``profile_top`` is the top of a py-spy profile of the single segflow worker
(own-time share by function), when py-spy is installed.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from segflow.models.config import EngineConfig
from segflow.models.simulator import SimulationConfig, iter_events
from segflow.streams.broker import LocalBroker, free_port
from segflow.streams.demo import WorkerProcess, fetch_stats, processed
from segflow.streams.producer import kafka_producer, produce_events
from segflow.streams.settings import Settings, TopicNames
from segflow.streams.topics import create_topics

WAIT_S = 900.0
ROOT = Path(__file__).resolve().parents[1]
PY_SPY = shutil.which(
    "py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
)


def settings_for(broker: str, data_dir: Path, tag: str) -> Settings:
    """Own topics and consumer group per run; a year of lateness (topics drain unevenly)."""
    topics = TopicNames(**{k: f"b{tag}-{v}" for k, v in TopicNames().model_dump().items()})
    return Settings(
        broker=broker,
        app_id=f"b{tag}",
        topics=topics,
        data_dir=data_dir,
        partitions=4,
        session_timeout_s=6.0,
        heartbeat_interval_s=1.0,
        single_record_batches=os.environ.get("SRB", "1") == "1",
        web_port=0,
        engine=EngineConfig(max_lateness_hours=24 * 365.0),
    )


def preproduce(settings: Settings, n: int) -> None:
    config = SimulationConfig(customers=max(1_000, n // 40), days=60.0, seed=7)
    producer = kafka_producer(settings, linger_ms=20, batch_size=256 * 1024)
    produce_events(settings, islice(iter_events(config), n), producer=producer)
    producer.close()


def run_noop(settings: Settings, n: int, workdir: Path) -> float:
    out = workdir / f"noop-{uuid.uuid4().hex[:6]}.json"
    topics = list(settings.topics.inputs().values())
    log = (workdir / "noop.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.noop_worker",
            settings.bootstrap_servers,
            f"noop-{uuid.uuid4().hex[:6]}",
            str(n),
            str(out),
            *topics,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + WAIT_S
        while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if not out.exists():
            tail = (workdir / "noop.log").read_text(errors="replace")[-600:]
            raise RuntimeError(f"the no-op worker did not finish (exit {proc.poll()}): {tail}")
        times = orjson.loads(out.read_bytes())
        return n / max(times["last"] - times["first"], 1e-9)
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        log.close()


def run_segflow(
    base: Settings, n: int, workers: int, workdir: Path, profile: bool = False
) -> tuple[float, list[dict[str, Any]]]:
    group = f"{base.app_id}-{workers}w-{uuid.uuid4().hex[:4]}"
    procs = []
    ports = []
    for i in range(workers):
        port = free_port()
        settings = base.model_copy(
            update={"app_id": group, "web_port": port, "data_dir": workdir / f"{group}-{i}"}
        )
        worker = WorkerProcess(settings, workdir / f"{group}-{i}.log")
        worker.start()
        procs.append(worker)
        ports.append(port)
    spy = None
    try:
        first = last = None
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            done = sum(processed(fetch_stats(port)) for port in ports)
            now = time.monotonic()
            if done and first is None:
                first = now
                if profile and PY_SPY and procs[0].proc is not None:
                    spy = start_py_spy(procs[0].proc.pid, workdir / "profile.txt")
            if done >= n:
                last = now
                break
            if not all(w.alive() for w in procs):
                raise RuntimeError(f"a worker died: {procs[0].log_tail()}")
            time.sleep(0.1)
        if first is None or last is None:
            raise RuntimeError("the segflow workers did not drain the events in time")
        top = stop_py_spy(spy, workdir / "profile.txt") if spy else []
        return n / max(last - first, 1e-9), top
    finally:
        for worker in procs:
            worker.stop()


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            "50",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_py_spy(spy: subprocess.Popen[bytes], out: Path) -> list[dict[str, Any]]:
    spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
    with contextlib.suppress(subprocess.TimeoutExpired):
        spy.wait(timeout=30)
    if not out.exists():
        return []
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or not count.isdigit():
            continue
        own[frames[-1]] += int(count)
        total += int(count)
    return [
        {"function": name, "share": round(count / total, 3)} for name, count in own.most_common(12)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--broker", default=None, help="HOST:PORT (default: a local Tansu)")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="segflow-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        broker = args.broker or stack.enter_context(LocalBroker()).bootstrap
        settings = settings_for(broker, workdir, uuid.uuid4().hex[:6])
        create_topics(settings)
        preproduce(settings, args.events)
        noop = run_noop(settings, args.events, workdir)
        one, top = run_segflow(settings, args.events, 1, workdir, profile=True)
        two, _ = run_segflow(settings, args.events, 2, workdir)
    print(
        json.dumps(
            {
                "events": args.events,
                "faust_noop_eps": round(noop),
                "segflow_eps": round(one),
                "segflow_2w_eps": round(two),
                "ratio": round(one / noop, 3),
                "profile_top": top,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
