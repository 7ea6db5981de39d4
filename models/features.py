"""Features of a profile at a moment, in readable units, and the clustering view of them.

``profile_features`` is what a person reads (decayed counts, rates, days);
:class:`BehaviorTransform` is a River transformer that maps those features to the
space the clusterer works in (log counts, capped linear recency).

>>> from segflow.models.profile import Profile
>>> p = Profile.new("c1", as_of=0.0)
>>> p.add("rate_opens", 1.0, at=0.0); p.add("rate_sent", 2.0, at=0.0)
>>> f = profile_features(p, at=0.0, half_life=86_400.0)
>>> round(f["open_rate"], 3)
0.44
>>> sorted(BehaviorTransform().transform_one({"clicks": 3.0}))[:2]
['active_days', 'clicks']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from river import base

from .profile import (
    ACTIVE_DAYS_WINDOW,
    BOUNCED,
    COMPLAINED,
    COUNTERS,
    UNSUBSCRIBED,
    Profile,
)

#: Prior open rate and click rate, and how many emails' worth of weight they carry.
OPEN_RATE_PRIOR = 0.2
CLICK_RATE_PRIOR = 0.03
RATE_PRIOR_WEIGHT = 0.5
#: Recency is capped: "not active for 90 days" and "never active" read the same.
RECENCY_CAP_DAYS = 14.0

#: Every feature of a profile, in readable units.
FEATURE_NAMES: tuple[str, ...] = (
    *(name for name in COUNTERS if not name.startswith("rate_")),
    "downloads",
    "open_rate",
    "click_rate",
    "days_since_active",
    "active_days_28d",
    "bounced",
    "unsubscribed",
    "activity",
)

#: The features the clusterer sees, each with how it is transformed.
# Email enters as its open rate alone: decayed open and click counts swing with the weekly
# campaign rhythm (and say again what the rate says), which made customers flap between
# segments; the click rate added noise and no separation. Spend is left to the ``value``
# score: on a log scale a big spender still looks like one weeks after going silent
# (see bench/quality.py and the README's quality section).
LOG_FEATURES: tuple[str, ...] = (
    "clicks",
    "downloads_awareness",
    "downloads_consideration",
    "downloads_decision",
    "purchases",
)
LINEAR_FEATURES: tuple[str, ...] = ("open_rate", "active_days")
RECENCY_FEATURE = "days_since_active"
CLUSTER_FEATURES: tuple[str, ...] = (*LOG_FEATURES, *LINEAR_FEATURES, RECENCY_FEATURE)

#: Weights of the "weighted activity" behind the engagement score.
ACTIVITY_WEIGHTS: dict[str, float] = {
    "clicks": 1.0,
    "downloads": 2.0,
    "email_opens": 1.0,
    "email_clicks": 2.0,
    "purchases": 5.0,
}


def profile_features(profile: Profile, at: float, half_life: float) -> dict[str, float]:
    """The profile's features at time ``at`` (at or after its ``as_of``), readable units."""
    features = {name: profile.value(name, at, half_life) for name in COUNTERS}
    features["downloads"] = (
        features["downloads_awareness"]
        + features["downloads_consideration"]
        + features["downloads_decision"]
        + features["downloads_other"]
    )
    # Rates come from the long-memory counters, smoothed toward a prior.
    sent = features.pop("rate_sent") + RATE_PRIOR_WEIGHT
    opens, clicks = features.pop("rate_opens"), features.pop("rate_clicks")
    features["open_rate"] = min(1.0, (opens + RATE_PRIOR_WEIGHT * OPEN_RATE_PRIOR) / sent)
    features["click_rate"] = min(1.0, (clicks + RATE_PRIOR_WEIGHT * CLICK_RATE_PRIOR) / sent)
    days = profile.days_since_active(at)
    features["days_since_active"] = (
        RECENCY_CAP_DAYS if days is None else min(days, RECENCY_CAP_DAYS)
    )
    features["active_days_28d"] = float(profile.active_days_in_window(at))
    features["bounced"] = 1.0 if profile.flags & BOUNCED else 0.0
    features["unsubscribed"] = 1.0 if profile.flags & (UNSUBSCRIBED | COMPLAINED) else 0.0
    features["activity"] = sum(weight * features[name] for name, weight in ACTIVITY_WEIGHTS.items())
    return features


def _log1p_positive(value: float) -> float:
    return math.log1p(value) if value > 0 else 0.0


class BehaviorTransform(base.Transformer):
    """Map readable features to the clustering space.

    Counts go through ``log1p`` (a customer with 40 clicks is not ten times one
    with 4 in behavior); rates, active days and recency stay linear, recency
    capped (a log would make the gap between a visit yesterday and one a week
    ago, normal for a light visitor, look as large as a month of silence).
    Missing features count as zero activity (recency: the cap); features it
    does not know are ignored.
    """

    def __init__(self, recency_cap_days: float = RECENCY_CAP_DAYS) -> None:
        self.recency_cap_days = recency_cap_days

    def learn_one(self, x: dict[Any, Any]) -> None:
        """Stateless: nothing to learn."""

    def transform_one(self, x: Mapping[Any, Any]) -> dict[Any, Any]:
        """The clustering view of the readable features ``x``."""
        out = {name: _log1p_positive(float(x.get(name, 0.0))) for name in LOG_FEATURES}
        for name in LINEAR_FEATURES:
            out[name] = float(x.get(name, 0.0))
        recency = min(float(x.get(RECENCY_FEATURE, self.recency_cap_days)), self.recency_cap_days)
        out[RECENCY_FEATURE] = max(recency, 0.0)
        return out

    def inverse_one(self, name: str, value: float) -> float:
        """The readable value of one transformed feature (for centroids and means)."""
        if name in LOG_FEATURES:
            return math.expm1(value)
        return value


__all__ = [
    "ACTIVE_DAYS_WINDOW",
    "CLUSTER_FEATURES",
    "FEATURE_NAMES",
    "BehaviorTransform",
    "profile_features",
]
