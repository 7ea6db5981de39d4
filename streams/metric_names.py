"""The names of a worker's Prometheus metrics: dashboards and alert rules refer to them.

Counters are exported with the ``_total`` suffix, histograms as
``_bucket``/``_sum``/``_count``: :func:`exported_names` lists every sample name a
worker exports. Times are in seconds.
"""

from __future__ import annotations

#: Counter: messages read from the input topics, by ``topic`` and event ``type``.
EVENTS_CONSUMED = "segflow_events_consumed"
#: Histogram (s): an input record's Kafka timestamp (its producer's send time, or the
#: broker's append time) to this worker reading it: the time it spent in the producer, the
#: broker and the fetch (Kafka Streams' ``record-e2e-latency`` at its source). A record
#: sent with an old timestamp (a backfill) lands in the last buckets.
RECORD_AGE = "segflow_record_age_at_read_seconds"
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
#: Gauge: profile values changed since the last offset commit and not yet written to the
#: changelog (write-behind; a crash now replays their events from the committed offsets).
UNWRITTEN = "segflow_unwritten_profiles"
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
#: Counter: profile writes to the table (one per customer changed between two offset
#: commits, each a changelog message).
PROFILE_WRITES = "segflow_profile_writes"
#: Counter: customers re-assessed by the inactivity sweep.
SWEPT = "segflow_swept_customers"
#: Counter: messages this worker forwarded to the repartition topic (customer elsewhere).
FORWARDED = "segflow_forwarded_messages"
#: Counter: customers moved out of segments a new model retired.
RETIREMENT_MOVES = "segflow_retirement_moves"
#: Counter: published model snapshots this worker refused, by ``reason`` (``envelope``,
#: ``signature``, ``size``, ``schema``, ``settings``; every reason exported from 0).
SNAPSHOTS_REJECTED = "segflow_model_snapshots_rejected"
#: Counter: identity work by ``outcome`` (``linked``, ``merged``, ``repeated``,
#: ``merge_repeated``, ``refused_<reason>``).
IDENTITY = "segflow_identity"
#: Counter: failures caught and logged while the worker went on, by ``stage``
#: (``sweep``, ``drift``, ``training_sample``).
INTERNAL_ERRORS = "segflow_internal_errors"
#: Histogram: probability scores of the customers in published changes, by ``score``
#: (``p_alive``, ``purchase_propensity``).
SCORE_PROBABILITIES = "segflow_score_probability"
#: Histogram: 90-day forecasts of the customers in published changes, by ``score``
#: (``expected_purchases_90d``, ``expected_value_90d``).
SCORE_FORECASTS = "segflow_score_forecast"
#: Gauge: the value model this worker's trainer fitted last, by ``parameter`` (BG/NBD
#: ``r``, ``alpha`` (days), ``a``, ``b``; Gamma-Gamma ``p``, ``q``, ``v``; ``customers``).
VALUE_MODEL = "segflow_value_model"
#: Gauge: the purchase propensity measured prequentially by this worker's trainer, by
#: ``statistic`` (``auc``, ``calibration_error``, ``labelled``).
PROPENSITY_QUALITY = "segflow_propensity_quality"
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
PROBABILITY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
FORECAST_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 100.0, 250.0, 1000.0, 5000.0)

COUNTERS = (
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
    PROFILE_WRITES,
    FORWARDED,
    RETIREMENT_MOVES,
    SNAPSHOTS_REJECTED,
    INTERNAL_ERRORS,
    IDENTITY,
    KAFKA_COMMITS,
)
GAUGES = (
    SEGMENT_CUSTOMERS,
    SEGMENT_MODEL_SHARE,
    PROFILES,
    UNASSIGNED,
    UNWRITTEN,
    MODEL_VERSION,
    MODEL_SEQ,
    MODEL_CENTROID_SHIFT,
    VALUE_MODEL,
    PROPENSITY_QUALITY,
    READY,
    KAFKA_LAG,
    KAFKA_COMMITTED,
    KAFKA_END,
    KAFKA_READ,
)
HISTOGRAMS = (
    RECORD_AGE,
    CHANGE_LATENCY_EVENT,
    CHANGE_LATENCY_INGEST,
    MODEL_MAX_CENTROID_SHIFT,
    SCORE_PROBABILITIES,
    SCORE_FORECASTS,
    KAFKA_COMMIT_LATENCY,
)


def exported_names() -> list[str]:
    """Every sample name a worker exports (with ``_total``, ``_bucket``... suffixes).

    >>> "segflow_dead_letters_total" in exported_names()
    True
    >>> "segflow_change_latency_from_event_seconds_bucket" in exported_names()
    True
    """
    names = [f"{n}_total" for n in COUNTERS] + list(GAUGES)
    for n in HISTOGRAMS:
        names += [f"{n}_bucket", f"{n}_sum", f"{n}_count"]
    return sorted(names)
