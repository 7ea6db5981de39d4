"""Behavioral scores, each a small estimator with ``learn_one`` / ``predict_one`` on features.

* :class:`EngagementScorer`: the customer's percentile (0-100) of decayed weighted
  activity among customers, read off an online, decayed histogram on a log scale.
* :class:`EmailResponsiveness`: 0-1 from the smoothed open and click rates; 0 once
  the customer bounced, unsubscribed or complained.
* :class:`ContentIntent`: 0-1, downloads weighted toward the decision stage.
* :class:`Value`: decayed spend (refunds count against it).

>>> scorer = EngagementScorer(halflife=1_000)
>>> for activity in range(100):
...     scorer.learn_one({"activity": float(activity)})
>>> round(scorer.predict_one({"activity": 50.0}))
50
>>> EmailResponsiveness().predict_one({"open_rate": 0.5, "click_rate": 0.1, "unsubscribed": 1.0})
0.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from river import base

from .features import ACTIVITY_WEIGHTS

#: Histogram bins per unit of log1p(activity), and how many bins there are.
BINS_PER_UNIT = 8
N_BINS = 96


class Scorer(Protocol):
    """What every scorer offers."""

    name: str

    def learn_one(self, x: dict[str, float]) -> None: ...

    def predict_one(self, x: dict[str, float]) -> float: ...


class EngagementScorer(base.Estimator):
    """Percentile of weighted activity among recently seen customers.

    Parameters
    ----------
    halflife
        After this many learned samples old samples weigh half, so the
        percentile follows the population as it changes.
    """

    name = "engagement"

    def __init__(self, halflife: float = 20_000.0) -> None:
        self.halflife = halflife
        self.counts = [0.0] * N_BINS
        self.total = 0.0

    @staticmethod
    def _position(activity: float) -> float:
        return min(math.log1p(max(activity, 0.0)) * BINS_PER_UNIT, N_BINS - 1e-9)

    def learn_one(self, x: Mapping[str, Any]) -> None:
        """Count one customer's activity (``x["activity"]``, or computed from the counts)."""
        activity = _activity(x)
        factor = 2.0 ** (-1.0 / self.halflife)
        self.counts = [c * factor for c in self.counts]
        self.total = self.total * factor + 1.0
        self.counts[int(self._position(activity))] += 1.0

    def predict_one(self, x: Mapping[str, Any]) -> float:
        """Percentile 0-100 of ``x``'s activity; 50 before anything was learned."""
        if self.total <= 0:
            return 50.0
        position = self._position(_activity(x))
        b = int(position)
        below = sum(self.counts[:b]) + self.counts[b] * (position - b)
        return max(0.0, min(100.0, 100.0 * below / self.total))

    def to_state(self) -> dict[str, Any]:
        """JSON-serializable state."""
        return {"halflife": self.halflife, "counts": self.counts, "total": self.total}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> EngagementScorer:
        """The scorer ``to_state`` described."""
        scorer = cls(halflife=state["halflife"])
        scorer.counts = [float(c) for c in state["counts"]]
        scorer.total = float(state["total"])
        return scorer


def _activity(x: Mapping[str, Any]) -> float:
    if "activity" in x:
        return float(x["activity"])
    return sum(weight * float(x.get(name, 0.0)) for name, weight in ACTIVITY_WEIGHTS.items())


class _Stateless(base.Estimator):
    """A score that is a function of the features alone."""

    name = ""

    def learn_one(self, x: Mapping[str, Any]) -> None:
        """Nothing to learn."""


class EmailResponsiveness(_Stateless):
    """0-1: opens and clicks per email received (smoothed), 0 if unreachable by email."""

    name = "email_responsiveness"

    def predict_one(self, x: Mapping[str, Any]) -> float:
        """The score of features ``x``."""
        if x.get("unsubscribed", 0.0) or x.get("bounced", 0.0):
            return 0.0
        open_rate = float(x.get("open_rate", 0.0))
        click_rate = float(x.get("click_rate", 0.0))
        return max(0.0, min(1.0, 0.6 * open_rate + 0.4 * min(1.0, 4.0 * click_rate)))


class ContentIntent(_Stateless):
    """0-1: downloads, a decision-stage one weighing five awareness ones."""

    name = "content_intent"

    def predict_one(self, x: Mapping[str, Any]) -> float:
        """The score of features ``x``."""
        weighted = (
            0.2 * float(x.get("downloads_awareness", 0.0))
            + 0.5 * float(x.get("downloads_consideration", 0.0))
            + 1.0 * float(x.get("downloads_decision", 0.0))
            + 0.2 * float(x.get("downloads_other", 0.0))
        )
        return 1.0 - math.exp(-max(weighted, 0.0) / 2.0)


class Value(_Stateless):
    """Decayed spend, in the currency of the events."""

    name = "value"

    def predict_one(self, x: Mapping[str, Any]) -> float:
        """The score of features ``x``."""
        return float(x.get("spend", 0.0))


SCORE_NAMES: tuple[str, ...] = ("engagement", "email_responsiveness", "content_intent", "value")
