"""``segflow webhooks`` against a local HTTP server that fails some requests: retries
with backoff, signed, one success per change, the rest dead-lettered, offsets kept."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
from kafkatest import TopicReader, isolated_settings, prepare, producer

from segflow.models.changes import SegmentChange, change_id
from segflow.streams.broker import LocalBroker
from segflow.streams.setting_groups import WebhookSettings
from segflow.streams.webhooks import Deliverer, run_webhooks

pytestmark = pytest.mark.kafka

SECRET = "s3cret-webhook-key"
AT = datetime(2026, 3, 2, tzinfo=UTC)


def change(customer: str, kind: str, before: str | None, to: str | None) -> SegmentChange:
    return SegmentChange(
        change_id=change_id(customer, kind, 1), customer_id=customer, kind=kind,  # type: ignore[arg-type]
        from_segment=before, to_segment=to, from_name=None, to_name=None, model_version=None,
        occurred_at=AT, emitted_at=AT, cause_event_id=None, scores={"engagement": 1.0},
        reasons=[], seq=1,
    )  # fmt: skip


class Receiver(BaseHTTPRequestHandler):
    """Fails each change's first two attempts (503); ``always_500`` and ``refuse`` keys
    always fail (500) or are refused (400)."""

    attempts: ClassVar[Counter[str]] = Counter()
    delivered: ClassVar[list[tuple[dict[str, str], bytes]]] = []
    always_500: ClassVar[set[str]] = set()
    refuse: ClassVar[set[str]] = set()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers["Idempotency-Key"]
        self.attempts[key] += 1
        if key in self.refuse:
            status = 400
        elif key in self.always_500:
            status = 500
        else:
            status = 503 if self.attempts[key] <= 2 else 200
        if status == 200:
            self.delivered.append((dict(self.headers), body))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_changes_are_posted_signed_retried_and_dead_lettered(
    broker: LocalBroker, tmp_path: Path, receiver: str
) -> None:
    hooks = WebhookSettings(
        url=receiver, secret=SECRET, segments=("seg-1", "seg-2"), kinds=("entered", "moved"),
        max_attempts=4, backoff_s=0.01, max_backoff_s=0.05,
    )  # fmt: skip
    settings = isolated_settings(broker, tmp_path, webhooks=hooks)
    prepare(settings)
    entered, moved = (
        change("c1", "behavioral", None, "seg-1"),
        change("c2", "behavioral", "seg-1", "seg-2"),
    )
    other = change("c3", "rule", None, "vip")  # not a configured segment
    exit_only = change("c4", "behavioral", "seg-2", None)  # an exit: not a configured kind
    failing, refused = (
        change("c5", "behavioral", None, "seg-2"),
        change("c6", "rule", None, "seg-1"),
    )
    Receiver.always_500, Receiver.refuse = {failing.change_id}, {refused.change_id}
    sending = producer(settings)
    for c in (entered, moved, other, exit_only, failing, refused):
        sending.send(settings.topics.changes, key=c.customer_id.encode(),
                     value=c.model_dump_json().encode())  # fmt: skip
    sending.send(settings.topics.changes, key=b"junk", value=b"{not a change")
    sending.flush()
    sending.close()

    counts = run_webhooks(settings, Deliverer(settings), idle_timeout=3.0)
    assert counts == Counter(delivered=2, dead_lettered=3, skipped=2)
    # Each delivered once, after two 503s; signed; the body is the change as on the topic.
    assert sorted(h["Idempotency-Key"] for h, _ in Receiver.delivered) == sorted(
        [entered.change_id, moved.change_id]
    )
    assert Receiver.attempts[entered.change_id] == Receiver.attempts[moved.change_id] == 3
    for headers, body in Receiver.delivered:
        signed = headers["X-Segflow-Timestamp"].encode() + b"." + body
        expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert headers["X-Segflow-Signature"] == f"sha256={expected}"
        assert SegmentChange.model_validate_json(body).change_id == headers["Idempotency-Key"]
    assert Receiver.attempts[failing.change_id] == 4 and Receiver.attempts[refused.change_id] == 1
    reader = TopicReader(settings, settings.topics.webhook_dead_letters)
    letters = [orjson.loads(r.value) for r in reader.drain()]
    reader.close()
    assert sorted((d["reason"], d["attempts"], d["last_status"]) for d in letters) == [
        ("attempts_exhausted", 4, 500), ("not_a_change", 0, None), ("refused", 1, 400)
    ]  # fmt: skip
    # Offsets were committed: a restarted process delivers nothing again.
    assert run_webhooks(settings, Deliverer(settings), idle_timeout=2.0) == Counter()
