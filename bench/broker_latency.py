"""The broker alone: a record's send-to-read time at a steady rate, window by window.

``python -m bench.broker_latency [--rate 1000] [--duration 60] [--window 10]
[--partitions 4] [--linger-ms 1] [--broker HOST:PORT]`` sends ``rate`` records/s of
300 bytes to one topic of ``partitions`` partitions (keys spread over them) with
aiokafka, as ``bench.latency`` sends its events, while an aiokafka consumer reads the
topic from its end (``fetch_max_wait_ms=10``). No segflow worker runs. It prints one
JSON object: per window of ``window`` seconds the records read and the p50 / p99 / max
of send-to-read time (ms), and the broker's CPU seconds over the run when the broker
is the local Tansu this starts (else null).

What it is for: on this machine the broker, the benchmark and the worker share two
cores, and ``bench.latency``'s steady phase includes the broker's time. Measured here
(Tansu 0.6, in-memory storage, 1,000 records/s to 4 partitions): the p99 grew from
11 ms in the first 10 s to 51 ms at 30-40 s and 198 ms at 40-60 s, with the broker
using most of a core, because its cost grows with the number of batches a partition
holds (30,000 single-record batches sent first to the same topic made the first 10 s'
p99 129 ms; the same records in a few large batches, or in another topic, did not).
Apache Kafka finds a fetch's offset by its index instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from segflow.streams.broker import LocalBroker

from .common import cpu_seconds

PAYLOAD = b"x" * 300


def windows(
    reads: Sequence[tuple[float, float]], window: float, duration: float
) -> list[dict[str, Any]]:
    """Per window of ``window`` seconds from the start: the records read in it and the
    nearest-rank p50 / p99 / max of their send-to-read times (ms). ``reads`` holds
    (seconds from the start at the read, seconds from send to read).

    >>> first, second = windows([(0.5, 0.004), (1.5, 0.010), (1.6, 0.030)], 1.0, 2.0)
    >>> first
    {'from_s': 0.0, 'read': 1, 'p50_ms': 4.0, 'p99_ms': 4.0, 'max_ms': 4.0}
    >>> second["read"], second["p50_ms"], second["p99_ms"]
    (2, 10.0, 30.0)
    """
    out = []
    for i in range(math.ceil(duration / window)):
        lo = i * window
        times = sorted(d for t, d in reads if lo <= t < lo + window)
        if not times:
            continue

        def rank(q: float, times: list[float] = times) -> float:
            return round(1000 * times[max(0, math.ceil(q * len(times)) - 1)], 1)

        out.append(
            {
                "from_s": lo,
                "read": len(times),
                "p50_ms": rank(0.5),
                "p99_ms": rank(0.99),
                "max_ms": rank(1.0),
            }
        )
    return out


async def measure(
    bootstrap: str, topic: str, rate: float, duration: float, linger_ms: int
) -> list[tuple[float, float]]:
    """Send at ``rate`` for ``duration`` s and read back: (time from start, latency) pairs."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, fetch_max_wait_ms=10, auto_offset_reset="latest"
    )
    await producer.start()
    await consumer.start()
    sent: dict[bytes, float] = {}
    reads: list[tuple[float, float]] = []
    start = time.monotonic()

    async def read() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    at = sent.pop(record.value[:12], None)
                    if at is not None:
                        reads.append((now - start, now - at))

    try:
        await consumer.seek_to_end()
        reader = asyncio.create_task(read())
        await asyncio.sleep(1.0)  # the consumer's first fetch positions it
        start = time.monotonic()
        for i in range(math.ceil(rate * duration)):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tag = b"%012d" % i
            sent[tag] = time.monotonic()
            await producer.send(topic, tag + PAYLOAD, key=str(i % 4096).encode())
        await producer.flush()
        await asyncio.sleep(2.0)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    finally:
        await consumer.stop()
        await producer.stop()
    return reads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.broker_latency", description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0, help="records/s (default 1000)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds (default 10)")
    parser.add_argument("--partitions", type=int, default=4, help="of the topic (default 4)")
    parser.add_argument("--linger-ms", type=int, default=1, help="producer linger (default 1)")
    parser.add_argument("--broker", default=None, help="HOST:PORT (default: a local Tansu)")
    args = parser.parse_args(argv)
    if min(args.rate, args.duration, args.window, args.partitions) <= 0 or args.linger_ms < 0:
        parser.error("--rate, --duration, --window and --partitions must be positive")
    topic = f"broker-latency-{uuid.uuid4().hex[:6]}"
    with contextlib.ExitStack() as stack:
        pid: int | None = None
        if args.broker is None:
            broker = stack.enter_context(LocalBroker())
            bootstrap, pid = broker.bootstrap, broker.pid
        else:
            bootstrap = args.broker
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        admin.create_topics([NewTopic(topic, args.partitions, 1)])
        admin.close()
        cpu_before = cpu_seconds(pid) if pid is not None else None
        reads = asyncio.run(measure(bootstrap, topic, args.rate, args.duration, args.linger_ms))
        cpu = None if pid is None or cpu_before is None else cpu_seconds(pid) - cpu_before
    result = {
        "rate": args.rate,
        "duration_s": args.duration,
        "partitions": args.partitions,
        "linger_ms": args.linger_ms,
        "read": len(reads),
        "windows": windows(reads, args.window, args.duration),
        "broker_cpu_s": None if cpu is None else round(cpu, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
