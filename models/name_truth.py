"""Of which of a segment's members each phrase of a name would be true.

The clusterer keeps a reservoir of the recent samples it learned (their clustering
view). Each of those points is a member of the segments it could be in under the change
policy: its nearest centre, and any other centre it is not closer to than by the
hysteresis ``margin`` (a customer who reached that segment stays in it until another is
closer by the margin, so a segment holds the points of that band too). A feature's high phrase
("frequent buyer") is true of a member above the median of all the points and above
zero (the median of a rare behavior is zero); its low phrase ("brief visits") of a
member at or below the median: what :mod:`.claims` checks on customers' readable
features. The clustering transforms are monotone and keep zero, so the clustering
view answers alike. :func:`~.naming.name_segments` names a segment only with phrases
true together of most of its members.

>>> import numpy as np
>>> points = np.array([[0.0, 1.0], [0.0, 2.0], [3.0, 1.0], [4.0, 2.0], [0.0, 9.0]])
>>> centres = np.array([[0.0, 1.5], [3.5, 1.5]])
>>> truth = phrase_truth(points, centres, np.ones(2), [7, 8], ("orders", "visits"))
>>> truth[8].members, truth[8].share(truth[8].high["orders"])
(2, 1.0)
>>> truth[7].members, truth[7].share(truth[7].high["visits"])  # 9 visits, not 1 or 2
(3, 0.3333333333333333)

Under a margin, a point between two centres is a possible member of both:

>>> between = np.array([[1.6, 1.5], [0.0, 1.5], [3.5, 1.5]])
>>> [t.members for t in phrase_truth(between, centres, np.ones(2), [7, 8], ("o", "v")).values()]
[2, 1]
>>> wide = phrase_truth(between, centres, np.ones(2), [7, 8], ("o", "v"), margin=0.2)
>>> [t.members for t in wide.values()]
[2, 2]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .kmeans import sq_dist_matrix
from .naming import Truth


def phrase_truth(
    points: np.ndarray,
    centres: np.ndarray,
    scale: np.ndarray,
    ids: Sequence[int],
    features: Sequence[str],
    margin: float = 0.0,
) -> dict[int, Truth]:
    """Per segment id (one per row of ``centres``) with members among ``points`` (rows
    in ``features`` order, clustering view; distances in units of ``scale``): of which
    members each feature's high and low phrase is true. A point is a member of every
    centre it is within the hysteresis ``margin`` of its nearest one (``d * (1 - margin)
    <= nearest``). A segment without members is left out (nothing to check)."""
    if len(points) == 0:
        return {}
    distances = np.sqrt(sq_dist_matrix(points / scale, centres / scale))
    possible = distances * (1.0 - margin) <= distances.min(axis=1, keepdims=True)
    median = np.median(points, axis=0)
    high = (points > median) & (points > 0)
    low = points <= median
    out: dict[int, Truth] = {}
    for j, cid in enumerate(ids):
        members = possible[:, j]
        n = int(members.sum())
        if n == 0:
            continue
        out[cid] = Truth(
            n,
            {name: _bits(high[members, i]) for i, name in enumerate(features)},
            {name: _bits(low[members, i]) for i, name in enumerate(features)},
        )
    return out


def _bits(flags: np.ndarray) -> int:
    """The booleans ``flags`` as the bits of an int (bit ``i``: ``flags[i]``)."""
    return int.from_bytes(np.packbits(flags, bitorder="little").tobytes(), "little")
