"""Features of a profile at a moment, in readable units, and the clustering view of them.

``profile_features`` is what a person reads (decayed counts, rates, days);
:class:`BehaviorTransform` is a River transformer that maps those features to the
space the clusterer works in (square-rooted site counts, log orders, linear rates).

>>> from segflow.models.profile import Profile
>>> p = Profile.new("c1", as_of=0.0)
>>> p.add("rate_opens", 1.0, at=0.0); p.add("rate_sent", 2.0, at=0.0)
>>> f = profile_features(p, at=0.0, half_life=86_400.0)
>>> round(f["open_rate"], 3)
0.44
>>> x = BehaviorTransform().transform_one({"pages_decision": 4.0, "open_rate": 0.9})
>>> x["pages_decision"], x["open_rate"], x["pages_awareness"]
(2.0, 0.9, 0.0)
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
    COUNTER_INDEX,
    COUNTERS,
    RATE_MEMORY,
    UNSUBSCRIBED,
    Profile,
)
from .timeutil import DAY

#: Prior open rate and click rate, and how many emails' worth of weight they carry.
OPEN_RATE_PRIOR = 0.2
CLICK_RATE_PRIOR = 0.03
RATE_PRIOR_WEIGHT = 0.5
#: Recency is capped: "not active for 90 days" and "never active" read the same.
RECENCY_CAP_DAYS = 14.0
#: The newest send counts against the email rates only once it had this long to be
#: opened (opens come hours after the send): otherwise every weekly send would dip a
#: reader's open rate until the open arrives.
SEND_GRACE_HOURS = 24.0
#: Prior odds that a customer has stopped using the site, before any silence: the
#: ``presence`` of a customer away from the site for ``s`` days who visits on ``r``
#: days per day is ``(1 + LAPSE_ODDS) / (1 + LAPSE_ODDS * exp(r * s))`` (a
#: BG/NBD-style probability of being alive, 1 at the moment of a visit).
LAPSE_ODDS = 0.01
#: Prior odds, per half-life of silence, that a customer has stopped opening email: a
#: customer who opens ``q`` emails a day and has opened none for the ``s`` days of sends
#: since its last open is still opening with ``1 / (1 + EMAIL_LAPSE_ODDS * s /
#: half-life * exp(q * s))`` (see :func:`still_opening`).
EMAIL_LAPSE_ODDS = 0.1
#: Site days per day from which a silence is held in full: a customer visiting less
#: often holds a share of it (a weekly visitor's quiet week is its rhythm, so its
#: counts decay as usual).
HOLD_FULL_RATE = 0.3

#: Counters of activity on the site: a customer's are held at their value at the
#: last site activity, scaled by ``presence`` (see :func:`profile_features`).
SITE_COUNTERS: tuple[str, ...] = (
    "clicks",
    "sessions",
    "pages_awareness",
    "pages_consideration",
    "pages_decision",
    "pages_customer",
    "downloads_awareness",
    "downloads_consideration",
    "downloads_decision",
    "downloads_other",
    "purchases",
    "spend",
    "site_days",
)

_SITE_DAYS = COUNTER_INDEX["site_days"]
_EMAIL_OPENS = COUNTER_INDEX["email_opens"]
_EMAILS_SENT = COUNTER_INDEX["emails_sent"]

#: Every feature of a profile, in readable units.
FEATURE_NAMES: tuple[str, ...] = (
    *(name for name in COUNTERS if not name.startswith("rate_")),
    "pages_other",
    "downloads",
    "clicks_per_session",
    "open_rate",
    "click_rate",
    "days_since_active",
    "active_days_28d",
    "presence",
    "email_presence",
    "bounced",
    "unsubscribed",
    "activity",
)

#: The features the clusterer sees, each with how it is transformed.
# Web activity enters as pages per journey stage (the URL path says what a visit is
# about) and clicks per session (a tire-kicker's visits are short). Email enters as its
# open rate alone: decayed open and click counts swing with the weekly campaign rhythm
# and say again what the rate says. Recency enters through ``presence``, which holds or
# fades the site counts by weighing a silence against the customer's own rhythm: a week
# without a visit is normal for one customer and a lapse for another. Spend is left to
# the ``value`` score.
# Site counts go through a square root; orders through a log, because order counts span
# orders of magnitude between customers (a wholesaler orders hundreds of times a year,
# a consumer a few): on a square root the few biggest buyers take most segments.
SQRT_FEATURES: tuple[str, ...] = (
    "pages_awareness",
    "pages_consideration",
    "pages_decision",
    "pages_customer",
    "pages_other",
    "downloads_awareness",
    "downloads_consideration",
    "downloads_decision",
)
LOG_FEATURES: tuple[str, ...] = ("purchases",)
LINEAR_FEATURES: tuple[str, ...] = ("open_rate", "clicks_per_session")
CLUSTER_FEATURES: tuple[str, ...] = (*SQRT_FEATURES, *LOG_FEATURES, *LINEAR_FEATURES)

#: Weights of the "weighted activity" behind the engagement score.
ACTIVITY_WEIGHTS: dict[str, float] = {
    "clicks": 1.0,
    "downloads": 2.0,
    "email_opens": 1.0,
    "email_clicks": 2.0,
    "purchases": 5.0,
}


def presence(profile: Profile, at: float, half_life: float, rate: float | None = None) -> float:
    """How likely the customer still uses the site at ``at``, from its silence and rhythm.

    The rhythm is the customer's site days per day, from the decayed site-day counter
    at its last site activity (corrected for a short history; ``rate`` when already
    known). Never on the site: 0.
    """
    last = profile.last_site
    if last is None:
        return 0.0
    if rate is None:
        rate = site_rate(profile, half_life)
    silence = max(at - last, 0.0) / DAY
    odds = LAPSE_ODDS * math.exp(min(rate * silence, 50.0))
    return (1.0 + LAPSE_ODDS) / (1.0 + odds)


def site_rate(profile: Profile, half_life: float) -> float:
    """The customer's site days per day as of its last site activity (0: never)."""
    return _rate_at(profile, _SITE_DAYS, profile.last_site, half_life)


def open_rhythm(profile: Profile, half_life: float) -> float:
    """The emails the customer opens per day, as of its last open (0: never opened).

    Read at an open, the decayed count holds that open in full, where the opening rate
    it estimates gives the window's edge half: a reader opening every week would read
    as 2 opens per half-life (of 7 days) for 1.44. Half the last open is left out.
    """
    return _rate_at(profile, _EMAIL_OPENS, profile.last_open, half_life, edge=0.5)


def _rate_at(
    profile: Profile, counter: int, last: float | None, half_life: float, edge: float = 0.0
) -> float:
    """Per day, the decayed ``counter`` as of ``last`` (None: 0), less ``edge``, over
    the customer's history then (corrected for a history shorter than the counter's
    memory)."""
    if last is None:
        return 0.0
    # Brought back from ``as_of`` to ``last`` (a multiplication: an underflowed count
    # stays 0 instead of dividing by an underflowed decay).
    count = profile.counts[counter] * decay_factor(-max(profile.as_of - last, 0.0), half_life)
    held = max(count - edge, 0.0)
    history = max(last - profile.first_seen, 0.0) + DAY
    span = half_life / DAY / math.log(2) * (1.0 - decay_factor(history, half_life))
    return held / span


def profile_features(profile: Profile, at: float, half_life: float) -> dict[str, float]:
    """The profile's features at time ``at`` (at or after its ``as_of``), readable units.

    Site counters are held at their value at the customer's last site activity (in
    full for a customer visiting at least ``HOLD_FULL_RATE`` days per day, in part for
    rarer visitors) and scaled by :func:`presence`: a quiet spell that is normal for the
    customer leaves them, a lapse takes them toward zero. Email counters and rates
    decay in real time; the open rate is discounted by :func:`still_opening`.
    """
    features = profile.values(at, half_life)
    alive = _hold_site_counters(profile, features, at, half_life)
    _site_totals(features)
    still = _email_rates(profile, features, at, half_life)
    days = profile.days_since_active(at)
    features["days_since_active"] = (
        RECENCY_CAP_DAYS if days is None else min(days, RECENCY_CAP_DAYS)
    )
    features["active_days_28d"] = float(profile.active_days_in_window(at))
    features["presence"] = alive
    # A customer who never opened an email has no opening habit to lapse from.
    features["email_presence"] = still if profile.last_open is not None else 1.0
    features["bounced"] = 1.0 if profile.flags & BOUNCED else 0.0
    features["unsubscribed"] = 1.0 if profile.flags & (UNSUBSCRIBED | COMPLAINED) else 0.0
    features["activity"] = sum(weight * features[name] for name, weight in ACTIVITY_WEIGHTS.items())
    return features


def _hold_site_counters(
    profile: Profile, features: dict[str, float], at: float, half_life: float
) -> float:
    """Scale the site counters of ``features`` in place (see :func:`profile_features`);
    return the customer's :func:`presence`."""
    hold, alive = site_hold(profile, at, half_life)
    for name in SITE_COUNTERS:
        features[name] *= hold
    return alive


def site_hold(profile: Profile, at: float, half_life: float) -> tuple[float, float]:
    """What the site counters decayed to ``at`` are multiplied by (held through a quiet
    spell that is normal for the customer, see :func:`profile_features`), and the
    customer's :func:`presence`."""
    rate = site_rate(profile, half_life)
    alive = presence(profile, at, half_life, rate)
    away = at - (profile.last_site if profile.last_site is not None else at)
    held_days = max(away, 0.0) * min(1.0, rate / HOLD_FULL_RATE)
    return alive * decay_factor(-held_days, half_life), alive


#: The pages of the journey stages: a click on none of them counts as ``pages_other``
#: (subtracted from the clicks in this order, by both the per-event and the column path).
STAGE_PAGES: tuple[str, ...] = (
    "pages_awareness",
    "pages_consideration",
    "pages_decision",
    "pages_customer",
)


def _site_totals(features: dict[str, float]) -> None:
    """Pages outside the journey stages, downloads of every stage, clicks per session."""
    other = features["clicks"]
    for stage in STAGE_PAGES:
        other -= features[stage]
    features["pages_other"] = max(0.0, other)
    features["downloads"] = (
        features["downloads_awareness"]
        + features["downloads_consideration"]
        + features["downloads_decision"]
        + features["downloads_other"]
    )
    features["clicks_per_session"] = (features["clicks"] + 1.0) / (features["sessions"] + 1.0)


def _email_rates(
    profile: Profile, features: dict[str, float], at: float, half_life: float
) -> float:
    """Replace the rate counters of ``features`` by ``open_rate`` and ``click_rate``;
    return :func:`still_opening`.

    Rates come from the long-memory counters, smoothed toward a prior. The open rate is
    the customer's rate as of its last open (the prior fades with the counts since, so
    sends left unopened do not pull the rate toward the prior), discounted by how
    unlikely the silence since is for a customer opening at its rhythm (its
    ``email_presence``, the email counterpart of ``presence``).
    """
    unopened = features.pop("rate_unopened")
    sent = features.pop("rate_sent")
    opens, clicks = features.pop("rate_opens"), features.pop("rate_clicks")
    open_rate, click_rate, still = email_rates(
        profile, sent, opens, clicks, unopened, at, half_life
    )
    features["open_rate"] = open_rate
    features["click_rate"] = click_rate
    return still


def email_rates(
    profile: Profile,
    sent: float,
    opens: float,
    clicks: float,
    unopened: float,
    at: float,
    half_life: float,
) -> tuple[float, float, float]:
    """The open rate and click rate from the rate counters decayed to ``at``, and
    :func:`still_opening` (see :func:`_email_rates`)."""
    prior = RATE_PRIOR_WEIGHT
    if profile.last_open is not None:
        prior *= decay_factor(max(at - profile.last_open, 0.0), half_life * RATE_MEMORY)
    if profile.flags & BOUNCED:
        held_rate = 0.0  # the address takes no email: nothing will be opened
    elif profile.last_open is None:
        # Never opened: there is no rate as of a last open to hold, every send left
        # unopened counts (a customer who ignored ten sends is not a 20 % opener).
        held_rate = min(1.0, (opens + prior * OPEN_RATE_PRIOR) / (sent + prior))
    else:
        held_sent = max(sent - unopened, 0.0) + prior
        held_rate = (
            min(1.0, (opens + prior * OPEN_RATE_PRIOR) / held_sent) if held_sent > 0 else 0.0
        )
    still = still_opening(profile, at, half_life)
    click_rate = min(
        1.0, (clicks + RATE_PRIOR_WEIGHT * CLICK_RATE_PRIOR) / (sent + RATE_PRIOR_WEIGHT)
    )
    return held_rate * still, click_rate, still


def still_opening(profile: Profile, at: float, half_life: float) -> float:
    """How likely a customer who opened email still opens it at ``at``.

    The silence runs from its last open to its newest send that had time to be opened
    (a send within its grace period does not count yet; the one before it is taken a
    send interval earlier). Judged in time, against the customer's own rhythm: the
    prior odds of a lapse grow with the silence (:data:`EMAIL_LAPSE_ODDS` per
    half-life), and a customer who still opens ``q`` emails a day keeps such a silence
    with probability ``exp(-q * days)`` (:func:`open_rhythm`). So two sends left
    unopened are a lapse for a reader mailed weekly who opened them all (two weeks of
    silence), and not for one mailed daily who opens most (two days). 1 without a
    counted send since the last open, or without any open (nothing to lapse from).
    """
    last_open, last_sent = profile.last_open, profile.last_sent
    n = profile.unopened
    if last_open is None or last_sent is None or n <= 0:
        return 1.0
    end = last_sent
    if at - last_sent < SEND_GRACE_HOURS * 3_600.0:
        n -= 1
        sends = _rate_at(profile, _EMAILS_SENT, last_sent, half_life, edge=0.5)
        end = last_sent - DAY / sends if sends > 0 else last_open
    silence = max(end - last_open, 0.0)
    if n <= 0 or silence <= 0:
        return 1.0
    missed = open_rhythm(profile, half_life) * silence / DAY
    odds = EMAIL_LAPSE_ODDS * silence / half_life * math.exp(min(missed, 50.0))
    return 1.0 / (1.0 + odds)


def _sqrt_positive(value: float) -> float:
    return math.sqrt(value) if value > 0 else 0.0


def _log1p_positive(value: float) -> float:
    return math.log1p(value) if value > 0 else 0.0


class BehaviorTransform(base.Transformer):
    """Map readable features to the clustering space.

    Site counts go through a square root (a customer with 40 clicks is not ten times
    one with 4 in behavior, and a log would blow up the gap between 0.1 and 0.5
    decayed clicks, both of which mean "hardly"), orders through ``log1p`` (they are
    heavy-tailed); rates stay linear. Missing features count as zero activity;
    features it does not know are ignored.
    """

    def learn_one(self, x: dict[Any, Any]) -> None:
        """Stateless: nothing to learn."""

    def transform_one(self, x: Mapping[Any, Any]) -> dict[Any, Any]:
        """The clustering view of the readable features ``x``."""
        out = {name: _sqrt_positive(float(x.get(name, 0.0))) for name in SQRT_FEATURES}
        for name in LOG_FEATURES:
            out[name] = _log1p_positive(float(x.get(name, 0.0)))
        for name in LINEAR_FEATURES:
            out[name] = float(x.get(name, 0.0))
        return out

    def inverse_one(self, name: str, value: float) -> float:
        """The readable value of one transformed feature (for centroids and means)."""
        if name in SQRT_FEATURES:
            return value * value if value > 0 else 0.0
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
