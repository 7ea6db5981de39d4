"""The clustering view of a batch of profiles at once: the batch step's columns.

For every event of a batch the step must know whether the customer stays in its
segment, and nearly always it does. :func:`screen` answers that for the whole batch
together: the decayed counters of the batch's profiles as one array, the site counters
held (:func:`~.features.site_hold`), the clustering features, their scaling and the
distances to every centre computed column by column with numpy, instead of a dict of
every feature, a transformed dict and a distance per centre for each event.

The points are the ones the per-event path computes, bit for bit: the same operations
on the same numbers (a square root, a product, a sum of two columns are correctly
rounded either way; ``log1p`` and the per-customer scalars are computed by the same
Python functions). Only the distances are summed differently, so they serve as a
screen: :meth:`Screen.stays` says a customer stays only when every other segment is
farther than the hysteresis margin allows by a slack far above rounding, and then
gives the distance to its segment as :func:`math.dist` gives it on the per-event path.
Anything closer is left to :func:`~.policy.decide`.

>>> from segflow.models.config import EngineConfig
>>> from segflow.models.model import SegmentModel
>>> screen([], SegmentModel.create(EngineConfig())) is None  # no segments yet
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .features import (
    LINEAR_FEATURES,
    LOG_FEATURES,
    SITE_COUNTERS,
    SQRT_FEATURES,
    STAGE_PAGES,
    email_rates,
    site_hold,
)
from .model import SegmentModel, segment_key
from .profile import COUNTER_INDEX, COUNTERS, Profile
from .timeutil import DAY

#: A customer stays without :func:`~.policy.decide` only when every other segment is
#: farther than the margin allows by this share (and :data:`FLOOR`): the screen's sums
#: differ from :func:`math.dist` by a few units of the last place (about 1e-15).
SLACK = 1e-9
FLOOR = 1e-12

_SITE = [COUNTER_INDEX[name] for name in SITE_COUNTERS]
_HELD = {name: k for k, name in enumerate(SITE_COUNTERS)}
_RATES = [COUNTER_INDEX[name] for name in ("rate_sent", "rate_opens", "rate_clicks")]
_UNOPENED = COUNTER_INDEX["rate_unopened"]


@dataclass(frozen=True, slots=True)
class Screen:
    """The batch's customers against the model's segments (see the module docstring)."""

    #: Column of each segment (public id).
    columns: dict[str, int]
    #: Each customer's scaled point, as the per-event path computes it.
    points: list[list[float]]
    #: The centres in the same units.
    centres: list[list[float]]
    #: Per customer, its distance to each segment it may be in (inf: a dormant one
    #: while it has not lapsed), the nearest column, and the two smallest distances.
    allowed: list[list[float]]
    nearest: list[int]
    first: list[float]
    second: list[float]

    def stays(self, i: int, segment: str, margin: float) -> float | None:
        """The distance of customer ``i`` to ``segment`` when it surely stays there under
        the hysteresis ``margin`` (the same float the per-event path gives); None when
        :func:`~.policy.decide` must judge."""
        j = self.columns.get(segment)
        if j is None:
            return None
        own = self.allowed[i][j]
        if own == math.inf:
            return None
        other = self.second[i] if self.nearest[i] == j else self.first[i]
        if other < (1.0 - margin) * own * (1.0 + SLACK) + FLOOR:
            return None
        return math.dist(self.centres[j], self.points[i])


def screen(rows: Sequence[tuple[Profile, float]], model: SegmentModel) -> Screen | None:
    """The :class:`Screen` of ``rows`` (a profile and the event time it is judged at)
    under ``model``; None before the model has segments."""
    clusterer = model.clusterer
    if not model.is_ready or not clusterer.ids:
        return None
    config = model.config
    half_life = config.half_life_days * DAY
    counts: list[list[float]] = []
    holds: list[float] = []
    open_rates: list[float] = []
    lapsed: list[bool] = []
    for profile, at in rows:
        values = profile.counts_at(at, half_life)
        hold, alive = site_hold(profile, at, half_life)
        sent, opens, clicks = (values[k] for k in _RATES)
        rate, _, still = email_rates(profile, sent, opens, clicks, values[_UNOPENED], at, half_life)
        email = still if profile.last_open is not None else 1.0
        counts.append(values)
        holds.append(hold)
        open_rates.append(rate)
        lapsed.append(min(alive, email) < config.lapse_gate)
    n = len(counts)
    matrix = np.array(counts, dtype=float).reshape(n, len(COUNTERS))
    held = matrix[:, _SITE] * np.array(holds, dtype=float)[:, None]

    def site(name: str) -> np.ndarray:
        return held[:, _HELD[name]]  # type: ignore[no-any-return]

    other = site("clicks")
    for stage in STAGE_PAGES:
        other = other - site(stage)
    readable = {name: site(name) for name in SQRT_FEATURES if name in _HELD}
    readable["pages_other"] = np.maximum(other, 0.0)
    columns: dict[str, np.ndarray] = {
        name: np.sqrt(np.where(value > 0, value, 0.0)) for name, value in readable.items()
    }
    for name in LOG_FEATURES:
        columns[name] = np.array(
            [math.log1p(v) if v > 0 else 0.0 for v in site(name).tolist()], dtype=float
        )
    linear = {
        "open_rate": np.array(open_rates, dtype=float),
        "clicks_per_session": (site("clicks") + 1.0) / (site("sessions") + 1.0),
    }
    columns.update(linear)
    assert set(columns) == {*SQRT_FEATURES, *LOG_FEATURES, *LINEAR_FEATURES}
    view = clusterer.prediction_view()
    scaled = [
        columns[name] * inverse if name in columns else np.full(n, mean * inverse)
        for name, inverse, mean in zip(view.features, view.inverse_scale, view.mean, strict=True)
    ]
    points = np.column_stack(scaled) if scaled else np.zeros((n, 0))
    centres = np.array(view.scaled, dtype=float)
    diff = points[:, None, :] - centres[None, :, :]
    distances = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    segments = [segment_key(cid) for cid in view.ids]
    barred_segments = model.dormant_segments()
    dormant = np.array([s in barred_segments for s in segments], dtype=bool)
    barred = ~np.array(lapsed, dtype=bool)[:, None] & dormant[None, :]
    allowed = np.where(barred, math.inf, distances)
    order = np.argsort(allowed, axis=1, kind="stable")[:, :2]
    first = np.take_along_axis(allowed, order[:, :1], axis=1)[:, 0]
    second = (
        np.take_along_axis(allowed, order[:, 1:2], axis=1)[:, 0]
        if len(segments) > 1
        else np.full(n, math.inf)
    )
    return Screen(
        columns={s: j for j, s in enumerate(segments)},
        points=points.tolist(),
        centres=[list(row) for row in view.scaled],
        allowed=allowed.tolist(),
        nearest=order[:, 0].tolist(),
        first=first.tolist(),
        second=second.tolist(),
    )
