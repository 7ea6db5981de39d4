"""Reading a clusterer's centres: distances of a point to each, the nearest, and the
per-feature gaps (what :class:`~.clustering.SegmentClusterer` answers between updates)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: What ``predict_one`` answers before the model has seeded its centres.
NO_CLUSTER = -1


@dataclass(frozen=True, slots=True)
class CentroidView:
    """What prediction reads from a :class:`SegmentClusterer` in one state."""

    centers: np.ndarray
    m2: np.ndarray | None
    features: tuple[str, ...]
    inverse_scale: list[float]
    mean: list[float]
    scaled: list[list[float]]
    ids: list[int]


class CentroidReader:
    """Prediction from the centres in standard units (the clusterer's state)."""

    centers: np.ndarray | None
    m2: np.ndarray | None
    mean: np.ndarray | None
    features: list[str] | None
    ids: list[int]
    _view: CentroidView | None

    @property
    def scale(self) -> np.ndarray:
        raise NotImplementedError

    def _vector(self, x: Mapping[Any, Any]) -> np.ndarray:
        raise NotImplementedError

    def _sq_distances(self, v: np.ndarray) -> np.ndarray:
        assert self.centers is not None
        diff = (self.centers - v) / self.scale
        return np.einsum("ij,ij->i", diff, diff)  # type: ignore[no-any-return]

    def prediction_view(self) -> CentroidView:
        """The centres in standard units, as :meth:`distances` reads them (seeded only)."""
        return self._prediction_view()

    def _prediction_view(self) -> CentroidView:
        """The centres in standard units as Python lists, built once per model state.

        A dozen features and a handful of centres are too few for numpy to pay off per
        point: ``math.dist`` over lists is several times faster. ``learn_one`` drops
        the view; the arrays it was built from are kept to notice replaced ones.
        """
        view = self._view
        if view is not None and view.centers is self.centers and view.m2 is self.m2:
            return view
        assert self.centers is not None and self.features is not None and self.mean is not None
        inverse = 1.0 / self.scale
        view = CentroidView(
            centers=self.centers,
            m2=self.m2,
            features=tuple(self.features),
            inverse_scale=inverse.tolist(),
            mean=self.mean.tolist(),
            scaled=[row.tolist() for row in self.centers * inverse],
            ids=list(self.ids),
        )
        self._view = view
        return view

    def _scaled_point(self, view: CentroidView, x: Mapping[Any, Any]) -> list[float]:
        # A missing feature takes the running mean: it pulls towards no cluster.
        return [
            float(x[name]) * inverse if name in x else mean * inverse
            for name, inverse, mean in zip(
                view.features, view.inverse_scale, view.mean, strict=True
            )
        ]

    def predict_one(self, x: dict[Any, Any]) -> int:
        """The id of the nearest cluster; ``NO_CLUSTER`` (-1) before the centres are seeded."""
        if self.centers is None:
            return NO_CLUSTER
        distances = self.distances(x)
        return min(distances, key=distances.__getitem__)

    def distances(self, x: Mapping[Any, Any]) -> dict[int, float]:
        """Distance (standard units) from ``x`` to every cluster, by id; empty before seeding."""
        if self.centers is None:
            return {}
        view = self._prediction_view()
        point = self._scaled_point(view, x)
        return {cid: math.dist(row, point) for cid, row in zip(view.ids, view.scaled, strict=True)}

    def move_threshold(self, noise: Mapping[Any, float], current: int, target: int) -> float:
        """For a point in cluster ``current`` whose features vary by chance with the
        variances ``noise`` (input units), the deviation of chance along the line from
        the centre of ``current`` to that of ``target``, times the centres' distance.

        The lead ``d_a**2 - d_b**2`` of ``target`` (``b``) over ``current`` (``a``) is
        twice the point's distance past the boundary between them times their distance
        ``L``, so a lead past ``z`` deviations of chance is ``2 * z`` times this. 0
        before seeding or for an unknown cluster.
        """
        if self.centers is None or current not in self.ids or target not in self.ids:
            return 0.0
        view = self._prediction_view()
        home = view.scaled[self.ids.index(current)]
        there = view.scaled[self.ids.index(target)]
        total = 0.0
        for name, inverse, a, b in zip(view.features, view.inverse_scale, home, there, strict=True):
            gap = (b - a) * inverse
            total += float(noise.get(name, 0.0)) * gap * gap
        return math.sqrt(total)

    def contributions(self, x: Mapping[Any, Any], cid: int) -> dict[str, float]:
        """Squared standardized gap to cluster ``cid`` per feature."""
        assert self.centers is not None and self.features is not None
        diff = (self.centers[self.ids.index(cid)] - self._vector(x)) / self.scale
        return {name: float(d * d) for name, d in zip(self.features, diff, strict=True)}

    def centroid(self, cid: int) -> dict[str, float]:
        """The centre of cluster ``cid`` in input units."""
        assert self.centers is not None and self.features is not None
        return dict(zip(self.features, self.centers[self.ids.index(cid)].tolist(), strict=True))
