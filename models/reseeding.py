"""Seeding, refits and re-seeding of a clusterer's centres from its recent points.

The part of :class:`~.clustering.SegmentClusterer` that replaces centres rather than
moving them: the first k-means++ seeding after the warm-up, periodic refits that adopt
a clearly better solution (ids kept by matching), and re-seeding of clusters that died
out or merged, from the outlier buffer first.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from .kmeans import best_of, radii, sq_dist_matrix, weighted_choice

#: What a refit computes from: the recent points (scaled), their weights, k, the
#: number of runs and the seed of their draws (the arguments of :func:`~.kmeans.best_of`).
RefitJob = tuple[np.ndarray, np.ndarray, int, int, int]
#: What it found: inertia, centres (scaled) and weight per centre.
RefitFit = tuple[float, np.ndarray, np.ndarray]


class Reseeding:
    """Replacing centres (a mixin of :class:`~.clustering.SegmentClusterer`, whose
    hyperparameters and state it reads and writes)."""

    n_clusters: int
    halflife: float
    n_init: int
    refit_due: bool
    _view: Any
    refit_gain: float
    match_distance: float
    death_share: float
    merge_distance: float
    next_id: int
    ids: list[int]
    centers: np.ndarray | None
    weights: np.ndarray | None
    r2: np.ndarray | None
    outliers: list[list[float]]
    outlier_weight: float
    ring: list[list[float]]
    stamps: list[float]
    births: int
    deaths: int
    refits: int

    @property
    def scale(self) -> np.ndarray:
        raise NotImplementedError

    def _rng_seed(self) -> int:
        raise NotImplementedError

    def _rng(self) -> random.Random:
        raise NotImplementedError

    def _recent_weights(self) -> np.ndarray:
        """Each recent point's weight under the half-life: the objective the centres follow."""
        stamps = np.array(self.stamps)
        now = float(stamps.max()) if len(stamps) else 0.0
        return np.power(2.0, -(now - stamps) / self.halflife)

    def refit_job(self) -> RefitJob:
        """The inputs of a k-means fit over the recent points now: best of ``n_init``
        weighted k-means++ and Lloyd runs (:func:`~.kmeans.best_of`)."""
        points = np.array(self.ring) / self.scale
        weights = self._recent_weights()
        return points, weights, self.n_clusters, self.n_init, self._rng_seed()

    def _refit(self) -> None:
        """Adopt a fresh k-means solution over recent points when it is clearly better."""
        job = self.refit_job()
        self.adopt_refit(job, best_of(*job))

    def adopt_refit(self, job: RefitJob, fit: RefitFit) -> None:
        """Take the solution ``fit`` that :func:`~.kmeans.best_of` found for ``job``
        (:meth:`refit_job`, taken at the refit's update) when it is clearly better than
        the current centres: a refit computed elsewhere, adopted before the next update."""
        assert self.centers is not None
        assert self.weights is not None
        self._view = None
        self.refit_due = False
        points, w = job[0], job[1]
        inertia, centers, counts = fit
        current = float((sq_dist_matrix(points, self.centers / self.scale).min(axis=1) * w).sum())
        if inertia > (1.0 - self.refit_gain) * current:
            return
        ids = self._match(points, w, centers, self.centers / self.scale)
        for j, cid in enumerate(ids):
            if cid is None:
                ids[j] = self.next_id
                self.next_id += 1
                self.births += 1
                self.deaths += 1
        total = float(self.weights.sum())
        self.ids = [int(cid) for cid in ids if cid is not None]
        self.centers = centers * self.scale
        self.weights = np.maximum(counts * total / float(w.sum()), 1.0)
        self.r2 = radii(points, centers)
        self.refits += 1

    def _match(
        self, points: np.ndarray, w: np.ndarray, centers: np.ndarray, old: np.ndarray
    ) -> list[int | None]:
        """The old id each refitted centre keeps (None: a new cluster), matched on the
        clusters' content: over the recent points (weights ``w``), the new clusters and
        the old ones are paired so that the members they share weigh most, and a new
        cluster keeps its partner's id when most of its members (by weight) were the
        partner's, or when the two centres are within ``match_distance``. A cluster
        made of the parts of several old ones is a new one."""
        new_of = sq_dist_matrix(points, centers).argmin(axis=1)
        old_of = sq_dist_matrix(points, old).argmin(axis=1)
        shared = np.zeros((len(centers), len(old)))
        np.add.at(shared, (new_of, old_of), w)
        size = shared.sum(axis=1)
        gaps = np.sqrt(sq_dist_matrix(centers, old))
        ids: list[int | None] = [None] * len(centers)
        for new_j, old_j in zip(*linear_sum_assignment(-shared), strict=True):
            most = shared[new_j, old_j] > 0.5 * size[new_j]
            if most or gaps[new_j, old_j] <= self.match_distance:
                ids[int(new_j)] = self.ids[int(old_j)]
        return ids

    def _seed(self) -> None:
        job = self.refit_job()
        _, centers, counts = best_of(*job)
        points = job[0]
        self.centers = centers * self.scale
        self.weights = np.maximum(counts, 1.0)
        self.r2 = radii(points, centers)
        self.ids = list(range(self.next_id, self.next_id + self.n_clusters))
        self.next_id += self.n_clusters
        self.births += self.n_clusters

    def _maintain(self) -> None:
        """Re-seed clusters that died out or merged into another one."""
        assert self.centers is not None and self.weights is not None
        mean_weight = float(self.weights.mean())
        scaled = self.centers / self.scale
        for j in range(self.n_clusters):
            dead = self.weights[j] < self.death_share * mean_weight
            others = [i for i in range(self.n_clusters) if i != j]
            gaps = np.sqrt(((scaled[others] - scaled[j]) ** 2).sum(axis=1))
            nearest = others[int(np.argmin(gaps))]
            merged = gaps.min() < self.merge_distance and self.weights[j] <= self.weights[nearest]
            if dead or merged:
                if merged:
                    total = self.weights[j] + self.weights[nearest]
                    self.centers[nearest] = (
                        self.centers[nearest] * self.weights[nearest]
                        + self.centers[j] * self.weights[j]
                    ) / total
                    self.weights[nearest] = total
                self._reseed(j, mean_weight)
                scaled = self.centers / self.scale
        weakest = int(np.argmin(self.weights))
        if len(self.outliers) >= 10 and self.outlier_weight > self.weights[weakest]:
            self._reseed(weakest, mean_weight)

    def _reseed(self, j: int, mean_weight: float) -> None:
        """Give slot ``j`` a new cluster: greedy k-means++ over the outliers (or recent points).

        Of a few D^2-drawn candidates the one that cuts inertia most is kept; the new
        centre is the mean of the points that the candidate would win.
        """
        assert self.centers is not None
        assert self.weights is not None
        assert self.r2 is not None
        from_outliers = len(self.outliers) >= 10
        source = self.outliers if from_outliers else self.ring
        points = np.array(source) / self.scale
        keep = [i for i in range(self.n_clusters) if i != j]
        d2 = sq_dist_matrix(points, self.centers[keep] / self.scale).min(axis=1)
        rng = self._rng()
        candidates = {weighted_choice(d2, rng) for _ in range(2 + int(math.log(self.n_clusters)))}
        pick = min(
            candidates,
            key=lambda c: float(np.minimum(d2, ((points - points[c]) ** 2).sum(axis=1)).sum()),
        )
        to_pick = ((points - points[pick]) ** 2).sum(axis=1)
        won = to_pick < d2
        members = np.array(source)[won]
        self.centers[j] = members.mean(axis=0)
        self.weights[j] = max(float(won.sum()), self.death_share * mean_weight * 2)
        self.r2[j] = float(to_pick[won].mean()) if won.any() else float(np.median(self.r2))
        if from_outliers:
            share = float(won.sum()) / len(self.outliers)
            self.outliers = [p for p, w in zip(self.outliers, won, strict=True) if not w]
            self.outlier_weight *= 1.0 - share
        self.ids[j] = self.next_id
        self.next_id += 1
        self.births += 1
        self.deaths += 1
