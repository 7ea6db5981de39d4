"""The HTTP API, metrics page and drift dashboard of two live workers.

A customer owned by worker A is answered when asked at worker B (Faust table
routing); responses validate against the pydantic models of the OpenAPI document;
the dashboard page, rendered by headless Chromium, shows the live segments.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from kafkatest import (
    CHROMIUM,
    WorkerProc,
    get,
    isolated_settings,
    prepare,
    render,
    send_events,
    traffic,
    wait_for_split,
    wait_until,
)

from segflow.models.config import EngineConfig
from segflow.streams import metric_names as metrics
from segflow.streams.broker import LocalBroker
from segflow.streams.partitioning import partition_of
from segflow.streams.settings import Settings
from segflow.streams.views import (
    CustomerView,
    DashboardView,
    ErrorView,
    HealthView,
    SegmentsView,
    openapi_document,
)

OPENAPI_FILE = Path(__file__).resolve().parents[2] / "streams" / "static" / "openapi.json"


def test_openapi_file_is_current() -> None:
    assert json.loads(OPENAPI_FILE.read_text()) == json.loads(json.dumps(openapi_document()))


@pytest.mark.kafka
def test_api_routing_health_metrics_and_dashboard(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    # Each customer's traffic spans hours: let it feed the model at once (the default
    # waits until a customer has been seen for a day).
    engine = EngineConfig(
        max_lateness_hours=24 * 365.0, warmup_samples=40, warmup_days=0, learn_after_hours=0
    )
    settings = isolated_settings(broker, tmp_path, engine=engine)
    prepare(settings)
    a, b = workers(settings), workers(settings)
    events_topic = settings.topics.events

    wait_for_split(a, b, events_topic, disjoint=False)
    assert wait_until(lambda: get(a.port, "/healthz")[0] == 200 == get(b.port, "/healthz")[0])
    HealthView.model_validate_json(get(a.port, "/healthz")[1])

    events = traffic("api", 60, 3)
    send_events(settings, events)

    # Every event applied (counted over both workers) and a model published.
    def applied() -> int:
        return sum((w.stats() or {}).get("counts", {}).get("events_applied", 0) for w in (a, b))

    assert wait_until(lambda: applied() == len(events)), applied()
    # With a model ready, one more event per customer: every one gets a segment.
    assert wait_until(lambda: all((w.stats() or {}).get("model", {}).get("ready") for w in (a, b)))
    more = [e for e in traffic("api", 60, 4) if e.event_id.endswith("-3")]
    send_events(settings, more)
    assert wait_until(lambda: applied() == len(events) + len(more)), applied()

    # Customers: each asked at the worker that does NOT own it.
    owner_a = a.assignment(events_topic)
    checked = {"a": 0, "b": 0}
    for c in range(0, 60, 7):
        cid = f"api-{c:03d}"
        partition = partition_of(cid.encode(), settings.partitions)
        owner, other = ("a", b) if partition in owner_a else ("b", a)
        status, body = get(other.port, f"/customers/{cid}")
        assert status == 200, body
        view = CustomerView.model_validate_json(body)
        assert view.customer_id == cid
        assert sum(view.event_counts.values()) >= 3
        assert view.served_by.endswith(f":{(a if owner == 'a' else b).port}")
        checked[owner] += 1
    assert checked["a"] and checked["b"], checked
    status, body = get(a.port, "/customers/nobody-here")
    assert status == 404
    ErrorView.model_validate_json(body)

    # Segments: sizes summed over both workers equal the assigned customers.
    status, body = get(b.port, "/segments")
    assert status == 200, body
    segments = SegmentsView.model_validate_json(body)
    assert segments.complete and segments.workers == 2
    assert segments.segments and all(s.name and s.centroid for s in segments.segments)
    assert sum(s.size for s in segments.segments) == 60

    # Metrics: the live page exports the documented names.
    status, body = get(a.port, "/metrics")
    assert status == 200
    text = body.decode()
    for name in (metrics.EVENTS_CONSUMED, metrics.SEGMENT_CUSTOMERS, metrics.KAFKA_LAG,
                 metrics.READY, metrics.CHANGE_LATENCY_EVENT):  # fmt: skip
        assert name in text, name
    assert f"{metrics.READY} 1.0" in text

    # Dashboard data merged over both workers.
    status, body = get(a.port, "/dashboard/data")
    assert status == 200, body
    dashboard = DashboardView.model_validate_json(body)
    assert dashboard.workers == 2 and sum(dashboard.sizes.values()) == 60
    assert dashboard.changes and dashboard.transitions

    # The page, as headless Chromium renders it.
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), "install Debian's chromium"
    dom = render(a.port, tmp_path / "chromium")
    assert "segflow: segment drift" in dom
    assert "2 worker(s)" in dom, dom[-2000:]
    for segment in dashboard.sizes:
        assert f'data-segment="{segment}"' in dom
    assert "api-" in dom  # latest changes list customers
