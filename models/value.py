"""Value scores: who is still a customer and what it will buy (buy-till-you-die).

A customer's purchase statistics live in its profile (first and latest purchase,
purchase days, lifetime spend); the population's parameters (:class:`ValueModel`: a
:class:`~.btyd.BgNbd` and a :class:`~.btyd.GammaGamma`, in days) are fitted by the
trainer on a sample of customers (:class:`CustomerSample`) and carried in the model
snapshot. A score needs nothing but the two.

>>> from .btyd import BgNbd
>>> model = ValueModel(BgNbd(r=0.243, alpha=4.414 * 7, a=0.793, b=2.426), None)
>>> record = PurchaseRecord(first=0.0, last=30 * DAY, days=3, spend=90.0)
>>> scores = model.scores(record, at=60 * DAY)
>>> round(scores["p_alive"], 3), round(scores["expected_purchases_90d"], 3)  # as in weeks
(0.638, 1.165)
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from .btyd import BgNbd, GammaGamma
from .timeutil import DAY

if TYPE_CHECKING:
    from .profile import Profile

#: Days ahead ``expected_purchases_90d`` and ``expected_value_90d`` look.
HORIZON_DAYS = 90.0
#: The scores this module adds (``customer_age_days``, days since the first purchase,
#: from the first purchase; the others once the value model is fitted).
VALUE_SCORES = (
    "customer_age_days", "p_alive", "expected_purchases_90d", "expected_value_90d",
    "value_percentile",
)  # fmt: skip
_FORECASTS = frozenset({"expected_purchases_90d", "expected_value_90d"})
#: Customers with a repeat purchase a spend fit needs at least.
MIN_SPEND_CUSTOMERS = 20


class ValueConfig(BaseModel):
    """How the value scores are learned (event time throughout)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customers: int = Field(
        20_000, ge=100, description="Customers whose purchase statistics the trainer keeps "
        "for the value fits (a uniform sample by id hash), and most samples awaiting a "
        "propensity label."
    )  # fmt: skip
    refit_days: float = Field(7.0, gt=0, description="Event time between two value fits.")
    min_repeat_buyers: int = Field(
        50, ge=5, description="Sampled customers who bought again that a first fit needs."
    )
    propensity_days: float = Field(
        30.0, gt=0, description="The purchase propensity is for a purchase within this."
    )
    watch_days: float = Field(
        365.0, ge=0, description="The sweep re-reads a silent buyer's value scores (once "
        "per half-life after its first six) until this long after its last event."
    )  # fmt: skip


def customer_hash(key: str) -> int:
    """A customer's 63-bit hash: samples of customers are taken by it (the lowest
    hashes are a uniform sample that stays the same as customers come and go).

    >>> customer_hash("c1") == customer_hash("c1"), 0 <= customer_hash("c2") < 2**63
    (True, True)
    """
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True, slots=True)
class PurchaseRecord:
    """A customer's purchase statistics: first and latest purchase (epoch s), the days
    with a purchase, and the lifetime spend (refunds taken off)."""

    first: float
    last: float
    days: int
    spend: float

    @classmethod
    def of(cls, profile: Profile) -> PurchaseRecord | None:
        """The profile's statistics; None before its first purchase."""
        if profile.first_purchase is None or profile.last_purchase is None:
            return None
        return cls(
            profile.first_purchase, profile.last_purchase, profile.purchase_days,
            profile.spend_total,
        )  # fmt: skip

    def statistics(self, at: float) -> tuple[float, float, float, float]:
        """BG/NBD's ``x`` (repeat purchase days), ``t_x`` and ``T`` in days at ``at``,
        and the mean spend per purchase day."""
        days = max(self.days, 1)
        age = max(at - self.first, self.last - self.first, 0.0) / DAY
        return float(days - 1), max(self.last - self.first, 0.0) / DAY, age, self.spend / days


@dataclass(frozen=True, slots=True)
class ValueModel:
    """The population's purchase (BG/NBD) and spend (Gamma-Gamma) parameters, days."""

    purchases: BgNbd
    spend: GammaGamma | None
    #: Lifetime spend at the 0th, 5th, ..., 100th percentile of the sampled buyers.
    spend_quantiles: tuple[float, ...] = ()
    #: Customers the parameters were fitted on, and the event time of the fit.
    customers: int = 0
    fitted_at: float = 0.0

    def spend_percentile(self, spend: float) -> float | None:
        """Where a lifetime spend stands among buyers, 0-100 (linear between the
        quantiles kept).

        >>> from .btyd import BgNbd
        >>> model = ValueModel(BgNbd(1, 1, 1, 1), None, spend_quantiles=(0.0, 10.0, 50.0))
        >>> model.spend_percentile(30.0), model.spend_percentile(99.0)
        (75.0, 100.0)
        """
        q = self.spend_quantiles
        if len(q) < 2:
            return None
        if spend <= q[0]:
            return 0.0
        i = bisect.bisect_left(q, spend)
        if i >= len(q):
            return 100.0
        low, high = q[i - 1], q[i]
        within = (spend - low) / (high - low) if high > low else 1.0
        return 100.0 * (i - 1 + within) / (len(q) - 1)

    def scores(
        self, record: PurchaseRecord | None, at: float, only: frozenset[str] | None = None
    ) -> dict[str, float]:
        """``p_alive``, ``expected_purchases_90d``, ``value_percentile`` and
        ``expected_value_90d`` (with a spend model) of a customer at event time ``at``
        (``only``: just these, when given); none before a purchase."""
        if record is None:
            return {}
        x, t_x, age, mean_spend = record.statistics(at)
        scores = {"p_alive": self.purchases.p_alive(x, t_x, age)}
        percentile = self.spend_percentile(record.spend)
        if percentile is not None:
            scores["value_percentile"] = percentile
        if only is not None and not only & _FORECASTS:
            return {k: round(v, 4) for k, v in scores.items()}
        expected = self.purchases.expected_purchases(HORIZON_DAYS, x, t_x, age)
        scores["expected_purchases_90d"] = expected
        if self.spend is not None:
            per_purchase = self.spend.expected_spend(x, mean_spend if x > 0 else 0.0)
            scores["expected_value_90d"] = expected * per_purchase
        return {k: round(v, 4) for k, v in scores.items() if math.isfinite(v) and v >= 0}

    def to_state(self) -> dict[str, Any]:
        state = {f"bgnbd_{k}": getattr(self.purchases, k) for k in ("r", "alpha", "a", "b")}
        if self.spend is not None:
            state |= {f"gg_{k}": getattr(self.spend, k) for k in ("p", "q", "v")}
        return state | {
            "spend_quantiles": list(self.spend_quantiles),
            "customers": self.customers,
            "fitted_at": self.fitted_at,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ValueModel:
        purchases = BgNbd(*(float(state[f"bgnbd_{k}"]) for k in ("r", "alpha", "a", "b")))
        spend = None
        if "gg_p" in state:
            spend = GammaGamma(*(float(state[f"gg_{k}"]) for k in ("p", "q", "v")))
        quantiles = tuple(float(v) for v in state.get("spend_quantiles", ()))
        customers, fitted_at = int(state.get("customers", 0)), float(state.get("fitted_at", 0))
        return cls(purchases, spend, quantiles, customers, fitted_at)


class CustomerSample:
    """The latest purchase statistics of the ``capacity`` customers with the lowest
    :func:`customer_hash` (a bottom-k sample: uniform over customers, however often
    each buys, so frequent buyers do not crowd out the lapsed ones a fit must see).

    >>> sample = CustomerSample(capacity=2)
    >>> for key in (9, 3, 7, 1):
    ...     _ = sample.offer(key, PurchaseRecord(0.0, 0.0, 1, 5.0))
    >>> sorted(sample.records)
    [1, 3]
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: dict[int, PurchaseRecord] = {}
        self._heap: list[int] = []  # the kept hashes, negated: the largest on top

    def offer(self, key: int, record: PurchaseRecord) -> bool:
        """Keep ``record`` as ``key``'s statistics if ``key`` is in the sample."""
        if key in self.records:
            old = self.records[key]
            if (record.last, record.days) >= (old.last, old.days):
                self.records[key] = record
            return True
        if len(self.records) >= self.capacity:
            if key >= -self._heap[0]:
                return False
            del self.records[-heapq.heappushpop(self._heap, -key)]
        else:
            heapq.heappush(self._heap, -key)
        self.records[key] = record
        return True

    def arrays(self, at: float) -> tuple[NDArray[np.float64], ...]:
        """``x``, ``t_x``, ``T`` (days at ``at``) and mean spend of every kept customer."""
        rows = [record.statistics(at) for record in self.records.values()]
        if not rows:
            return tuple(np.zeros(0) for _ in range(4))
        return tuple(np.asarray(column, dtype=float) for column in zip(*rows, strict=True))


def fit_value_model(
    columns: tuple[NDArray[np.float64], ...], at: float, min_repeat_buyers: int
) -> ValueModel | None:
    """Fit the purchase and spend models on a sample's columns
    (:meth:`CustomerSample.arrays`); None while fewer than ``min_repeat_buyers``
    bought again (the rates cannot be told apart) or when a fit fails."""
    x, t_x, age, mean_spend = columns
    if int((x > 0).sum()) < min_repeat_buyers:
        return None
    try:
        purchases = BgNbd.fit(x, t_x, age)
    except ValueError:
        return None
    spend = None
    if int(((x > 0) & (mean_spend > 0)).sum()) >= MIN_SPEND_CUSTOMERS:
        try:
            spend = GammaGamma.fit(x, mean_spend)
        except ValueError:
            spend = None
    days = x + 1
    spend_totals = mean_spend * days
    quantiles = tuple(float(v) for v in np.quantile(spend_totals, np.linspace(0, 1, 21)))
    return ValueModel(purchases, spend, quantiles, len(x), at)
