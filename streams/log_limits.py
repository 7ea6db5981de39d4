"""A worker's log stays readable when things go wrong: one line per failure, and a
failure that repeats is logged once per window with how often it happened.

- :class:`RepeatFilter` lets the first record of a kind (logger, level, message
  template) through and holds back its repeats for ``window_s`` seconds; the next
  one let through says how many were held back.
- :class:`OneLineErrors` writes an exception as ``Type: first line of its message``
  instead of a traceback (a traceback is kept at debug level).

>>> now = [0.0]
>>> repeats = RepeatFilter(window_s=10.0, clock=lambda: now[0])
>>> def record(msg):
...     return logging.LogRecord("aiokafka", logging.ERROR, "", 0, msg, (), None)
>>> [repeats.filter(record("OffsetCommit failed")) for _ in range(3)]
[True, False, False]
>>> now[0] = 11.0
>>> later = record("OffsetCommit failed")
>>> repeats.filter(later), later.getMessage()
(True, 'OffsetCommit failed (2 more like this in the last 10 s)')
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RepeatFilter(logging.Filter):
    """At most one record per (logger, level, message template) per ``window_s``."""

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window_s = window_s
        self.clock = clock
        #: kind -> (when it was last let through, how many were held back since).
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        shown = self._seen.get(kind)
        if shown is not None and now - shown[0] < self.window_s:
            self._seen[kind] = (shown[0], shown[1] + 1)
            return False
        held = shown[1] if shown is not None else 0
        self._seen[kind] = (now, 0)
        if held:
            record.msg = (
                f"{record.getMessage()} ({held} more like this in the last {self.window_s:g} s)"
            )
            record.args = ()
        if len(self._seen) > 10_000:  # many distinct messages: forget the oldest
            for key in sorted(self._seen, key=lambda k: self._seen[k][0])[:5_000]:
                del self._seen[key]
        return True


class OneLineErrors(logging.Formatter):
    """Format like ``base``, an exception as one line (``Type: message``) after it."""

    def __init__(self, base: logging.Formatter | None) -> None:
        super().__init__()
        self.base = base or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        if not record.exc_info or record.exc_info[1] is None:
            return self.base.format(record)
        error = record.exc_info[1]
        first = (str(error).strip().splitlines() or [""])[0]
        brief = logging.makeLogRecord(record.__dict__)
        brief.exc_info, brief.exc_text = None, None
        brief.msg = f"{record.getMessage()}: {type(error).__name__}: {first}".rstrip(": ")
        brief.args = ()
        return self.base.format(brief)


def install(root: logging.Logger, level: int, window_s: float = 10.0) -> None:
    """Put a :class:`RepeatFilter` on every handler of ``root`` and, above debug level,
    :class:`OneLineErrors` as their formatter."""
    repeats = RepeatFilter(window_s)
    for handler in root.handlers:
        handler.addFilter(repeats)
        if level > logging.DEBUG:
            handler.setFormatter(OneLineErrors(handler.formatter))
