"""``segflow webhooks``: POST the segment changes that fire a trigger to a URL.

A consumer group of its own (``<app id>-webhooks``) reads ``segment-changes``; each
change that fires (:func:`segflow.models.triggers.fires`: the configured segments and
kinds) is POSTed as the JSON it is on the topic, with the headers

- ``Idempotency-Key``: the change's ``change_id`` (the same on every retry and every
  redelivery: the receiver drops repeats by it),
- ``X-Segflow-Timestamp`` and ``X-Segflow-Signature`` (``sha256=`` HMAC-SHA256 of
  ``<timestamp>.<body>`` under ``SEGFLOW_WEBHOOKS__SECRET``; none without a secret).

A 2xx answer delivers it. No answer, 408, 429 and 5xx are retried with exponential
backoff and jitter, up to ``SEGFLOW_WEBHOOKS__MAX_ATTEMPTS``; any other answer, or the
attempts used up, sends the change to ``segflow-webhook-dead-letters`` with the reason
(acknowledged by the broker). Offsets are committed only after every change before
them was delivered or dead-lettered: at least once.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from segflow.models.changes import SegmentChange
from segflow.models.triggers import backoff, fires, retryable, signature

from .argtypes import positive_float
from .cli_common import EXIT_OK, UsageError, add_broker, require_broker, settings_from
from .errors import CommandError
from .settings import Settings

log = logging.getLogger("segflow.webhooks")

#: ``post(url, body, headers, timeout)``: the HTTP status, or None when nobody answered.
Post = Callable[[str, bytes, dict[str, str], float], int | None]


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int | None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return None


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one change went: delivered or not, after how many attempts, the last status."""

    delivered: bool
    attempts: int
    status: int | None


class Deliverer:
    """POSTs one change with retries (the clock and the sleep are passed in for tests)."""

    def __init__(
        self,
        settings: Settings,
        post: Post = http_post,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.config = settings.webhooks
        if self.config.url is None:
            raise UsageError("segflow webhooks: no URL (--url or SEGFLOW_WEBHOOKS__URL)")
        self.url = str(self.config.url)
        secret = self.config.secret
        self.secret = secret.get_secret_value().encode() if secret is not None else None
        self.post, self.sleep, self.clock = post, sleep, clock
        self.rng = rng or random.Random(0)

    def headers(self, change: SegmentChange, body: bytes) -> dict[str, str]:
        stamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "segflow-webhooks",
            "Idempotency-Key": change.change_id,
            "X-Segflow-Timestamp": stamp,
        }
        if self.secret is not None:
            headers["X-Segflow-Signature"] = signature(self.secret, stamp, body)
        return headers

    def deliver(self, change: SegmentChange, body: bytes) -> Delivery:
        status: int | None = None
        for attempt in range(1, self.config.max_attempts + 1):
            status = self.post(self.url, body, self.headers(change, body), self.config.timeout_s)
            if status is not None and 200 <= status < 300:
                return Delivery(True, attempt, status)
            if not retryable(status) or attempt == self.config.max_attempts:
                return Delivery(False, attempt, status)
            self.sleep(backoff(attempt, self.config, self.rng))
        return Delivery(False, self.config.max_attempts, status)


class WebhookDeadLetter(BaseModel):
    """The JSON value on ``segflow-webhook-dead-letters``."""

    model_config = ConfigDict(frozen=True)

    reason: Literal["attempts_exhausted", "refused", "not_a_change"]
    attempts: int
    last_status: int | None = Field(description="The last HTTP status (null: no answer).")
    source_topic: str
    source_partition: int
    source_offset: int
    change: str = Field(description="The change as it was on segment-changes.")


def dead_letter(record: Any, reason: str, delivery: Delivery | None) -> bytes:
    """The dead letter of a change that was not delivered (or not a change at all)."""
    letter = WebhookDeadLetter(
        reason=reason,
        attempts=delivery.attempts if delivery is not None else 0,
        last_status=delivery.status if delivery is not None else None,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        change=(record.value or b"").decode("utf-8", "replace"),
    )
    return letter.model_dump_json().encode()


def run_webhooks(
    settings: Settings,
    deliverer: Deliverer,
    idle_timeout: float | None = None,
    stop: threading.Event | None = None,
) -> Counter[str]:
    """Deliver until ``stop`` is set or ``idle_timeout`` passes without a change; the
    counts by outcome (``delivered``, ``dead_lettered``, ``skipped``)."""
    from kafka import KafkaConsumer

    from .producer import kafka_producer

    consumer = KafkaConsumer(
        settings.topics.changes,
        bootstrap_servers=settings.bootstrap_servers.split(","),
        group_id=f"{settings.app_id}-webhooks",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(settings.session_timeout_s * 1000),
        heartbeat_interval_ms=int(settings.heartbeat_interval_s * 1000),
    )
    producer = kafka_producer(settings, acks="all")
    counts: Counter[str] = Counter()
    last = time.monotonic()
    try:
        while stop is None or not stop.is_set():
            batches = consumer.poll(timeout_ms=200, max_records=500)
            if not batches:
                if not consumer.assignment():  # still joining the group: not idle yet
                    last = time.monotonic()
                elif idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    break
                continue
            last = time.monotonic()
            for records in batches.values():
                for record in records:
                    counts[handle(record, settings, deliverer, producer)] += 1
            consumer.commit()
    finally:
        consumer.close()
        producer.close()
    return counts


def handle(record: Any, settings: Settings, deliverer: Deliverer, producer: Any) -> str:
    """Deliver one record if it fires; dead-letter it if that fails. Its outcome."""
    try:
        change = SegmentChange.model_validate_json(record.value)
    except (ValidationError, ValueError):
        letter, outcome = dead_letter(record, "not_a_change", None), "dead_lettered"
    else:
        if not fires(change, settings.webhooks):
            return "skipped"
        delivery = deliverer.deliver(change, record.value)
        if delivery.delivered:
            return "delivered"
        why = "attempts_exhausted" if retryable(delivery.status) else "refused"
        log.warning("change %s not delivered: %s (%s)", change.change_id, why, delivery.status)
        letter, outcome = dead_letter(record, why, delivery), "dead_lettered"
    topic = settings.topics.webhook_dead_letters
    producer.send(topic, key=record.key, value=letter).get(timeout=30)
    return outcome


def add_webhooks_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "webhooks",
        help="POST segment changes to a URL (triggers)",
        description="Deliver the segment changes that fire (SEGFLOW_WEBHOOKS__SEGMENTS, "
        "__KINDS) to a URL, signed, with retries; undeliverable ones are dead-lettered.",
    )
    add_broker(parser)
    parser.add_argument("--url", help="where to POST (default SEGFLOW_WEBHOOKS__URL)")
    parser.add_argument(
        "--idle-timeout",
        type=positive_float,
        help="exit after this many seconds without a change (default: run until Ctrl-C)",
    )
    parser.set_defaults(handler=cmd_webhooks)


def cmd_webhooks(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.url is not None:
        hooks = settings.webhooks.model_copy(update={"url": args.url})
        settings = settings.model_copy(update={"webhooks": hooks})
    deliverer = Deliverer(settings)
    require_broker(settings)
    try:
        counts = run_webhooks(settings, deliverer, idle_timeout=args.idle_timeout)
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as error:
        if type(error).__module__.startswith("kafka"):  # the broker went away: one line
            raise CommandError(f"webhooks on {settings.bootstrap_servers}: {error}") from None
        raise
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing"
    print(f"webhooks: {summary}", file=sys.stderr)
    return EXIT_OK
