"""Metrics read when Prometheus scrapes, and the Faust sensor that records commits.

:class:`ScrapeCallbacks` computes segment sizes, profile counts, model shares,
readiness and Kafka offsets from the worker's state at scrape time (the worker
sets its callbacks); :func:`faust_sensor` records offset commits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .metric_names import (
    KAFKA_COMMITTED,
    KAFKA_END,
    KAFKA_LAG,
    KAFKA_READ,
    PROFILES,
    READY,
    SEGMENT_CUSTOMERS,
    SEGMENT_MODEL_SHARE,
    UNASSIGNED,
    UNWRITTEN,
)


class CommitMetrics(Protocol):
    """Where the sensor records commits (:class:`~.metrics.Metrics` is one)."""

    @property
    def commits(self) -> Any: ...

    @property
    def commit_latency(self) -> Any: ...


#: segment id -> (kind, count) per partition; names come from a callback at scrape time.
SizeSource = Callable[[], tuple[Mapping[tuple[str, str], int], int]]
NameSource = Callable[[], Mapping[str, str]]
ShareSource = Callable[[], Mapping[str, tuple[str, float]]]


class ScrapeCallbacks(Collector):
    """Metrics computed at scrape time from the worker's state."""

    def __init__(self) -> None:
        self.sizes: SizeSource | None = None
        self.names: NameSource | None = None
        self.shares: ShareSource | None = None
        self.ready: Callable[[], bool] | None = None
        self.unwritten: Callable[[], int] | None = None
        self.faust_monitor: Callable[[], Any] | None = None

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        customers = GaugeMetricFamily(
            SEGMENT_CUSTOMERS,
            "Customers in each segment among this worker's profiles.",
            labels=["segment", "name", "kind"],
        )
        profiles = GaugeMetricFamily(PROFILES, "Profiles held by this worker.")
        unassigned = GaugeMetricFamily(
            UNASSIGNED,
            "Profiles held by this worker that are in no behavioral segment yet.",
        )
        if self.sizes is not None:
            sizes, total = self.sizes()
            names = dict(self.names()) if self.names is not None else {}
            assigned = 0
            for (kind, segment), count in sorted(sizes.items()):
                customers.add_metric([segment, names.get(segment, ""), kind], count)
                assigned += count if kind == "behavioral" else 0
            profiles.add_metric([], total)
            unassigned.add_metric([], max(total - assigned, 0))
        yield customers
        yield profiles
        yield unassigned
        unwritten = GaugeMetricFamily(
            UNWRITTEN,
            "Profiles changed since the last offset commit, not yet in the changelog.",
        )
        if self.unwritten is not None:
            unwritten.add_metric([], self.unwritten())
        yield unwritten
        share = GaugeMetricFamily(
            SEGMENT_MODEL_SHARE,
            "Share of the shared model's decayed weight in each behavioral segment.",
            labels=["segment", "name"],
        )
        if self.shares is not None:
            for segment, (name, value) in sorted(self.shares().items()):
                share.add_metric([segment, name], value)
        yield share
        ready = GaugeMetricFamily(
            READY, "1 once the worker joined its group, recovered tables and read the model."
        )
        ready.add_metric([], 1.0 if self.ready is not None and self.ready() else 0.0)
        yield ready
        yield from self._kafka()

    def _kafka(self) -> Iterator[Metric]:
        families = {
            name: GaugeMetricFamily(name, text, labels=["topic", "partition"])
            for name, text in (
                (KAFKA_LAG, "Consumer lag: end offset minus committed offset."),
                (KAFKA_COMMITTED, "Committed offset."),
                (KAFKA_END, "End offset (high watermark) last seen."),
                (KAFKA_READ, "Offset last read."),
            )
        }
        monitor = self.faust_monitor() if self.faust_monitor is not None else None
        if monitor is not None:
            committed = dict(getattr(monitor, "tp_committed_offsets", None) or {})
            end = dict(getattr(monitor, "tp_end_offsets", None) or {})
            read = dict(getattr(monitor, "tp_read_offsets", None) or {})
            for source, name in (
                (committed, KAFKA_COMMITTED),
                (end, KAFKA_END),
                (read, KAFKA_READ),
            ):
                for tp, offset in sorted(source.items()):
                    families[name].add_metric([tp.topic, str(tp.partition)], float(offset))
            for tp, high in sorted(end.items()):
                # Kafka's committed offset is the next one to read; Faust's monitor keeps
                # the last processed offset, so lag = high watermark - (committed + 1).
                done = committed.get(tp)
                lag = high - (done + 1) if done is not None else high
                families[KAFKA_LAG].add_metric([tp.topic, str(tp.partition)], float(max(lag, 0)))
        yield from families.values()


def faust_sensor(metrics: CommitMetrics, clock: Callable[[], float] = time.monotonic) -> Any:
    """A ``faust.Sensor`` that records offset commits into ``metrics`` (add to ``app.sensors``)."""
    import faust

    class _Sensor(faust.Sensor):  # type: ignore[misc,unused-ignore]
        def on_commit_initiated(self, consumer: Any) -> Any:
            return clock()

        def on_commit_completed(self, consumer: Any, state: Any) -> None:
            metrics.commits.inc()
            if isinstance(state, float):
                metrics.commit_latency.observe(max(0.0, clock() - state))

    return _Sensor()
