"""Pieces the Kafka benchmarks share: settings, worker processes, polling, py-spy, RSS."""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any

from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

from segflow.models.config import EngineConfig
from segflow.models.events import Event
from segflow.models.features import CLUSTER_FEATURES
from segflow.sources.simulator import SimulationConfig, iter_events
from segflow.streams.broker import LocalBroker, free_port
from segflow.streams.demo import WorkerProcess, fetch_stats, processed
from segflow.streams.producer import kafka_producer, produce_events
from segflow.streams.setting_groups import TopicNames
from segflow.streams.settings import Settings

WAIT_S = 900.0
ROOT = Path(__file__).resolve().parents[1]
PY_SPY = shutil.which(
    "py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
)
#: A year of lateness: pre-produced backlogs drain the four input topics unevenly.
BENCH_ENGINE = EngineConfig(max_lateness_hours=24 * 365.0)


def settings_for(
    broker: str, data_dir: Path, tag: str, *, single_record_batches: bool = False
) -> Settings:
    """Own topics and consumer group per run, short session timeouts (Tansu), ``BENCH_ENGINE``.

    ``single_record_batches`` stays off unless asked for: it only makes table recovery
    exact after a failover on Tansu, and it throttles every producer of the worker.
    """
    topics = TopicNames(**{k: f"b{tag}-{v}" for k, v in TopicNames().model_dump().items()})
    return Settings(
        broker=broker,
        app_id=f"b{tag}",
        topics=topics,
        data_dir=data_dir,
        partitions=4,
        session_timeout_s=6.0,
        heartbeat_interval_s=1.0,
        single_record_batches=single_record_batches,
        web_port=0,
        engine=BENCH_ENGINE,
    )


def produce_bulk(settings: Settings, events: Iterable[Event]) -> None:
    """Send ``events`` to the input topics as fast as possible (linger 20 ms, 256 KiB
    batches)."""
    producer = kafka_producer(settings, linger_ms=20, batch_size=256 * 1024)
    try:
        produce_events(settings, events, producer=producer)
    finally:
        producer.close()


def split_simulation(config: SimulationConfig, days: float) -> tuple[list[Event], Iterator[Event]]:
    """The simulation's events of its first ``days``, and an iterator over the rest."""
    return take_until(iter_events(config), config.start + timedelta(days=days))


def take_until(events: Iterator[Event], cutoff: datetime) -> tuple[list[Event], Iterator[Event]]:
    """The events of ``events`` (in time order) before ``cutoff``, and an iterator over
    the rest."""
    head: list[Event] = []
    for event in events:
        if event.occurred_at >= cutoff:
            return head, chain([event], events)
        head.append(event)
    return head, iter(())


def bootstrap(stack: contextlib.ExitStack, broker: str | None) -> str:
    """``broker`` if given, else a local Tansu that ``stack`` stops."""
    return broker or stack.enter_context(LocalBroker()).bootstrap


def start_worker(settings: Settings, workdir: Path, name: str) -> tuple[WorkerProcess, int]:
    """A ``segflow worker`` process with its own web port, data directory and log."""
    port = free_port()
    update = {"web_port": port, "data_dir": workdir / name}
    worker = WorkerProcess(settings.model_copy(update=update), workdir / f"{name}.log")
    worker.start()
    return worker, port


def wait_until(
    ready: Callable[[], bool],
    workers: Sequence[WorkerProcess],
    what: str,
    timeout: float = WAIT_S,
    every: float = 0.1,
) -> float:
    """Poll ``ready`` every ``every`` seconds; the monotonic time it held. RuntimeError if
    a worker dies or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return time.monotonic()
        for worker in workers:
            if not worker.alive():
                raise RuntimeError(f"a worker died while waiting for {what}: {worker.log_tail()}")
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def poll_processed(
    ports: Sequence[int],
    target: int,
    workers: Sequence[WorkerProcess],
    on_first: Callable[[], None] | None = None,
    timeout: float = WAIT_S,
    every: float = 0.1,
) -> list[tuple[float, int]]:
    """Poll the workers' stats every ``every`` seconds until together they processed
    ``target`` events (a stats request costs a worker about a millisecond of CPU).

    Returns (monotonic time, events processed) at every poll from the first poll that
    saw any event; ``on_first`` is called at that poll.
    """
    trace: list[tuple[float, int]] = []

    def done() -> bool:
        count = sum(processed(fetch_stats(port)) for port in ports)
        if count or trace:
            if not trace and on_first is not None:
                on_first()
            trace.append((time.monotonic(), count))
        return count >= target

    wait_until(done, workers, f"{target:,} processed events", timeout, every)
    return trace


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process and its waited-for children (/proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's resident set (``VmRSS``) or its peak (``VmHWM``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def start_py_spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` at 50 Hz into ``out`` (raw collapsed stacks) until stopped."""
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


def stop_py_spy(spy: subprocess.Popen[bytes], out: Path) -> collections.Counter[tuple[str, ...]]:
    """Stop py-spy; the samples it wrote, by stack (outermost frame first)."""
    spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
    with contextlib.suppress(subprocess.TimeoutExpired):
        spy.wait(timeout=30)
    stacks: collections.Counter[tuple[str, ...]] = collections.Counter()
    if out.exists():
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def own_time_top(stacks: collections.Counter[tuple[str, ...]], n: int = 12) -> list[dict[str, Any]]:
    """The ``n`` frames with the largest own-time share of the samples."""
    own: collections.Counter[str] = collections.Counter()
    for stack, count in stacks.items():
        own[stack[-1]] += count
    total = sum(own.values()) or 1
    top = own.most_common(n)
    return [{"function": name, "share": round(count / total, 3)} for name, count in top]


def inclusive_share(stacks: collections.Counter[tuple[str, ...]], function: str) -> float:
    """Share of the samples with ``function`` (``name`` or ``Class.name``) on the stack."""

    def named(frame: str) -> bool:
        name = frame.split(" (", 1)[0]
        return name == function or name.endswith(f".{function}")

    total = sum(stacks.values())
    inside = sum(count for stack, count in stacks.items() if any(map(named, stack)))
    return round(inside / total, 3) if total else 0.0


def batch_kmeans(final: Sequence[Mapping[str, float]], k: int, seed: int) -> list[int]:
    """scikit-learn k-means labels of the standardized clustering views ``final``."""
    matrix = StandardScaler().fit_transform([[x[f] for f in CLUSTER_FEATURES] for x in final])
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(matrix)
    return [int(label) for label in labels]


def read_topic(settings: Settings, topic: str, idle_s: float = 2.0) -> list[Any]:
    """Every record of ``topic`` (all partitions, from the beginning, no group), read
    until nothing new arrives for ``idle_s``."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        last = time.monotonic()
        while time.monotonic() - last < idle_s:
            for batch in consumer.poll(timeout_ms=200, max_records=10_000).values():
                records.extend(batch)
                last = time.monotonic()
        return records
    finally:
        consumer.close()
