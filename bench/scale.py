"""Scale: per-event cost and worker memory with N customer profiles already in RocksDB.

``python -m bench.scale [--profiles 10000,100000,1000000] [--events 20000]
[--broker HOST:PORT]`` prints one JSON object; lists hold one value per N::

    {"profiles": [N..], "us_per_event": [..], "rss_mb": [..],
     "us_per_event_2nd_half": [..], "first_event_s": [..], "recovery_s": [..],
     "fill_s": [..], "rss_recovered_mb": [..], "rss_peak_mb": [..], "swept": [..],
     "profile_writes_per_event": [..], "profiles_held": [..], "in_load_partitions": [..],
     "in_take_due_looks": [..],
     "events": E, "profile_bytes": median profile JSON size,
     "floors": {"us_per_event_ratio": last N / first N (floor <= 1.3),
                "rss_mb_last": rss_mb of the last N (floor <= 1024), "met": bool},
     "profile_top": py-spy own-time top of the last N's timed drain,
     "first_event_top": the same of its wait for the first processed event}

Method. Profiles: the simulator (``TEMPLATE_CUSTOMERS`` customers, seed 7) is replayed
through the pure step with the in-memory runner (learning, inactivity sweep) for
``HISTORY_DAYS`` (28) simulated days, with the benchmarks' engine settings. The N
profiles are copies of those (``Profile.to_json``), customer i being a copy of
template customer i mod T with the id ``"<template id>.<i div T>"``; the learned model
is published as snapshot 1 on the model topic, so the worker assigns with it.

For each N, on fresh topics and a fresh app id (a fresh local Tansu unless
``--broker``): the N profiles are written to the table's changelog topic
(``<app_id>-profiles-changelog``) in 1 MiB aiokafka batches, key = customer id bytes,
partition = murmur2 as Faust's (``segflow.streams.partitioning.partition_of``); each
partition ends with a one-record batch, so Faust's recovery reads all of it on Tansu
too (Tansu gives a partition's end offset as its last batch's base offset + 1).
One worker (store ``rocksdb://``, the default of ``Settings``; ``single_record_batches``
off, see ``bench.common.settings_for``) starts and recovers them into RocksDB;
``recovery_s`` runs from its start until ``/healthz`` answers 200. Then E events (the
simulation's next days, each of a template customer given to a random one of its
copies, with new event ids, their times squeezed by T/N so that event time advances as
N customers' traffic would) are produced as fast as possible from a thread, and the
drain is timed like ``bench.throughput``: from the first poll that sees a processed
event to the one that sees all of them (polls every 0.1 s); ``us_per_event`` = 1e6 /
that rate. ``first_event_s`` runs from the first send to the first processed event.

What a just-started worker does on its first events is included: on the first event
of each partition, ``load_partitions`` reads the partitions' profiles into the
inactivity sweep's schedule and the segment sizes, and the sweep then catches up
every silent customer's missed daily looks. ``us_per_event_2nd_half`` (the same rate
over the second half of the events) shows the cost once that is done; ``swept``
counts the sweep's re-assessments and ``profile_writes_per_event`` the profiles the
commits wrote until the drain's end, per event; when py-spy is installed, the worker is
sampled from the first send to the end of the drain and ``in_load_partitions`` and
``in_take_due_looks`` (the sweep's looks after each batch) are the shares of samples
inside those two methods. The
samples are taken in two parts, split at the first poll that sees a processed event:
``first_event_top`` is the top of the part before (the load pass, mostly),
``profile_top`` of the timed drain after it.
``rss_mb`` is the worker's VmRSS after the drain (``rss_peak_mb`` its VmHWM,
``rss_recovered_mb`` VmRSS once healthy); ``profiles_held`` is its
``segflow_profiles`` gauge after the drain (N when every profile was recovered).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from segflow.models.events import Event
from segflow.models.model import SegmentModel
from segflow.models.runner import replay
from segflow.sources.simulator import SimulationConfig
from segflow.streams.demo import fetch_stats
from segflow.streams.model_holder import SnapshotMeta, config_key, encode_snapshot
from segflow.streams.ops_pages import METRICS_PATH
from segflow.streams.partitioning import partition_of
from segflow.streams.producer import kafka_producer
from segflow.streams.settings import Settings
from segflow.streams.snapshots import SNAPSHOT_KEY
from segflow.streams.topics import create_topics
from segflow.streams.views import HEALTH_PATH

from .common import (
    BENCH_ENGINE,
    PY_SPY,
    bootstrap,
    inclusive_share,
    own_time_top,
    poll_processed,
    produce_bulk,
    rss_mb,
    settings_for,
    split_simulation,
    start_py_spy,
    start_worker,
    stop_py_spy,
    wait_until,
)

TEMPLATE_CUSTOMERS = 2_000
HISTORY_DAYS = 28.0
#: Bytes per changelog batch written by the fill.
FILL_BATCH = 1024 * 1024
#: Per wait (recovery, drain): 1M profiles take minutes.
SCALE_WAIT_S = 3600.0


@dataclass
class Template:
    """Profiles (as ``to_json`` dicts) to copy, the model they were learned with, later events."""

    profiles: list[dict[str, Any]]
    index: dict[str, int]
    model: SegmentModel
    cutoff: datetime
    later: list[Event]


def build_template(customers: int, events: int) -> Template:
    days = HISTORY_DAYS + max(14.0, events / customers + 3)  # ~1.46 events/customer/day
    config = SimulationConfig(customers=customers, days=days, seed=7)
    history, rest = split_simulation(config, HISTORY_DAYS)
    cutoff = config.start + timedelta(days=HISTORY_DAYS)
    result = replay(history, BENCH_ENGINE, until=cutoff.timestamp())
    ids = sorted(result.profiles)
    index = {customer: j for j, customer in enumerate(ids)}
    later = [event for event in rest if event.customer_id in index][:events]
    profiles = [orjson.loads(result.profiles[customer].to_json()) for customer in ids]
    return Template(profiles, index, result.model, cutoff, later)


def copies(template: Template, j: int, n: int) -> int:
    """How many of the ``n`` profiles copy template customer ``j``."""
    t = len(template.profiles)
    return (n - j + t - 1) // t


def profiles_for(template: Template, n: int) -> Iterator[tuple[bytes, bytes]]:
    """(key, Profile JSON) of the ``n`` profiles."""
    t = len(template.profiles)
    for i in range(n):
        data = template.profiles[i % t]
        customer = f"{data['c']}.{i // t}"
        yield customer.encode(), orjson.dumps({**data, "c": customer})


def events_for(template: Template, n: int, seed: int = 11) -> Iterator[Event]:
    """The template's later events, each for a random copy of its customer, time squeezed."""
    rng = random.Random(seed)
    squeeze = min(1.0, len(template.profiles) / n)
    for k, event in enumerate(template.later):
        j = template.index[event.customer_id]
        customer = f"{event.customer_id}.{rng.randrange(copies(template, j, n))}"
        at = template.cutoff + (event.occurred_at - template.cutoff) * squeeze
        update = {"customer_id": customer, "event_id": f"{customer}-s{k}", "occurred_at": at}
        yield event.model_copy(update=update)


async def fill_changelog(settings: Settings, records: Iterable[tuple[bytes, bytes]]) -> None:
    """Write ``records`` to the profile changelog in big batches, partitioned as Faust does."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers.split(","),
        acks=1,
        max_batch_size=FILL_BATCH,
        max_request_size=4 * FILL_BATCH,
    )
    await producer.start()
    topic, parts = settings.profiles_changelog, settings.partitions
    batches: dict[int, Any] = {}
    newest: dict[int, tuple[bytes, bytes]] = {}
    inflight: list[asyncio.Future[Any]] = []
    try:
        for key, value in records:
            p = partition_of(key, parts)
            if p not in batches:
                batches[p] = producer.create_batch()
            if batches[p].append(key=key, value=value, timestamp=None) is None:
                inflight.append(await producer.send_batch(batches[p], topic, partition=p))
                batches[p] = producer.create_batch()
                batches[p].append(key=key, value=value, timestamp=None)
            newest[p] = (key, value)
            if len(inflight) >= 32:
                await asyncio.gather(*inflight)
                inflight.clear()
        for p, batch in batches.items():
            inflight.append(await producer.send_batch(batch, topic, partition=p))
        await asyncio.gather(*inflight)
        # Tansu reports a partition's end offset as its last batch's base offset + 1, and
        # Faust's recovery reads up to there: end every partition with a one-record batch
        # (its newest record again, which changes nothing).
        for p, (key, value) in newest.items():
            await producer.send_and_wait(topic, value, key=key, partition=p)
    finally:
        await producer.stop()


def publish_model(settings: Settings, model: SegmentModel) -> None:
    """The template's model as snapshot 1 on the model topic (the worker reads it at start)."""
    meta = SnapshotMeta(1, int(model.version), time.time(), "bench.scale", config_key(model.config))
    producer = kafka_producer(settings, max_request_size=8 * 1024 * 1024)
    producer.send(
        settings.topics.snapshots,
        key=SNAPSHOT_KEY,
        value=encode_snapshot(meta, model.to_snapshot()),
    )
    producer.flush()
    producer.close(timeout=5)


def get(port: int, path: str) -> tuple[int, bytes]:
    """Status and body of a GET on the worker's web port (status 0 if it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2.0) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), b""
    except OSError:
        return 0, b""


def profiles_held(port: int) -> int | None:
    """The worker's ``segflow_profiles`` gauge."""
    for line in get(port, METRICS_PATH)[1].decode().splitlines():
        if line.startswith("segflow_profiles "):
            return int(float(line.split()[1]))
    return None


def rate_us(trace: list[tuple[float, int]]) -> float:
    """Microseconds per event between the first and last point of a (time, processed) trace."""
    (t0, n0), (t1, n1) = trace[0], trace[-1]
    return round(1e6 * (t1 - t0) / max(n1 - n0, 1), 1)


#: py-spy samples by stack (outermost frame first).
Stacks = collections.Counter[tuple[str, ...]]


class SplitProfile:
    """py-spy on one process in two parts: from its start to :meth:`split`, and from
    there to :meth:`stop`."""

    def __init__(self, pid: int, stem: Path) -> None:
        self.pid, self.stem = pid, stem
        self.spy = start_py_spy(pid, stem.with_suffix(".first.txt"))
        self.first: Stacks | None = None

    def split(self) -> None:
        self.first = stop_py_spy(self.spy, self.stem.with_suffix(".first.txt"))
        self.spy = start_py_spy(self.pid, self.stem.with_suffix(".drain.txt"))

    def stop(self) -> tuple[Stacks, Stacks]:
        """The samples before the split and after it (all in the first, without one)."""
        if self.first is None:
            return stop_py_spy(self.spy, self.stem.with_suffix(".first.txt")), collections.Counter()
        return self.first, stop_py_spy(self.spy, self.stem.with_suffix(".drain.txt"))


def run_one(
    n: int, template: Template, broker: str | None, workdir: Path
) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Measure one N; (the figures, the py-spy own-time tops of the wait for the first
    processed event and of the drain)."""
    with contextlib.ExitStack() as stack:
        tag = uuid.uuid4().hex[:6]
        settings = settings_for(bootstrap(stack, broker), workdir, tag)
        create_topics(settings)
        publish_model(settings, template.model)
        begin = time.monotonic()
        asyncio.run(fill_changelog(settings, profiles_for(template, n)))
        fill_s = time.monotonic() - begin
        worker, port = start_worker(settings, workdir, f"worker-{n}")
        stack.callback(worker.stop)
        assert worker.proc is not None
        pid = worker.proc.pid
        begin = time.monotonic()
        healthy = wait_until(
            lambda: get(port, HEALTH_PATH)[0] == 200, [worker], "recovery", SCALE_WAIT_S
        )
        rss_recovered = rss_mb(pid)
        spy = SplitProfile(pid, workdir / f"profile-{n}") if PY_SPY else None
        sent_at = time.monotonic()
        producing = threading.Thread(target=produce_bulk, args=(settings, events_for(template, n)))
        producing.start()
        total = len(template.later)
        on_first = spy.split if spy else None
        trace = poll_processed([port], total, [worker], on_first, timeout=SCALE_WAIT_S)
        producing.join()
        first, drain = spy.stop() if spy else (None, None)
        stacks = first + drain if first is not None and drain is not None else None
        half = next(i for i, (_, done) in enumerate(trace) if done >= total / 2)
        counts = (fetch_stats(port) or {}).get("counts", {})
        figures = {
            "us_per_event": rate_us(trace),
            "rss_mb": round(rss_mb(pid)),
            "us_per_event_2nd_half": rate_us(trace[half:]),
            "first_event_s": round(trace[0][0] - sent_at, 2),
            "recovery_s": round(healthy - begin, 1),
            "fill_s": round(fill_s, 1),
            "rss_recovered_mb": round(rss_recovered),
            "rss_peak_mb": round(rss_mb(pid, "VmHWM")),
            "swept": counts.get("swept", 0),
            "profile_writes_per_event": round(counts.get("profile_writes", 0) / total, 3),
            "profiles_held": profiles_held(port),
            "in_load_partitions": inclusive_share(stacks, "load_partitions") if stacks else None,
            "in_take_due_looks": inclusive_share(stacks, "take_due_looks") if stacks else None,
        }
        tops = {
            "profile_top": own_time_top(drain, 10) if drain else [],
            "first_event_top": own_time_top(first, 10) if first else [],
        }
        return figures, tops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--profiles", default="10000,100000,1000000", help="comma-separated Ns")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--broker", default=None, help="HOST:PORT (default: a local Tansu)")
    args = parser.parse_args(argv)
    try:
        ns = [int(text) for text in args.profiles.split(",")]
    except ValueError:
        parser.error(f"--profiles: not a comma-separated list of integers: {args.profiles!r}")
    if not ns or min(ns) < 1 or args.events < 1:
        parser.error("--profiles and --events must be positive")
    template = build_template(min(TEMPLATE_CUSTOMERS, min(ns)), args.events)
    result: dict[str, Any] = {"profiles": ns}
    tops: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="segflow-bench-") as tmp:
        for n in ns:
            workdir = Path(tmp) / str(n)
            workdir.mkdir()
            figures, tops = run_one(n, template, args.broker, workdir)
            for key, value in figures.items():
                result.setdefault(key, []).append(value)
    ratio = result["us_per_event"][-1] / result["us_per_event"][0]
    result["events"] = len(template.later)
    result["profile_bytes"] = statistics.median(len(orjson.dumps(p)) for p in template.profiles)
    result["floors"] = {
        "us_per_event_ratio": round(ratio, 2),
        "rss_mb_last": result["rss_mb"][-1],
        "met": ratio <= 1.3 and result["rss_mb"][-1] <= 1024,
    }
    result["profile_top"] = tops.get("profile_top", [])
    result["first_event_top"] = tops.get("first_event_top", [])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
