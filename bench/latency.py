"""Latency: from an event's send to the segment change it causes, at a steady offered rate.

``python -m bench.latency [--rate 1000] [--duration 60] [--broker HOST:PORT]`` runs one
segflow worker (default settings of the benchmarks, ``bench.common.settings_for``: 4
partitions, RocksDB store, ``single_record_batches`` off, which only makes table
recovery exact on Tansu and would throttle the worker's producer) against a local
Tansu broker unless ``--broker``, and prints one JSON object::

    {"rate": R, "p50_ms": .., "p99_ms": .., "max_ms": .., "worker_p50_ms_at_most": ..,
     "worker_p99_ms_at_most": .., "read_p50_ms_at_most": .., "read_p99_ms_at_most": ..,
     "changes": N,
     "events": sent in the steady phase, "sent_eps": achieved send rate,
     "backlog_s": .., "warmup_events": .., "settle_events": .., "warmup_s": ..}

Method. One simulation (``SimulationConfig(customers=max(1000, R*D/20), days=56,
seed=7)``, about 1.46 events per customer and day) is split in three:

1. Warm-up: its first ``WARMUP_DAYS`` (14) simulated days, about R*D events, are
   produced as fast as possible (linger 20 ms, 256 KiB batches) while the worker
   starts; we wait until the worker has processed them all and its model is ready
   with segments (``/segflow/stats/``), so the steady phase yields behavioral changes.
   Then the next ``SETTLE_DAYS`` (2) are produced the same way and processed: the
   worker reads the warm-up faster than the trainer learns it, so the model is ready
   only after it, and the customers' first assignments come at their next event or
   look, a burst of about one change per customer (measured in the steady phase, they
   were 1,138 of its 1,195 changes, all in its first 7 s, at up to 1.7 s). That burst
   happens once, when a model first becomes ready; the steady phase measures the rest.
2. Steady phase: the next R*D events of the same simulation are generated (before
   the clock starts), an aiokafka consumer of ``segment-changes`` is positioned at
   the topic's end offsets, then the events are sent at R events/s on a monotonic
   schedule (event i is due at start + i/R; no per-event sleep drift; a late sender
   catches up without sleeping) by an aiokafka producer with ``linger_ms=1``. The
   *send time* of an event is ``time.monotonic()`` taken just before its
   ``producer.send`` call (after the event is encoded), kept by ``event_id``. A
   change's *arrival time* is ``time.monotonic()`` when the consumer's ``getmany``
   hands back the batch holding it. Each change whose ``cause_event_id`` is a
   steady-phase event id gives one latency; sweep changes (no cause) and late
   warm-up changes match nothing.

After the last send we wait until the worker has processed every event
(``backlog_s`` is how long that took: near 0 when the worker keeps up with R, growing
with the duration when it does not) and the change stream has been quiet for
``QUIET_S``. Percentiles are nearest-rank over the matched changes (null when there
are none). ``worker_p50_ms_at_most`` / ``worker_p99_ms_at_most`` are the worker's own
part, from its agent reading the causing event to emitting the change: the upper bound
of the bucket of ``segflow_change_latency_from_ingest_seconds`` (read from its
``/metrics`` before and after the steady phase) holding that quantile, over every
change an event caused then. Their difference to ``p50_ms`` / ``p99_ms`` is the time
outside the worker's agent: the producer, the broker, the fetch and Faust's queue.
``read_p50_ms_at_most`` / ``read_p99_ms_at_most`` measure the first of those parts for
every steady-phase event, not only those that caused a change: the bucket bounds of
``segflow_record_age_at_read_seconds`` (the worker's read time minus the record's Kafka
timestamp, which the producer sets at the send). Tansu's in-memory storage gets slower
as a partition holds more batches (``python -m bench.broker_latency`` measures the
broker alone), so on Tansu this part grows with the run's length.
Producer and consumer share one asyncio loop in this process (aiokafka, not
kafka-python, whose pure-Python sender and CRC took half a core at 1000 events/s,
CPU the worker needs on a small machine). The consumer asks for ``fetch_max_wait_ms=10``:
Tansu does not answer a waiting fetch when data arrives (measured: +124 ms median
with 500 ms, +400 ms with 1500 ms), so a longer wait would add its own delay.
Simulated time runs about 14 days in D seconds; the inactivity sweep's work per event
does not depend on that compression (each customer is looked at about daily).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from segflow.models.events import Event, encode_event
from segflow.sources.simulator import SimulationConfig
from segflow.streams.demo import WorkerProcess, fetch_stats
from segflow.streams.metric_names import CHANGE_LATENCY_INGEST, RECORD_AGE
from segflow.streams.settings import Settings
from segflow.streams.topics import create_topics

from .common import (
    bootstrap,
    poll_processed,
    produce_bulk,
    settings_for,
    split_simulation,
    start_worker,
    take_until,
    wait_until,
)

WARMUP_DAYS = 14.0
#: Simulated days produced in bulk after the model is ready and before the clock starts:
#: the customers' first assignments (a burst of changes at the model's start) fall in them.
SETTLE_DAYS = 2.0
#: Days simulated in all: the steady phase needs about 14 of them (customers = R*D/20).
SIM_DAYS = 56.0
QUIET_S = 3.0


def model_ready(port: int) -> bool:
    """Whether the worker's model is ready and names at least one segment."""
    model = (fetch_stats(port) or {}).get("model", {})
    return bool(model.get("ready") and model.get("segments"))


@dataclass
class Steady:
    """What the steady phase measured."""

    latencies: list[float]
    sent: int
    send_s: float
    backlog_s: float


async def steady_phase(
    settings: Settings,
    events: list[Event],
    rate: float,
    port: int,
    worker: WorkerProcess,
    done: int,
) -> Steady:
    """Send ``events`` at ``rate``/s while consuming ``segment-changes`` from their end.

    One asyncio loop runs both clients (aiokafka: light on CPU, which the worker needs).
    ``done``: events the worker had processed before; returns once it has processed
    these too and the change stream has been quiet for ``QUIET_S``.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    servers = settings.bootstrap_servers.split(",")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=10
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks=1, linger_ms=1)
    await consumer.start()
    await producer.start()
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    last_arrival = time.monotonic()

    async def collect() -> None:
        nonlocal last_arrival
        while True:
            batches = await consumer.getmany(timeout_ms=100)
            now = time.monotonic()
            for records in batches.values():
                last_arrival = now
                for record in records:
                    cause = orjson.loads(record.value).get("cause_event_id")
                    if cause in sent_at:
                        latencies.append(now - sent_at[cause])

    collector: asyncio.Task[None] | None = None
    try:
        parts = [TopicPartition(settings.topics.changes, p) for p in range(settings.partitions)]
        consumer.assign(parts)
        await consumer.seek_to_end(*parts)
        for tp in parts:  # resolve the end offsets now, before the first send
            await consumer.position(tp)
        topics = settings.topics.inputs()
        for topic in topics.values():  # metadata before the clock starts
            await producer.partitions_for(topic)
        collector = asyncio.create_task(collect())
        start = time.monotonic()
        for i, event in enumerate(events):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            value = encode_event(event)
            sent_at[event.event_id] = time.monotonic()
            await producer.send(topics[event.kind], value, key=event.customer_id.encode())
        await producer.flush()
        last_send = time.monotonic()
        target = done + len(events)
        trace = await asyncio.to_thread(poll_processed, [port], target, [worker])
        deadline = time.monotonic() + 60.0
        while time.monotonic() - last_arrival < QUIET_S and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return Steady(latencies, len(events), last_send - start, trace[-1][0] - last_send)
    finally:
        if collector is not None:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector
        await producer.stop()
        await consumer.stop()


def produce_in_bulk(
    settings: Settings, events: list[Event], port: int, worker: WorkerProcess, done: int
) -> None:
    """Produce ``events`` as fast as possible; return once the worker has processed them
    (``done``: events it had processed before)."""
    produce_bulk(settings, events)
    poll_processed([port], done + len(events), [worker])


def worker_buckets(port: int) -> dict[str, dict[float, float]]:
    """The worker's histograms of its own part of the latency (from reading the causing
    event to emitting the change, ``segflow_change_latency_from_ingest_seconds``) and of
    the part before it (each input record's age when the worker read it,
    ``segflow_record_age_at_read_seconds``): per name, cumulative count per upper bound
    in seconds, summed over labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5.0) as r:
        text = r.read().decode()
    return {name: parse_buckets(text, name) for name in (CHANGE_LATENCY_INGEST, RECORD_AGE)}


def parse_buckets(text: str, name: str) -> dict[float, float]:
    """The buckets of histogram ``name`` in a Prometheus text exposition."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_bucket":
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def bucket_quantile_ms(
    before: dict[float, float], after: dict[float, float], q: float
) -> float | None:
    """The upper bound (ms) of the bucket holding quantile ``q`` of the observations
    made between two readings of :func:`worker_buckets` (None: none made)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return None
    target = q * counts[-1]
    bound = next(b for b, c in zip(bounds, counts, strict=True) if c >= target)
    return None if math.isinf(bound) else round(1000 * bound, 1)


def percentile_ms(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted seconds, in ms (None for no data)."""
    if not ordered:
        return None
    return round(1000 * ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s (default 1000)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--broker", default=None, help="HOST:PORT (default: a local Tansu)")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0:
        parser.error("--rate and --duration must be positive")
    steady = math.ceil(args.rate * args.duration)
    config = SimulationConfig(customers=max(1_000, steady // 20), days=SIM_DAYS, seed=7)
    with (
        tempfile.TemporaryDirectory(prefix="segflow-bench-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        settings = settings_for(bootstrap(stack, args.broker), workdir, uuid.uuid4().hex[:6])
        create_topics(settings)
        worker, port = start_worker(settings, workdir, "worker")
        stack.callback(worker.stop)
        begin = time.monotonic()
        warmup, rest = split_simulation(config, WARMUP_DAYS)
        produce_in_bulk(settings, warmup, port, worker, done=0)
        wait_until(lambda: model_ready(port), [worker], "the model to publish segments")
        settle, rest = take_until(rest, config.start + timedelta(days=WARMUP_DAYS + SETTLE_DAYS))
        produce_in_bulk(settings, settle, port, worker, done=len(warmup))
        warmup_s = time.monotonic() - begin
        events = list(islice(rest, steady))  # generated before the clock starts
        done = len(warmup) + len(settle)
        before = worker_buckets(port)
        run = asyncio.run(steady_phase(settings, events, args.rate, port, worker, done=done))
        after = worker_buckets(port)
        latencies = sorted(run.latencies)
    result: dict[str, Any] = {
        "rate": args.rate,
        "p50_ms": percentile_ms(latencies, 0.50),
        "p99_ms": percentile_ms(latencies, 0.99),
        "max_ms": percentile_ms(latencies, 1.0),
        **{
            f"{part}_p{round(100 * q)}_ms_at_most": bucket_quantile_ms(before[name], after[name], q)
            for part, name in (("worker", CHANGE_LATENCY_INGEST), ("read", RECORD_AGE))
            for q in (0.50, 0.99)
        },
        "changes": len(latencies),
        "events": run.sent,
        "sent_eps": round(run.sent / max(run.send_s, 1e-9), 1),
        "backlog_s": round(run.backlog_s, 1),
        "warmup_events": len(warmup),
        "settle_events": len(settle),
        "warmup_s": round(warmup_s, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
