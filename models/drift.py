"""Segment drift detection with River's ADWIN (no Kafka, no clock: times are passed in).

Two statistics are watched, each by its own ADWIN detector:

- ``share``: per segment, the share of assignments that go to it (a 0/1 stream:
  was this assignment to the segment?);
- ``distance``: per segment, the distance (standard units) of assigned customers to
  the segment's centroid (its mean is the segment's spread around the centroid).

ADWIN keeps an adaptive window and cuts it where the mean on both sides differs
significantly; the cut's two sides are the old and the new level. (Page-Hinkley
would do too; KSWIN costs thousands of times more per update.)

>>> monitor = DriftMonitor(DriftConfig(min_observations=100))
>>> import random
>>> rng = random.Random(0)
>>> found = []
>>> for i in range(4000):
...     p = 0.2 if i < 2000 else 0.7
...     segment = "seg-1" if rng.random() < p else "seg-2"
...     found += monitor.observe(segment, 1.0, model_version=7, detected_at=float(i))
>>> any(d.segment == "seg-1" and d.statistic == "share" and d.new_level > d.old_level
...     for d in found)
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from river import drift

from .model import SegmentModel, segment_key

Statistic = Literal["share", "distance"]


class DriftConfig(BaseModel):
    """How sensitive drift detection is."""

    model_config = ConfigDict(frozen=True)

    #: ADWIN's confidence: smaller means fewer false alarms, later detection.
    delta: float = Field(0.0002, gt=0, lt=1)
    #: Observations of a statistic before it may raise an alert (its level settles).
    min_observations: int = Field(500, ge=1)
    #: Observations of a statistic after an alert before it may raise another.
    cooldown: int = Field(500, ge=0)
    #: Smallest change of level worth an alert (share: absolute; distance: relative).
    #: ADWIN's first cut often comes early, with the new level still mixed with the
    #: old one, so the default lets every significant cut through.
    min_change: float = Field(0.0, ge=0)


class DriftEvent(BaseModel):
    """A detected drift (the JSON value on ``segment-drift``)."""

    model_config = ConfigDict(frozen=True)

    segment: str
    statistic: Statistic
    old_level: float
    new_level: float
    model_version: int | None
    detected_at: datetime
    observations: int
    segment_name: str | None = None


class _Watch:
    """One ADWIN detector on one statistic of one segment."""

    __slots__ = ("adwin", "n", "quiet_until", "total", "width")

    def __init__(self, delta: float) -> None:
        self.adwin = drift.ADWIN(delta=delta)  # type: ignore[no-untyped-call]
        self.n = 0
        self.quiet_until = 0
        # The window's width and sum, kept here (ADWIN's window shrinks only on a
        # drift, when they are read back, and starts anew on the update after one):
        # asking ADWIN for them twice per update cost more than the update.
        self.width = 0.0
        self.total = 0.0

    def update(self, x: float) -> tuple[float, float] | None:
        """Feed ``x``; on a drift, (old level, new level)."""
        adwin = self.adwin
        # (After a drift, ADWIN's next update starts a new window.)
        restart = adwin.drift_detected
        before_width, before_total = (0.0, 0.0) if restart else (self.width, self.total)
        adwin.update(x)  # type: ignore[no-untyped-call]
        self.n += 1
        if not adwin.drift_detected:
            self.width, self.total = before_width + 1.0, before_total + x
            return None
        width = self.width = float(adwin.width)
        self.total = float(adwin.total)
        new = float(adwin.estimation)
        dropped = before_width + 1.0 - width
        old = (before_total + x - new * width) / dropped if dropped > 0 else new
        return old, new


class DriftMonitor:
    """Watches every segment's share of assignments and distance to its centroid."""

    def __init__(self, config: DriftConfig | None = None) -> None:
        self.config = config or DriftConfig()
        self._share: dict[str, _Watch] = {}
        self._distance: dict[str, _Watch] = {}
        self.observations = 0

    def _watch(self, table: dict[str, _Watch], segment: str) -> _Watch:
        watch = table.get(segment)
        if watch is None:
            watch = table[segment] = _Watch(self.config.delta)
        return watch

    def observe(
        self,
        segment: str,
        distance: float | None,
        *,
        model_version: int | None,
        detected_at: float | datetime,
        names: Mapping[str, str] | None = None,
    ) -> list[DriftEvent]:
        """One assignment of a customer to ``segment``, ``distance`` from its centroid.

        Every known segment's share detector sees this assignment (1 for ``segment``,
        0 for the others); a segment seen for the first time starts its own.
        Returns the drifts this observation completes.
        """
        self.observations += 1
        self._watch(self._share, segment)
        cuts: list[tuple[_Watch, tuple[float, float], str, Statistic]] = []
        for key, watch in self._share.items():
            cut = watch.update(1.0 if key == segment else 0.0)
            if cut is not None:
                cuts.append((watch, cut, key, "share"))
        if distance is not None and math.isfinite(distance):
            watch = self._watch(self._distance, segment)
            cut = watch.update(distance)
            if cut is not None:
                cuts.append((watch, cut, segment, "distance"))
        if not cuts:
            return []
        when = (
            detected_at
            if isinstance(detected_at, datetime)
            else datetime.fromtimestamp(detected_at, tz=UTC)
        )
        found = [self._alert(*cut, model_version, when, names) for cut in cuts]
        return [event for event in found if event is not None]

    def _alert(
        self,
        watch: _Watch,
        cut: tuple[float, float] | None,
        segment: str,
        statistic: Statistic,
        model_version: int | None,
        when: datetime,
        names: Mapping[str, str] | None,
    ) -> DriftEvent | None:
        if cut is None or watch.n < self.config.min_observations or watch.n < watch.quiet_until:
            return None
        old, new = cut
        change = abs(new - old)
        if statistic == "distance":
            change /= max(abs(old), 1e-9)
        if change < self.config.min_change:
            return None
        watch.quiet_until = watch.n + self.config.cooldown
        return DriftEvent(
            segment=segment,
            statistic=statistic,
            old_level=round(old, 6),
            new_level=round(new, 6),
            model_version=model_version,
            detected_at=when,
            observations=watch.n,
            segment_name=(names or {}).get(segment),
        )

    def levels(self) -> dict[str, dict[str, float]]:
        """The current level of every watched statistic, by segment."""
        out: dict[str, dict[str, float]] = {}
        for statistic, table in (("share", self._share), ("distance", self._distance)):
            for segment, watch in table.items():
                out.setdefault(segment, {})[statistic] = float(watch.adwin.estimation)
        return out


def centroid_shifts(old: SegmentModel, new: SegmentModel) -> dict[str, float]:
    """How far each segment present in both models moved, in ``new``'s standard units.

    Empty when either model has no segments yet.
    """
    a, b = old.clusterer, new.clusterer
    if a.centers is None or b.centers is None or b.m2 is None:
        return {}
    scale = b.scale
    shifts: dict[str, float] = {}
    for j, cid in enumerate(b.ids):
        if cid not in a.ids or len(a.centers[a.ids.index(cid)]) != len(b.centers[j]):
            continue
        diff = (b.centers[j] - a.centers[a.ids.index(cid)]) / scale
        shifts[segment_key(cid)] = round(float(math.sqrt(float((diff * diff).sum()))), 6)
    return shifts
