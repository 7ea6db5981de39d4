"""bench.latency's reading of the worker's own part of the latency from its metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from bench.latency import bucket_quantile_ms, parse_buckets
from segflow.streams.metric_names import CHANGE_LATENCY_INGEST, RECORD_AGE
from segflow.streams.metrics import Metrics


def test_the_worker_part_is_read_from_its_histogram_between_two_readings() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    for seconds in (0.002, 0.003):  # before the steady phase: not counted
        metrics.latency_ingest.observe(seconds)
    before = parse_buckets(generate_latest(registry).decode(), CHANGE_LATENCY_INGEST)
    for seconds in [0.004] * 90 + [0.03] * 9 + [0.4]:
        metrics.latency_ingest.observe(seconds)
    after = parse_buckets(generate_latest(registry).decode(), CHANGE_LATENCY_INGEST)
    assert after[0.005] - before[0.005] == 90
    assert bucket_quantile_ms(before, after, 0.5) == 5.0  # upper bound of its bucket
    assert bucket_quantile_ms(before, after, 0.99) == 50.0
    assert bucket_quantile_ms(before, after, 1.0) == 500.0
    assert bucket_quantile_ms(after, after, 0.5) is None  # nothing observed in between


def test_each_histogram_is_read_apart() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.latency_ingest.observe(0.004)
    for seconds in (0.02, 0.2):
        metrics.record_age.observe(seconds)
    text = generate_latest(registry).decode()
    empty: dict[float, float] = {}
    assert bucket_quantile_ms(empty, parse_buckets(text, CHANGE_LATENCY_INGEST), 1.0) == 5.0
    assert bucket_quantile_ms(empty, parse_buckets(text, RECORD_AGE), 0.5) == 25.0
    assert bucket_quantile_ms(empty, parse_buckets(text, RECORD_AGE), 1.0) == 250.0
