"""A worker's Prometheus metrics, all built against an injected ``CollectorRegistry``.

The registry is the only place a worker counts: the worker records through
:class:`Metrics`' methods, ``/metrics`` exports the registry and the JSON of
``/segflow/stats/`` is read back from it (:func:`json_counts`). Names are in
:mod:`.metric_names`; metrics computed at scrape time in :mod:`.metric_callbacks`.

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
>>> json_counts(registry)["input_messages"]
1
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from segflow.models.changes import SegmentChange
from segflow.models.propensity import PROPENSITY_SCORE
from segflow.models.snapshot_schema import REJECT_REASONS

from .metric_callbacks import ScrapeCallbacks, faust_sensor
from .metric_names import (
    CHANGE_LATENCY_EVENT,
    CHANGE_LATENCY_INGEST,
    COMMIT_BUCKETS,
    DEAD_LETTERS,
    DRIFT_ALERTS,
    EVENTS_CONSUMED,
    EVENTS_PROCESSED,
    FORECAST_BUCKETS,
    FORWARDED,
    IDENTITY,
    INTERNAL_ERRORS,
    INVALID_EVENTS,
    KAFKA_COMMIT_LATENCY,
    KAFKA_COMMITS,
    LATENCY_BUCKETS,
    MODEL_CENTROID_SHIFT,
    MODEL_MAX_CENTROID_SHIFT,
    MODEL_SEQ,
    MODEL_UPDATES,
    MODEL_VERSION,
    PROBABILITY_BUCKETS,
    PROFILE_WRITES,
    PROPENSITY_QUALITY,
    RECORD_AGE,
    RETIREMENT_MOVES,
    SCORE_FORECASTS,
    SCORE_PROBABILITIES,
    SEGMENT_CHANGES,
    SHIFT_BUCKETS,
    SNAPSHOTS_REJECTED,
    SWEPT,
    TRAINER_LEARNED,
    TRAINER_PUBLISHED,
    TRAINING_SAMPLES,
    VALUE_MODEL,
)

if TYPE_CHECKING:
    from segflow.models.model import SegmentModel

__all__ = ["Metrics", "faust_sensor", "json_counts"]


_PROBABILITIES = frozenset({"p_alive", PROPENSITY_SCORE})
_FORECASTS = frozenset({"expected_purchases_90d", "expected_value_90d"})


def _side(segment: str | None) -> str:
    return segment if segment is not None else "none"


class Metrics:
    """Every metric of a worker, registered in ``registry``, and how the worker records."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        #: Labelled children of the counters every event touches (never removed).
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._events(registry)
        self._changes(registry)
        self._model(registry)
        self._kafka(registry)
        self._value(registry)
        #: Metrics computed at scrape time; the worker sets the callbacks.
        self.callbacks = ScrapeCallbacks()
        registry.register(self.callbacks)

    def _events(self, r: CollectorRegistry) -> None:
        self.events_consumed = Counter(
            EVENTS_CONSUMED, "Messages read from input topics.", ["topic", "type"], registry=r
        )
        self.record_age = Histogram(
            RECORD_AGE,
            "Seconds from an input record's Kafka timestamp to this worker reading it.",
            buckets=LATENCY_BUCKETS,
            registry=r,
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
        self.forwarded_messages = Counter(
            FORWARDED, "Messages forwarded to the repartition topic.", registry=r
        )
        self.errors = Counter(
            INTERNAL_ERRORS, "Failures caught and logged, by stage.", ["stage"], registry=r
        )
        self.identities = Counter(
            IDENTITY, "Identifies and merges, by outcome.", ["outcome"], registry=r
        )

    def _changes(self, r: CollectorRegistry) -> None:
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
        self.profile_writes = Counter(
            PROFILE_WRITES, "Profile writes to the table (changelog messages).", registry=r
        )
        self.swept_customers = Counter(
            SWEPT, "Customers re-assessed by the inactivity sweep.", registry=r
        )
        self.retirement_moves = Counter(
            RETIREMENT_MOVES, "Customers moved out of retired segments.", registry=r
        )
        self.drift_alerts = Counter(
            DRIFT_ALERTS, "Drift alerts.", ["segment", "statistic"], registry=r
        )

    def _model(self, r: CollectorRegistry) -> None:
        self.model_version = Gauge(
            MODEL_VERSION, "Samples learned by the model in use.", registry=r
        )
        self.model_seq = Gauge(MODEL_SEQ, "Publication number of the model in use.", registry=r)
        self.model_updates = Counter(MODEL_UPDATES, "Model snapshots taken.", registry=r)
        self.snapshots_rejected = Counter(
            SNAPSHOTS_REJECTED, "Published model snapshots refused.", ["reason"], registry=r
        )
        for reason in REJECT_REASONS:
            # Every reason exported from the start, at 0: an alert sees the first one.
            self.snapshots_rejected.labels(reason=reason)
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
        self.samples = Counter(
            TRAINING_SAMPLES,
            "Training samples offered by the step (sent or throttled).",
            ["status"],
            registry=r,
        )
        self.learned = Counter(TRAINER_LEARNED, "Samples learned by this trainer.", registry=r)
        self.published = Counter(TRAINER_PUBLISHED, "Snapshots published here.", registry=r)

    def _value(self, r: CollectorRegistry) -> None:
        self.probabilities = Histogram(
            SCORE_PROBABILITIES,
            "Probability scores of the customers in published changes.",
            ["score"],
            buckets=PROBABILITY_BUCKETS,
            registry=r,
        )
        self.forecasts = Histogram(
            SCORE_FORECASTS,
            "90-day forecasts (purchases, spend) of the customers in published changes.",
            ["score"],
            buckets=FORECAST_BUCKETS,
            registry=r,
        )
        self.value_model = Gauge(
            VALUE_MODEL, "The value model fitted last here.", ["parameter"], registry=r
        )
        self.propensity_quality = Gauge(
            PROPENSITY_QUALITY,
            "Purchase propensity measured prequentially by this trainer.",
            ["statistic"],
            registry=r,
        )

    def _kafka(self, r: CollectorRegistry) -> None:
        self.commits = Counter(KAFKA_COMMITS, "Offset commits completed.", registry=r)
        self.commit_latency = Histogram(
            KAFKA_COMMIT_LATENCY,
            "Offset commit latency in seconds.",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )

    # -- recording ----------------------------------------------------------------------

    def _child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, looked up once: every event counts in a few, and
        the client's ``labels`` costs more than the increment."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def consumed(self, topic: str, kind: str, age: float | None = None) -> None:
        """A message read from an input topic, ``age`` seconds after its Kafka timestamp
        (None: it has none)."""
        self._child(self.events_consumed, topic, kind).inc()
        if age is not None:
            self.record_age.observe(max(0.0, age))

    def event(self, outcome: str) -> None:
        """A valid event through the step (``applied``, ``duplicate``, ``late``)."""
        self._child(self.events, outcome).inc()

    def dead_letter(self, source_topic: str, reason: str, stage: str) -> None:
        """A message sent to the dead-letter topic."""
        self.dead_letters.labels(source_topic=source_topic, reason=reason).inc()
        self.invalid.labels(reason=reason, stage=stage).inc()

    def forwarded(self) -> None:
        """A message forwarded to its customer's partition."""
        self.forwarded_messages.inc()

    def identity(self, outcome: str) -> None:
        """An identify or a merge handled (``linked``, ``merged``, ``refused_<reason>``...)."""
        self.identities.labels(outcome=outcome).inc()

    def error(self, stage: str) -> None:
        """A failure caught and logged (``sweep``, ``drift``, ``training_sample``,
        ``fitter``: the trainer's fitting process died, ``batch_step``)."""
        self.errors.labels(stage=stage).inc()

    def change(self, change: SegmentChange, ingested_at: float | None = None) -> None:
        """A published change; latencies only for changes caused by an event."""
        self.changes.labels(
            kind=change.kind,
            from_segment=_side(change.from_segment),
            to_segment=_side(change.to_segment),
        ).inc()
        for name in _PROBABILITIES & change.scores.keys():
            self.probabilities.labels(score=name).observe(change.scores[name])
        for name in _FORECASTS & change.scores.keys():
            self.forecasts.labels(score=name).observe(change.scores[name])
        if change.cause_event_id is None:
            return
        emitted_at = change.emitted_at.timestamp()
        self.latency_event.observe(max(0.0, emitted_at - change.occurred_at.timestamp()))
        if ingested_at is not None:
            self.latency_ingest.observe(max(0.0, emitted_at - ingested_at))

    def swept(self) -> None:
        """A customer re-assessed by the inactivity sweep."""
        self.swept_customers.inc()

    def retirement_move(self) -> None:
        """A customer re-assessed because its segment was retired."""
        self.retirement_moves.inc()

    def drift(self, segment: str, statistic: str) -> None:
        """A drift alert."""
        self.drift_alerts.labels(segment=segment, statistic=statistic).inc()

    def sample(self, sent: bool) -> None:
        """A training sample offered: sent, or throttled by the rate limit."""
        self._child(self.samples, "sent" if sent else "throttled").inc()

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

    def value_fitted(self, model: SegmentModel) -> None:
        """The trainer's value model and propensity read-out after a fit."""
        if model.value is not None:
            for name, value in model.value.to_state().items():
                if isinstance(value, int | float) and name != "fitted_at":
                    self.value_model.labels(parameter=name.split("_", 1)[-1]).set(value)
        if model.learning is not None:
            quality = model.learning.quality
            self.propensity_quality.labels(statistic="labelled").set(quality.count)
            for statistic, value in (
                ("auc", quality.auc()),
                ("calibration_error", quality.calibration_error()),
            ):
                if value is not None:
                    self.propensity_quality.labels(statistic=statistic).set(value)

    def snapshot_rejected(self, reason: str) -> None:
        """A published snapshot refused, by ``reason`` (see
        :data:`~segflow.models.snapshot_schema.REJECT_REASONS`)."""
        self.snapshots_rejected.labels(reason=reason).inc()


#: The counts of ``/segflow/stats/``: JSON key, counter, and the label whose values
#: split it into ``key_value`` entries (None: the counter's total).
JSON_COUNTS: tuple[tuple[str, str, str | None], ...] = (
    ("input_messages", EVENTS_CONSUMED, None),
    ("events", EVENTS_PROCESSED, "outcome"),
    ("dead_letters", DEAD_LETTERS, None),
    ("dead_letters", DEAD_LETTERS, "reason"),
    ("forwarded", FORWARDED, None),
    ("changes", SEGMENT_CHANGES, None),
    ("swept", SWEPT, None),
    ("profile_writes", PROFILE_WRITES, None),
    ("retired_moves", RETIREMENT_MOVES, None),
    ("drift_alerts", DRIFT_ALERTS, None),
    ("samples", TRAINING_SAMPLES, "status"),
    ("trainer_learned", TRAINER_LEARNED, None),
    ("trainer_published", TRAINER_PUBLISHED, None),
    ("snapshots_rejected", SNAPSHOTS_REJECTED, None),
    ("snapshots_rejected", SNAPSHOTS_REJECTED, "reason"),
    ("errors", INTERNAL_ERRORS, "stage"),
    ("identity", IDENTITY, "outcome"),
)


#: The sample names ``json_counts`` reads.
JSON_COUNTED = frozenset(f"{name}_total" for _, name, _ in JSON_COUNTS)


def json_counts(registry: CollectorRegistry) -> dict[str, int]:
    """The counters of ``registry`` as ``/segflow/stats/`` shows them (see :data:`JSON_COUNTS`).

    >>> registry = CollectorRegistry()
    >>> m = Metrics(registry)
    >>> m.dead_letter("clicks", "not_json", "ingest"); m.event("applied")
    >>> counts = json_counts(registry)
    >>> counts["dead_letters"], counts["dead_letters_not_json"], counts["events_applied"]
    (1, 1, 1)
    """
    totals: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    # Only the counters shown (their ``_total`` samples): collecting the whole registry
    # (histograms, the scrape callbacks' gauges) was about half of a stats request's
    # 2 ms of worker CPU.
    for family in registry.restricted_registry(JSON_COUNTED).collect():
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            totals.setdefault(sample.name[: -len("_total")], {})[labels] = sample.value
    counts: dict[str, int] = {}
    for key, name, label in JSON_COUNTS:
        for labels, value in totals.get(name, {}).items():
            if label is not None and not value:
                continue  # a label value exported at 0 before its first count
            entry = key if label is None else f"{key}_{dict(labels)[label]}"
            counts[entry] = counts.get(entry, 0) + int(value)
    return counts
