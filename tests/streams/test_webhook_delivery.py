"""The webhook deliverer's retries, with a fake POST and sleep (no network, no Kafka)."""

from __future__ import annotations

from datetime import UTC, datetime

from segflow.models.changes import SegmentChange
from segflow.streams.setting_groups import WebhookSettings
from segflow.streams.settings import Settings
from segflow.streams.webhooks import Deliverer

AT = datetime(2026, 3, 2, tzinfo=UTC)


def change(before: str | None, to: str | None) -> SegmentChange:
    return SegmentChange(
        change_id="x", customer_id="c1", kind="behavioral", from_segment=before, to_segment=to,
        from_name=None, to_name=None, model_version=None, occurred_at=AT, emitted_at=AT,
        cause_event_id=None, scores={}, reasons=[],
    )  # fmt: skip


def test_the_deliverer_stops_at_the_first_success_or_a_refusal() -> None:
    settings = Settings(webhooks=WebhookSettings(url="http://127.0.0.1:9/x", max_attempts=5))
    answers = iter([None, 503, 429, 200])
    slept: list[float] = []
    deliverer = Deliverer(settings, post=lambda *a: next(answers), sleep=slept.append)
    got = deliverer.deliver(change(None, "s1"), b"{}")
    assert (got.delivered, got.attempts, got.status, len(slept)) == (True, 4, 200, 3)
    refused = Deliverer(settings, post=lambda *a: 404, sleep=slept.append)
    assert refused.deliver(change(None, "s1"), b"{}").attempts == 1
