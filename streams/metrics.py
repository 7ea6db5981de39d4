"""A worker's Prometheus metrics, all built against an injected ``CollectorRegistry``.

Names are module constants (dashboards and alert rules refer to them). Counters are
exported with the ``_total`` suffix, histograms as ``_bucket``/``_sum``/``_count``:
:func:`exported_names` lists every sample name a worker exports. Times are in seconds.

Segment sizes (``segflow_segment_customers``) count the customers *this worker's
profiles* hold in each segment (its partitions only; sum over workers for the
deployment); ``segflow_segment_model_share`` is the share of the shared model's
decayed weight in each segment (the same on every worker).

>>> from prometheus_client import CollectorRegistry
>>> registry = CollectorRegistry()
>>> m = Metrics(registry)
>>> m.consumed("clicks", "click")
>>> registry.get_sample_value(EVENTS_CONSUMED + "_total", {"topic": "clicks", "type": "click"})
1.0
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# -- names -----------------------------------------------------------------------------

#: Counter: messages read from the input topics, by ``topic`` and event ``type``.
EVENTS_CONSUMED = "segflow_events_consumed"
#: Counter: valid events by outcome of the step (``applied``, ``duplicate``, ``late``).
EVENTS_PROCESSED = "segflow_events"
#: Counter: invalid events by ``reason`` and ``stage`` (``ingest`` or ``profile``).
INVALID_EVENTS = "segflow_invalid_events"
#: Counter: messages sent to the dead-letter topic, by ``source_topic`` and ``reason``.
DEAD_LETTERS = "segflow_dead_letters"
#: Counter: segment changes published, by ``kind``, ``from_segment``, ``to_segment``
#: (``none`` for a missing side).
SEGMENT_CHANGES = "segflow_segment_changes"
#: Gauge: customers in each segment among this worker's profiles, by ``segment``,
#: ``name`` and ``kind`` (``behavioral`` or ``rule``).
SEGMENT_CUSTOMERS = "segflow_segment_customers"
#: Gauge: share (0-1) of the shared model's decayed weight in each behavioral segment.
SEGMENT_MODEL_SHARE = "segflow_segment_model_share"
#: Gauge: profiles held by this worker (its partitions loaded so far).
PROFILES = "segflow_profiles"
#: Gauge: profiles this worker holds that are in no behavioral segment (not assessed yet).
UNASSIGNED = "segflow_unassigned_profiles"
#: Histogram (s): event ``occurred_at`` to the change's emission.
CHANGE_LATENCY_EVENT = "segflow_change_latency_from_event_seconds"
#: Histogram (s): the worker first reading the causing event to the change's emission.
CHANGE_LATENCY_INGEST = "segflow_change_latency_from_ingest_seconds"
#: Gauge: samples learned by the model in use (its version).
MODEL_VERSION = "segflow_model_version"
#: Gauge: publication number of the model in use.
MODEL_SEQ = "segflow_model_seq"
#: Counter: model snapshots taken by this worker.
MODEL_UPDATES = "segflow_model_updates"
#: Gauge: how far each segment's centroid moved at the last model update (standard units).
MODEL_CENTROID_SHIFT = "segflow_model_centroid_shift"
#: Histogram: the largest centroid shift of each model update (standard units).
MODEL_MAX_CENTROID_SHIFT = "segflow_model_max_centroid_shift"
#: Counter: drift alerts, by ``segment`` and ``statistic`` (``share``, ``distance``).
DRIFT_ALERTS = "segflow_drift_alerts"
#: Counter: training samples offered by the step, by ``status`` (``sent``, ``throttled``).
TRAINING_SAMPLES = "segflow_training_samples"
#: Counter: samples learned by this worker's trainer.
TRAINER_LEARNED = "segflow_trainer_learned_samples"
#: Counter: model snapshots published by this worker's trainer.
TRAINER_PUBLISHED = "segflow_trainer_snapshots_published"
#: Counter: customers re-assessed by the inactivity sweep.
SWEPT = "segflow_swept_customers"
#: Gauge: 1 once the worker has joined its group, recovered its tables and read the model.
READY = "segflow_ready"
#: Gauge: consumer lag (end offset minus committed offset) by ``topic`` and ``partition``.
KAFKA_LAG = "segflow_kafka_consumer_lag"
#: Gauge: committed offset by ``topic`` and ``partition``.
KAFKA_COMMITTED = "segflow_kafka_committed_offset"
#: Gauge: end offset (high watermark) seen by ``topic`` and ``partition``.
KAFKA_END = "segflow_kafka_end_offset"
#: Gauge: offset read by ``topic`` and ``partition``.
KAFKA_READ = "segflow_kafka_read_offset"
#: Counter: offset commits completed.
KAFKA_COMMITS = "segflow_kafka_commits"
#: Histogram (s): offset commit latency.
KAFKA_COMMIT_LATENCY = "segflow_kafka_commit_latency_seconds"

#: Buckets of the event-to-change latency: replays and the sweep reach days.
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    6 * 3600.0,
    86400.0,
    7 * 86400.0,
)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SHIFT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

_COUNTERS = (
    EVENTS_CONSUMED,
    EVENTS_PROCESSED,
    INVALID_EVENTS,
    DEAD_LETTERS,
    SEGMENT_CHANGES,
    MODEL_UPDATES,
    DRIFT_ALERTS,
    TRAINING_SAMPLES,
    TRAINER_LEARNED,
    TRAINER_PUBLISHED,
    SWEPT,
    KAFKA_COMMITS,
)
_GAUGES = (
    SEGMENT_CUSTOMERS,
    SEGMENT_MODEL_SHARE,
    PROFILES,
    UNASSIGNED,
    MODEL_VERSION,
    MODEL_SEQ,
    MODEL_CENTROID_SHIFT,
    READY,
    KAFKA_LAG,
    KAFKA_COMMITTED,
    KAFKA_END,
    KAFKA_READ,
)
_HISTOGRAMS = (
    CHANGE_LATENCY_EVENT,
    CHANGE_LATENCY_INGEST,
    MODEL_MAX_CENTROID_SHIFT,
    KAFKA_COMMIT_LATENCY,
)


def exported_names() -> list[str]:
    """Every sample name a worker exports (with ``_total``, ``_bucket``... suffixes).

    >>> "segflow_dead_letters_total" in exported_names()
    True
    >>> "segflow_change_latency_from_event_seconds_bucket" in exported_names()
    True
    """
    names = [f"{n}_total" for n in _COUNTERS] + list(_GAUGES)
    for n in _HISTOGRAMS:
        names += [f"{n}_bucket", f"{n}_sum", f"{n}_count"]
    return sorted(names)


def _side(segment: str | None) -> str:
    return segment if segment is not None else "none"


#: segment id -> (kind, count) per partition; names come from a callback at scrape time.
SizeSource = Callable[[], tuple[Mapping[tuple[str, str], int], int]]
NameSource = Callable[[], Mapping[str, str]]
ShareSource = Callable[[], Mapping[str, tuple[str, float]]]


class _Callbacks(Collector):
    """Metrics computed at scrape time from the worker's state."""

    def __init__(self) -> None:
        self.sizes: SizeSource | None = None
        self.names: NameSource | None = None
        self.shares: ShareSource | None = None
        self.ready: Callable[[], bool] | None = None
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


class Metrics:
    """Every metric of a worker, registered in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        r = registry
        self.events_consumed = Counter(
            EVENTS_CONSUMED, "Messages read from input topics.", ["topic", "type"], registry=r
        )
        self.events = Counter(
            EVENTS_PROCESSED,
            "Valid events by outcome of the step (applied, duplicate, late).",
            ["outcome"],
            registry=r,
        )
        self.invalid = Counter(
            INVALID_EVENTS, "Invalid events by reason and stage.", ["reason", "stage"], registry=r
        )
        self.dead_letters = Counter(
            DEAD_LETTERS,
            "Messages sent to the dead-letter topic.",
            ["source_topic", "reason"],
            registry=r,
        )
        self.changes = Counter(
            SEGMENT_CHANGES,
            "Segment changes published.",
            ["kind", "from_segment", "to_segment"],
            registry=r,
        )
        self.latency_event = Histogram(
            CHANGE_LATENCY_EVENT,
            "Seconds from the causing event's occurred_at to the change's emission.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.latency_ingest = Histogram(
            CHANGE_LATENCY_INGEST,
            "Seconds from the causing event's ingestion to the change's emission.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.model_version = Gauge(
            MODEL_VERSION, "Samples learned by the model in use.", registry=r
        )
        self.model_seq = Gauge(MODEL_SEQ, "Publication number of the model in use.", registry=r)
        self.model_updates = Counter(MODEL_UPDATES, "Model snapshots taken.", registry=r)
        self.centroid_shift = Gauge(
            MODEL_CENTROID_SHIFT,
            "How far each segment's centroid moved at the last model update (standard units).",
            ["segment"],
            registry=r,
        )
        self.max_shift = Histogram(
            MODEL_MAX_CENTROID_SHIFT,
            "Largest centroid shift of each model update (standard units).",
            buckets=SHIFT_BUCKETS,
            registry=r,
        )
        self.drift_alerts = Counter(
            DRIFT_ALERTS, "Drift alerts.", ["segment", "statistic"], registry=r
        )
        self.samples = Counter(
            TRAINING_SAMPLES,
            "Training samples offered by the step (sent or throttled).",
            ["status"],
            registry=r,
        )
        self.learned = Counter(TRAINER_LEARNED, "Samples learned by this trainer.", registry=r)
        self.published = Counter(TRAINER_PUBLISHED, "Snapshots published here.", registry=r)
        self.swept = Counter(SWEPT, "Customers re-assessed by the inactivity sweep.", registry=r)
        self.commits = Counter(KAFKA_COMMITS, "Offset commits completed.", registry=r)
        self.commit_latency = Histogram(
            KAFKA_COMMIT_LATENCY,
            "Offset commit latency in seconds.",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self.callbacks = _Callbacks()
        registry.register(self.callbacks)

    # -- recording ----------------------------------------------------------------------

    def consumed(self, topic: str, kind: str) -> None:
        self.events_consumed.labels(topic=topic, type=kind).inc()

    def change(
        self,
        kind: str,
        from_segment: str | None,
        to_segment: str | None,
        *,
        emitted_at: float,
        occurred_at: float | None = None,
        ingested_at: float | None = None,
    ) -> None:
        """A published change; latencies only for changes caused by an event."""
        self.changes.labels(
            kind=kind, from_segment=_side(from_segment), to_segment=_side(to_segment)
        ).inc()
        if occurred_at is not None:
            self.latency_event.observe(max(0.0, emitted_at - occurred_at))
        if ingested_at is not None:
            self.latency_ingest.observe(max(0.0, emitted_at - ingested_at))

    def model_update(
        self, seq: int, version: int, shifts: Mapping[str, float] | None = None
    ) -> None:
        """A new model taken; ``shifts``: centroid movement per segment since the last one."""
        self.model_seq.set(seq)
        self.model_version.set(version)
        self.model_updates.inc()
        if shifts:
            self.centroid_shift.clear()
            for segment, shift in shifts.items():
                self.centroid_shift.labels(segment=segment).set(shift)
            self.max_shift.observe(max(shifts.values()))


def faust_sensor(metrics: Metrics, clock: Callable[[], float] = time.monotonic) -> Any:
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
