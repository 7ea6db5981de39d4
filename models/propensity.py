"""Purchase propensity learned online: the probability a customer buys within the
next ``days`` of event time, from its scaled behavioral features and its purchase
statistics, by a River logistic regression.

Labels are delayed (:class:`DelayedLabels`): a sample taken at time t is learned only
once event time passed t + ``days`` (and a grace of a tenth of that for partitions
that lag), labelled by whether the customer bought in between, never earlier. The
prediction made when the sample was taken is kept with it, so quality is measured
prequentially (score first, label later: :class:`Prequential`).

>>> model = PurchasePropensity(min_learned=2)
>>> model.predict_one({"recency_log": 1.0}) is None
True
>>> for _ in range(50):
...     model.learn_one({"recency_log": 0.0}, True)
...     model.learn_one({"recency_log": 3.0}, False)
>>> model.predict_one({"recency_log": 0.0}) > 0.5 > model.predict_one({"recency_log": 3.0})
True
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from river import linear_model, optim, preprocessing

from .timeutil import DAY
from .value import PurchaseRecord

#: The score's name in changes, rules and the API.
PROPENSITY_SCORE = "purchase_propensity"
#: Bins of the calibration and AUC read-outs.
_BINS = 100


def propensity_inputs(
    x: Mapping[str, float], record: PurchaseRecord | None, at: float
) -> dict[str, float]:
    """The regression's inputs: the clustering view of the features ``x`` and the
    customer's purchase statistics at ``at`` (log days since the last purchase, log
    purchase days; a flag for a customer who never bought)."""
    inputs = {f"f_{name}": float(value) for name, value in x.items()}
    if record is None:
        inputs |= {"never_bought": 1.0, "recency_log": 0.0, "purchase_days_log": 0.0}
    else:
        since = max(at - record.last, 0.0) / DAY
        inputs |= {
            "never_bought": 0.0,
            "recency_log": math.log1p(since),
            "purchase_days_log": math.log1p(record.days),
        }
    return inputs


class PurchasePropensity:
    """Online logistic regression on standardized inputs (both learned one sample at a
    time); no prediction before ``min_learned`` labelled samples.

    Parameters
    ----------
    days
        The horizon the probability is for (event time).
    lr
        SGD's learning rate.
    l2
        L2 penalty on the weights.
    min_learned
        Labelled samples learned before a prediction is given.
    """

    def __init__(
        self, days: float = 30.0, lr: float = 0.02, l2: float = 1e-4, min_learned: int = 200
    ) -> None:
        self.days, self.lr, self.l2, self.min_learned = days, lr, l2, min_learned
        self.scaler = preprocessing.StandardScaler()
        self.regression = linear_model.LogisticRegression(optimizer=optim.SGD(lr), l2=l2)
        self.learned = 0

    def learn_one(self, z: Mapping[str, float], y: bool) -> None:
        self.scaler.learn_one(dict(z))  # type: ignore[no-untyped-call]
        self.regression.learn_one(self._scaled(z), y)
        self.learned += 1

    def _scaled(self, z: Mapping[str, float]) -> dict[str, float]:
        return dict(self.scaler.transform_one(dict(z)))  # type: ignore[no-untyped-call]

    def predict_one(self, z: Mapping[str, float]) -> float | None:
        """The probability of a purchase within ``days``; None while still learning."""
        if self.learned < self.min_learned:
            return None
        proba = self.regression.predict_proba_one(self._scaled(z))  # type: ignore[no-untyped-call]
        return float(proba.get(True, 0.0))

    def to_state(self) -> dict[str, Any]:
        s = self.scaler
        return {
            "days": self.days, "lr": self.lr, "l2": self.l2, "min_learned": self.min_learned,
            "learned": self.learned, "intercept": float(self.regression.intercept),
            "weights": {k: float(v) for k, v in self.regression._weights.items()},
            "counts": dict(s.counts), "means": dict(s.means), "vars": dict(s.vars),
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PurchasePropensity:
        model = cls(state["days"], state["lr"], state["l2"], state["min_learned"])
        model.learned = int(state["learned"])
        model.regression.intercept = float(state["intercept"])
        for name, weight in state["weights"].items():
            model.regression._weights[name] = float(weight)
        for attribute in ("counts", "means", "vars"):
            getattr(model.scaler, attribute).update(state[attribute])
        return model


@dataclass(slots=True)
class Pending:
    """A sample waiting for its label."""

    t: float
    z: dict[str, float]
    predicted: float | None
    bought: bool = False


class DelayedLabels:
    """Samples waiting ``days`` of event time for their label, one per customer (a
    customer's next sample waits until its pending one is labelled), at most
    ``capacity`` at once.

    >>> labels = DelayedLabels(days=30.0, capacity=10)
    >>> labels.offer(1, {"a": 1.0}, t=0.0, predicted=None)
    True
    >>> labels.purchase(1, t=5 * DAY)
    >>> labels.matured(now=31 * DAY)   # within the grace of 3 days: not yet
    []
    >>> [(p.bought, p.t) for p in labels.matured(now=34 * DAY)]
    [(True, 0.0)]
    """

    def __init__(self, days: float, capacity: int) -> None:
        self.horizon = days * DAY
        self.grace = self.horizon / 10
        self.capacity = capacity
        self.pending: dict[int, Pending] = {}
        self._due: list[tuple[float, int]] = []
        self.refused = 0

    def offer(self, key: int, z: dict[str, float], t: float, predicted: float | None) -> bool:
        if key in self.pending:
            return False
        if len(self.pending) >= self.capacity:
            self.refused += 1
            return False
        self.pending[key] = Pending(t, z, predicted)
        heapq.heappush(self._due, (t, key))
        return True

    def purchase(self, key: int, t: float) -> None:
        """The customer ``key`` bought at ``t``: its pending sample's label if in time."""
        waiting = self.pending.get(key)
        if waiting is not None and waiting.t < t <= waiting.t + self.horizon:
            waiting.bought = True

    def matured(self, now: float) -> list[Pending]:
        """The samples whose window closed by event time ``now``, oldest first."""
        out = []
        while self._due and self._due[0][0] + self.horizon + self.grace <= now:
            t, key = heapq.heappop(self._due)
            waiting = self.pending.get(key)
            if waiting is not None and waiting.t == t:
                out.append(self.pending.pop(key))
        return out


@dataclass(slots=True)
class Prequential:
    """Predictions made before their labels, binned: AUC and expected calibration
    error (the mean gap between predicted and observed rates over ten bins, weighted
    by the bins' counts).

    >>> q = Prequential()
    >>> for p, y in ((0.9, True), (0.8, True), (0.2, False), (0.1, False)):
    ...     q.add(p, y)
    >>> q.auc(), q.count
    (1.0, 4)
    """

    positives: list[int] = field(default_factory=lambda: [0] * _BINS)
    negatives: list[int] = field(default_factory=lambda: [0] * _BINS)
    predicted_sum: list[float] = field(default_factory=lambda: [0.0] * _BINS)

    @property
    def count(self) -> int:
        return sum(self.positives) + sum(self.negatives)

    def add(self, predicted: float, bought: bool) -> None:
        b = min(int(predicted * _BINS), _BINS - 1)
        (self.positives if bought else self.negatives)[b] += 1
        self.predicted_sum[b] += predicted

    def auc(self) -> float | None:
        """Probability a buyer is scored above a non-buyer (ties count half)."""
        pos, neg = sum(self.positives), sum(self.negatives)
        if not pos or not neg:
            return None
        below = wins = 0.0
        for p, n in zip(self.positives, self.negatives, strict=True):
            wins += p * (below + n / 2)
            below += n
        return wins / (pos * neg)

    def calibration_error(self, bins: int = 10) -> float | None:
        if not self.count:
            return None
        per = _BINS // bins
        gap = 0.0
        for i in range(0, _BINS, per):
            n = sum(self.positives[i : i + per]) + sum(self.negatives[i : i + per])
            if n:
                observed = sum(self.positives[i : i + per]) / n
                gap += abs(sum(self.predicted_sum[i : i + per]) / n - observed) * n
        return gap / self.count
