"""Online k-means with a true half-life, k-means++ seeding and stable segment ids.

:class:`SegmentClusterer` is a River clusterer (``learn_one`` / ``predict_one``
on dicts). What it adds to River's ``KMeans``:

* **A real half-life.** Before each update every cluster's weight is multiplied
  by ``2 ** (-1 / halflife)`` (or by the elapsed time over a half-life when
  updates carry a time), and the winning centre moves by ``1 / weight``: after
  ``halflife`` updates old evidence weighs exactly half, as in Spark's
  StreamingKMeans. River's ``halflife`` is a fixed step size instead.
* **Good seeds.** After ``warmup`` points (and ``warmup_time``), the centres are
  seeded by k-means++ (best of ``n_init``) over a reservoir of the latest
  warm-up points and polished by Lloyd passes to convergence, not drawn at random.
* **Online standardization.** A decayed mean and variance per feature; centres
  are kept in the input space and distances are measured in standard units, so
  the scale can move without invalidating the centres.
* **Stable identities.** Each centre carries an id that it keeps while it moves.
  A point far outside every cluster (more than ``outlier_factor`` times the
  nearest cluster's RMS radius) does not drag that centre away: it waits in an
  outlier buffer. A centre whose weight dies out, or that collapses onto another
  one, is re-seeded under a new id, from the outliers first (greedy k-means++);
  when the outliers outweigh the weakest cluster, they replace it as a new one.

Examples
--------
>>> import random
>>> rng = random.Random(1)
>>> model = SegmentClusterer(n_clusters=2, warmup=50, seed=3)
>>> for i in range(400):
...     centre = 0.0 if i % 2 else 10.0
...     model.learn_one({"a": centre + rng.gauss(0, 1), "b": centre + rng.gauss(0, 1)})
>>> model.predict_one({"a": 0.2, "b": -0.1}) != model.predict_one({"a": 9.8, "b": 10.3})
True
>>> sorted(model.ids)
[1, 2]
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from river import base

from .centroids import NO_CLUSTER as NO_CLUSTER
from .centroids import CentroidReader, CentroidView
from .reseeding import Reseeding

#: The warm-up's clock starts at this quantile of the warm-up points' times.
WARMUP_START_QUANTILE = 0.1


#: The state ``to_state`` keeps: plain values, lists, lists of points, numpy arrays.
_PLAIN = (
    "n_updates",
    "last_t",
    "next_id",
    "outlier_weight",
    "scale_weight",
    "first_t",
    "span_count",
    "births",
    "deaths",
    "refits",
    "warm_start",
)
_LISTS = ("ids", "stamps")
_ROWS = ("outliers", "ring")
_ARRAYS = ("centers", "weights", "r2", "mean", "m2")


class SegmentClusterer(CentroidReader, Reseeding, base.Clusterer):
    """Online k-means with a half-life, k-means++ seeding and stable ids.

    Parameters
    ----------
    n_clusters
        Number of clusters (segments).
    halflife
        After this many updates (or this much time, with ``time_based``) old
        evidence weighs half.
    time_based
        Count the half-life in the time ``t`` given to ``learn_one``, not in updates.
    warmup
        Points gathered before the centres are seeded with k-means++.
    warmup_time
        Time (of ``t``) that must also pass from the first point before seeding,
        so the seeds see profiles that had time to fill.
    recent
        Size of the reservoir of recent points: seeding, refits and re-seeding
        draw from it. A new point takes a random slot, so ages are exponential.
    recent_time
        With times given to ``learn_one``, the reservoir aims to span this much
        time (points are admitted with probability ``recent / points-per-span``),
        so a weekly rhythm in who sends samples does not skew it. 0: admit all.
    death_share
        A cluster whose weight falls under this share of the mean weight is dead.
    merge_distance
        Two centres closer than this (standard units) are one cluster.
    outlier_factor
        A point further than this many RMS radii from its nearest centre is an
        outlier: it does not move the centre and may found a new cluster.
    maintain_every
        Updates between checks for dead or merged clusters.
    refit_every
        Updates between refits: k-means++ and Lloyd over the recent points; when the
        fresh solution has at least ``refit_gain`` less inertia than the current
        centres it replaces them, each new centre keeping the id of the old cluster
        whose members make up most of its own (over the recent points), or of the old
        centre it is closer to than ``match_distance``; the others get new ids.
        This is how the model escapes a poor early seeding and finds a genuinely
        new cluster. 0 turns refits off.
    refit_gain
        Relative inertia gain a refit must bring to be adopted.
    match_distance
        Largest distance (standard units) at which a refitted centre inherits the id of
        the old one paired with it even when they share less than half their members.
    n_init
        k-means++ seedings tried on the warm-up reservoir; the best is kept.
    features
        Feature names, in order. By default, the keys of the first point.
    seed
        Seed of every random choice (reproducible).
    """

    def __init__(
        self,
        n_clusters: int = 6,
        halflife: float = 20_000.0,
        time_based: bool = False,
        warmup: int = 600,
        warmup_time: float = 0.0,
        recent: int = 2_000,
        recent_time: float = 0.0,
        death_share: float = 0.1,
        merge_distance: float = 0.5,
        outlier_factor: float = 3.0,
        maintain_every: int = 500,
        refit_every: int = 2_500,
        refit_gain: float = 0.05,
        match_distance: float = 3.0,
        n_init: int = 5,
        features: Sequence[str] | None = None,
        seed: int = 42,
    ) -> None:
        self.n_clusters = n_clusters
        self.halflife = halflife
        self.time_based = time_based
        self.warmup = warmup
        self.warmup_time = warmup_time
        self.recent = recent
        self.recent_time = recent_time
        self.death_share = death_share
        self.merge_distance = merge_distance
        self.outlier_factor = outlier_factor
        self.maintain_every = maintain_every
        self.refit_every = refit_every
        self.refit_gain = refit_gain
        self.match_distance = match_distance
        self.n_init = n_init
        self.features = list(features) if features is not None else None
        self.seed = seed

        self.n_updates = 0
        self.first_t: float | None = None
        #: When the warm-up's clock started (see ``_warm_enough``); None until known.
        self.warm_start: float | None = None
        self.last_t: float | None = None
        self.next_id = 1
        self.ids: list[int] = []
        self.centers: np.ndarray | None = None
        self.weights: np.ndarray | None = None
        self.r2: np.ndarray | None = None
        self.outliers: list[list[float]] = []
        self.outlier_weight = 0.0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None
        self.scale_weight = 0.0
        self.ring: list[list[float]] = []
        self.stamps: list[float] = []
        self.span_count = 0.0
        self.births = 0
        self.deaths = 0
        self.refits = 0
        #: A refit deferred by ``learn_one(defer_refit=True)`` waits (not in the state).
        self.refit_due = False
        # What prediction reads, built once per model state (see ``_view``).
        self._view: CentroidView | None = None

    # -- vectors ----------------------------------------------------------------------

    def _vector(self, x: Mapping[Any, Any]) -> np.ndarray:
        if self.features is None:
            self.features = sorted(str(key) for key in x)
        if self.mean is None:
            return np.array([float(x.get(name, 0.0)) for name in self.features])
        # A missing feature takes the running mean: it pulls towards no cluster.
        mean = self.mean
        return np.array(
            [
                float(x[name]) if name in x else float(mean[i])
                for i, name in enumerate(self.features)
            ]
        )

    @property
    def is_seeded(self) -> bool:
        """Whether the centres exist (the warm-up is over)."""
        return self.centers is not None

    @property
    def scale(self) -> np.ndarray:
        """The running standard deviation of each feature (never zero)."""
        assert self.m2 is not None
        var = self.m2 / max(self.scale_weight, 1e-12)
        return np.sqrt(np.maximum(var, 1e-12)) + 1e-6

    # -- learning ---------------------------------------------------------------------

    def learn_one(
        self, x: dict[Any, Any], t: float | None = None, defer_refit: bool = False
    ) -> None:
        """Learn one point, seen at time ``t`` (optional).

        With ``defer_refit``, a refit that falls due is not computed here: ``refit_due``
        is set, and the caller computes :meth:`refit_job` with
        :func:`~.kmeans.best_of` (in another process, say) and hands the result to
        :meth:`adopt_refit` before the next point, which gives the same model."""
        self._view = None
        v = self._vector(x)
        previous_t = self.last_t
        factor = self._decay(t)
        elapsed = 0.0 if t is None or previous_t is None else max(0.0, t - previous_t)
        self._update_scale(v, factor)
        self.n_updates += 1
        stamp = t if self.time_based and t is not None else float(self.n_updates)
        self._remember(v, elapsed, stamp)
        if self.centers is None or self.weights is None:
            if self.n_updates >= self.warmup and self._warm_enough():
                self._seed()
            return
        assert self.r2 is not None
        self.weights *= factor
        self.outlier_weight *= factor
        d2 = self._sq_distances(v)
        j = int(np.argmin(d2))
        # A cluster of identical points (all-zero dormant customers) has no radius: floor it.
        radius2 = max(float(self.r2[j]), 0.25 * statistics.median(self.r2.tolist()))
        if d2[j] > self.outlier_factor**2 * radius2:
            self.outliers.append(v.tolist())
            del self.outliers[: max(0, len(self.outliers) - self.recent)]
            self.outlier_weight += 1.0
        else:
            self.weights[j] += 1.0
            self.centers[j] += (v - self.centers[j]) / self.weights[j]
            self.r2[j] += (float(d2[j]) - self.r2[j]) / self.weights[j]
        if self.n_updates % self.maintain_every == 0:
            self._maintain()
        if self.refit_every and self.n_updates % self.refit_every == 0:
            if defer_refit:
                self.refit_due = True
            else:
                self._refit()

    def _decay(self, t: float | None) -> float:
        elapsed = 0.0
        if t is not None:
            if self.first_t is None:
                self.first_t = t
            if self.last_t is not None and t > self.last_t:
                elapsed = t - self.last_t
            if self.last_t is None or t > self.last_t:
                self.last_t = t
        if not self.time_based:
            return float(2.0 ** (-1.0 / self.halflife))
        return float(2.0 ** (-elapsed / self.halflife))

    def _warm_enough(self) -> bool:
        """Whether the warm-up points span ``warmup_time``, measured from a low quantile
        (:data:`WARMUP_START_QUANTILE`) of the times of the first ``warmup`` points, not
        from the earliest: a few stray points dated long before the rest must not end
        (or hold up) the warm-up. The start is fixed once those points are in: the
        reservoir's later points are mostly recent ones, and a start read from them
        would follow the clock (with many samples a day, the warm-up took half as long
        again)."""
        if self.warmup_time <= 0:
            return True
        if self.last_t is None or not self.time_based or not self.stamps:
            return (
                self.first_t is not None
                and self.last_t is not None
                and self.last_t - self.first_t >= self.warmup_time
            )
        if self.warm_start is None:
            first = self.stamps[: self.warmup]
            self.warm_start = float(np.quantile(first, WARMUP_START_QUANTILE))
        return self.last_t - self.warm_start >= self.warmup_time

    def _update_scale(self, v: np.ndarray, factor: float) -> None:
        if self.mean is None or self.m2 is None:
            self.mean, self.m2, self.scale_weight = v.copy(), np.zeros_like(v), 1.0
            return
        self.scale_weight = self.scale_weight * factor + 1.0
        delta = v - self.mean
        self.mean = self.mean + delta / self.scale_weight
        self.m2 = self.m2 * factor + delta * (v - self.mean)

    def _remember(self, v: np.ndarray, elapsed: float, stamp: float) -> None:
        if len(self.ring) < self.recent:
            self.ring.append(v.tolist())
            self.stamps.append(stamp)
            return
        rng = self._rng()
        if self.recent_time > 0:
            # span_count ~ points seen per recent_time / ln 2 (a decayed count)
            self.span_count = self.span_count * 2.0 ** (-elapsed / self.recent_time) + 1.0
            if rng.random() * self.span_count * math.log(2) > self.recent:
                return
        slot = rng.randrange(self.recent)
        self.ring[slot] = v.tolist()
        self.stamps[slot] = stamp

    def _rng_seed(self) -> int:
        # Derived from the seed and the update count: reproducible, and no RNG state to store.
        return self.seed * 1_000_003 + self.n_updates

    def _rng(self) -> random.Random:
        return random.Random(self._rng_seed())

    # -- state ------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """A JSON-serializable snapshot; ``from_state`` rebuilds an equal model."""
        state: dict[str, Any] = {"params": self._get_params(), "features": self.features}
        state.update({name: getattr(self, name) for name in (*_PLAIN, *_LISTS, *_ROWS)})
        for name in _ARRAYS:
            value = getattr(self, name)
            state[name] = None if value is None else value.tolist()
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SegmentClusterer:
        """The model ``to_state`` described."""
        model = cls(**{**state["params"], "features": state["features"]})
        for name in _PLAIN:
            # A snapshot from before the warm-up's start was kept has none: worked out again.
            setattr(model, name, state.get(name) if name == "warm_start" else state[name])
        for name in _LISTS:
            setattr(model, name, list(state[name]))
        for name in _ROWS:
            setattr(model, name, [list(p) for p in state[name]])
        for name in _ARRAYS:
            value = state[name]
            setattr(model, name, None if value is None else np.array(value, dtype=float))
        return model
