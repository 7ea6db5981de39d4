"""Which segment changes fire a trigger (a webhook), and how a delivery is signed and
retried: pure pieces of ``segflow webhooks``.

A change is, for a segment it names, an *entry* (the customer comes into it: a first
assignment, a rule entry, the destination of a move), an *exit* (it leaves it: a rule
exit, an erasure or merge exit, the origin of a move), and as a whole a *move* when it
has both sides (a behavioral move from one segment to another).

>>> from datetime import UTC, datetime
>>> at = datetime(2026, 3, 2, tzinfo=UTC)
>>> move = SegmentChange(change_id="x", customer_id="c1", kind="behavioral",
...     from_segment="seg-1", to_segment="seg-2", from_name=None, to_name=None,
...     model_version=3, occurred_at=at, emitted_at=at, cause_event_id=None, scores={},
...     reasons=[])
>>> sorted(trigger_kinds(move, {"seg-2"}))
[('entered', 'seg-2'), ('moved', 'seg-2')]
>>> fires(move, TriggerConfig(segments=("seg-9",)))
False
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Collection
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .changes import SegmentChange

TriggerKind = Literal["entered", "exited", "moved"]


class TriggerConfig(BaseModel):
    """Which changes are delivered, and how hard (``SEGFLOW_WEBHOOKS__*``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    segments: tuple[str, ...] = Field(
        (), description="Segment ids (behavioral or rule) whose changes fire; empty: all."
    )
    kinds: tuple[TriggerKind, ...] = Field(
        ("entered", "exited", "moved"), min_length=1, description="Which kinds fire."
    )
    max_attempts: int = Field(
        6, ge=1, le=100, description="Attempts per change, the first included."
    )
    backoff_s: float = Field(0.5, gt=0, description="Wait before the second attempt.")
    max_backoff_s: float = Field(30.0, gt=0, description="Longest wait between two attempts.")


def trigger_kinds(
    change: SegmentChange, segments: Collection[str] | None
) -> set[tuple[TriggerKind, str]]:
    """(kind, segment) pairs ``change`` is, for the ``segments`` given (None: any)."""

    def wanted(segment: str | None) -> bool:
        return segment is not None and (segments is None or segment in segments)

    found: set[tuple[TriggerKind, str]] = set()
    if wanted(change.to_segment):
        found.add(("entered", str(change.to_segment)))
    if wanted(change.from_segment):
        found.add(("exited", str(change.from_segment)))
    if change.from_segment is not None and change.to_segment is not None:
        for side in (change.from_segment, change.to_segment):
            if wanted(side):
                found.add(("moved", side))
    return found


def fires(change: SegmentChange, config: TriggerConfig) -> bool:
    """Whether ``change`` is delivered under ``config``."""
    segments = set(config.segments) or None
    return any(kind in config.kinds for kind, _ in trigger_kinds(change, segments))


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` HMAC-SHA256 of ``timestamp.body``.

    >>> signature(b"k", "1700000000", b"{}")[:15]
    'sha256=c6ef4734'
    """
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def backoff(attempt: int, config: TriggerConfig, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): exponential,
    capped, with full jitter (spreads retries of many changes apart).

    >>> config = TriggerConfig(backoff_s=1.0, max_backoff_s=8.0)
    >>> [backoff(n, config, random.Random(0)) <= min(8.0, 2.0 ** (n - 1)) for n in (1, 4, 9)]
    [True, True, True]
    """
    ceiling = min(config.max_backoff_s, config.backoff_s * 2.0 ** (attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)


def retryable(status: int | None) -> bool:
    """Whether a failed attempt may succeed later: no answer, 408, 429 or any 5xx.

    >>> [retryable(s) for s in (None, 429, 503, 400, 410)]
    [True, True, True, False, False]
    """
    return status is None or status in (408, 429) or status >= 500
