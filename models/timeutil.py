"""Conversions between aware datetimes and epoch seconds (no clock reads here)."""

from __future__ import annotations

from datetime import UTC, datetime

DAY = 86_400.0
#: The range of an aware datetime, in epoch seconds: times outside it are clamped.
MIN_EPOCH = datetime.min.replace(tzinfo=UTC).timestamp()
MAX_EPOCH = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()


def to_epoch(moment: datetime) -> float:
    """Seconds since the epoch of an aware datetime."""
    return moment.timestamp()


def from_epoch(seconds: float) -> datetime:
    """The aware UTC datetime of ``seconds`` since the epoch, clamped to the years 1-9999
    a datetime can hold (the sweep may look a day past an event on 9999-12-31).

    >>> from_epoch(1e300).year, from_epoch(-1e300).year
    (9999, 1)
    """
    return datetime.fromtimestamp(min(max(seconds, MIN_EPOCH), MAX_EPOCH), tz=UTC)


def rfc3339(seconds: float) -> str:
    """RFC 3339 text (UTC, ``Z``) of ``seconds`` since the epoch, to the microsecond."""
    text = from_epoch(seconds).isoformat()
    return text.replace("+00:00", "Z")
