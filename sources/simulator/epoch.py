"""The simulator's clock-free time: whole microseconds since the Unix epoch, in UTC.

Integers keep every draw exact and every sort stable; :func:`moment` turns one back into
an aware datetime.

>>> us = epoch_us(datetime(2026, 9, 1, 9, 30, tzinfo=UTC))
>>> us % DAY == 9 * HOUR + 30 * 60 * SECOND, moment(us).isoformat()
(True, '2026-09-01T09:30:00+00:00')
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

SECOND = 1_000_000  # microseconds
HOUR = 3600 * SECOND
DAY = 24 * HOUR
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EXACT_FLOAT_US = 2**31 * SECOND  # |seconds| < 2**31: a double is within 2**-22 s


def epoch_us(at: datetime) -> int:
    """Microseconds from the epoch to the aware ``at``."""
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds


def moment(us: int) -> datetime:
    """The UTC datetime ``us`` microseconds after the epoch."""
    if -_EXACT_FLOAT_US < us < _EXACT_FLOAT_US:
        # Faster, and exact: the float is within a quarter microsecond, rounding recovers it.
        return datetime.fromtimestamp(us / SECOND, UTC)
    return EPOCH + timedelta(microseconds=us)
