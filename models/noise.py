"""How much of a customer's position in the clustering space is chance: the sampling
variance of each clustering feature, from the customer's own counts.

A decayed counter is a sum of the customer's events, each weighted by its age. For
events arriving at a steady rate its expected value is ``m`` and its variance about
``m / 2`` (the squared weights decay twice as fast as the weights), so a customer
with few events sits in the clustering space with a wide margin of chance. The same
holds for rates: an open rate over one or two decayed sends says little.
:func:`cluster_noise` gives, per clustering feature, the variance of the feature in the
clusterer's (transformed) units; the change policy asks that a move out of a segment
be larger than chance along the line between the two centres (see
:meth:`~.centroids.CentroidReader.move_threshold`).

>>> noise = cluster_noise({"pages_decision": 4.0, "open_rate": 0.5, "emails_sent": 2.0})
>>> round(noise["pages_decision"], 4)  # sqrt of a decayed count: about 1/8 when large
0.125
>>> round(noise["open_rate"], 4)
0.04
>>> noise["purchases"]  # no purchase, nothing uncertain
0.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .features import LINEAR_FEATURES, LOG_FEATURES, RATE_PRIOR_WEIGHT, SQRT_FEATURES

#: The variance of a decayed count of events arriving at a steady rate, per unit of
#: its expected value: the squared weights sum to half the weights.
COUNT_DISPERSION = 0.5


#: The variance of the square root of a large decayed count (delta method: the
#: count's variance over four times its mean).
ROOT_COUNT_VARIANCE = COUNT_DISPERSION / 4.0


def cluster_noise(features: Mapping[str, float]) -> dict[str, float]:
    """Sampling variance of each clustering feature of these readable ``features``, in
    the clusterer's units (square-rooted counts, log orders, linear rates)."""
    noise: dict[str, float] = {}
    for name in SQRT_FEATURES:
        count = max(float(features.get(name, 0.0)), 0.0)
        # The delta method on sqrt(S) with Var(S) = S / 2 gives 1 / 8 for a large count;
        # a count well under one is mostly a single event's weight w, whose root
        # varies about as much as w itself. Between the two, 1/8 * (1 - exp(-8 S)).
        noise[name] = ROOT_COUNT_VARIANCE * -math.expm1(-count / ROOT_COUNT_VARIANCE)
    for name in LOG_FEATURES:
        count = max(float(features.get(name, 0.0)), 0.0)
        noise[name] = COUNT_DISPERSION * count / (1.0 + count) ** 2
    for name in LINEAR_FEATURES:
        noise[name] = _rate_noise(name, features)
    return noise


def _rate_noise(name: str, features: Mapping[str, float]) -> float:
    if name == "open_rate":
        rate = min(max(float(features.get("open_rate", 0.0)), 0.0), 1.0)
        sent = max(float(features.get("emails_sent", 0.0)), 0.0)
        # A binomial share over decayed sends, smoothed by the prior's weight.
        return rate * (1.0 - rate) * COUNT_DISPERSION * sent / (sent + RATE_PRIOR_WEIGHT) ** 2
    if name == "clicks_per_session":
        sessions = max(float(features.get("sessions", 0.0)), 0.0)
        per_session = max(float(features.get("clicks_per_session", 1.0)), 0.0)
        # A mean of per-session counts (Poisson, variance = mean) over decayed sessions.
        return per_session * COUNT_DISPERSION * sessions / (sessions + 1.0) ** 2
    return 0.0
