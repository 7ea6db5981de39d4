"""Features of a profile at a moment, in readable units, and the clustering view of them.

``profile_features`` is what a person reads (decayed counts, rates, days);
:class:`BehaviorTransform` is a River transformer that maps those features to the
space the clusterer works in (log counts, capped recency).

>>> from segflow.models.profile import Profile
>>> p = Profile.new("c1", as_of=0.0)
>>> p.add("email_opens", 1.0, at=0.0); p.add("emails_sent", 2.0, at=0.0)
>>> f = profile_features(p, at=0.0, half_life=86_400.0)
>>> f["email_opens"], round(f["open_rate"], 3)
(1.0, 0.35)
>>> sorted(BehaviorTransform().transform_one({"clicks": 3.0}))[:2]
['active_days_28d', 'click_rate']
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from river import base

from .decay import decay_factor
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
RATE_PRIOR_WEIGHT = 2.0
#: Recency is capped: "not active for 90 days" and "never active" read the same.
RECENCY_CAP_DAYS = 90.0

#: Every feature of a profile, in readable units.
FEATURE_NAMES: tuple[str, ...] = (
    *COUNTERS,
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
LOG_FEATURES: tuple[str, ...] = (
    "clicks",
    "downloads_awareness",
    "downloads_consideration",
    "downloads_decision",
    "email_opens",
    "email_clicks",
    "purchases",
    "spend",
)
LINEAR_FEATURES: tuple[str, ...] = ("open_rate", "click_rate", "active_days_28d")
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
    factor = decay_factor(at - profile.as_of, half_life) if at > profile.as_of else 1.0
    features = {name: value * factor for name, value in zip(COUNTERS, profile.counts, strict=True)}
    sent = features["emails_sent"]
    features["downloads"] = (
        features["downloads_awareness"]
        + features["downloads_consideration"]
        + features["downloads_decision"]
        + features["downloads_other"]
    )
    features["open_rate"] = min(
        1.0,
        (features["email_opens"] + RATE_PRIOR_WEIGHT * OPEN_RATE_PRIOR)
        / (sent + RATE_PRIOR_WEIGHT),
    )
    features["click_rate"] = min(
        1.0,
        (features["email_clicks"] + RATE_PRIOR_WEIGHT * CLICK_RATE_PRIOR)
        / (sent + RATE_PRIOR_WEIGHT),
    )
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
    with 4 in behavior), rates and active days stay linear, recency is capped
    and log-scaled. Missing features count as zero activity (recency: the cap);
    features it does not know are ignored.
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
        out[RECENCY_FEATURE] = math.log1p(max(recency, 0.0))
        return out

    def inverse_one(self, name: str, value: float) -> float:
        """The readable value of one transformed feature (for centroids and means)."""
        if name in LOG_FEATURES or name == RECENCY_FEATURE:
            return math.expm1(value)
        return value


__all__ = [
    "ACTIVE_DAYS_WINDOW",
    "CLUSTER_FEATURES",
    "FEATURE_NAMES",
    "BehaviorTransform",
    "profile_features",
]
