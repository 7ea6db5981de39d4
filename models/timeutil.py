"""Conversions between aware datetimes and epoch seconds (no clock reads here)."""

from __future__ import annotations

from datetime import UTC, datetime

DAY = 86_400.0


def to_epoch(moment: datetime) -> float:
    """Seconds since the epoch of an aware datetime."""
    return moment.timestamp()


def from_epoch(seconds: float) -> datetime:
    """The aware UTC datetime of ``seconds`` since the epoch."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def rfc3339(seconds: float) -> str:
    """RFC 3339 text (UTC, ``Z``) of ``seconds`` since the epoch, to the microsecond."""
    text = from_epoch(seconds).isoformat()
    return text.replace("+00:00", "Z")
