"""What to simulate: :class:`SimulationConfig`, frozen and validated.

Besides the field bounds, the weights must name known personas, and a run with drift
needs room for its switches (``warmup_days + settle_days <= days``).

>>> config = SimulationConfig(customers=10, days=7.0, warmup_days=3.0, settle_days=3.0)
>>> config.seed, config.campaign_every_days
(7, 7.0)
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from .personas import PERSONAS


class SimulationConfig(BaseModel):
    """What to simulate. Frozen; every random draw derives from ``seed``.

    Attributes
    ----------
    customers : int
        Number of customers (ids ``f"{customer_prefix}{i:05d}"``).
    days : float
        Simulated span from ``start``.
    seed : int
        Seed of every random draw.
    start : datetime
        Aware start of the simulated span (events are stamped in UTC).
    drift_fraction : float
        Fraction of customers (rounded to a count) that switch persona once.
    dormant_share : float
        Share of the switchers (rounded to a count) that go ``dormant``; the others switch
        to a different non-dormant persona. Customers that start dormant always switch to
        a non-dormant persona.
    warmup_days, settle_days : float
        Switch moments are uniform in ``[warmup_days, days - settle_days]`` after ``start``.
    persona_weights : dict of str to float, optional
        Relative size of each initial persona (missing names weigh 0); equal if omitted.
        Counts are exact (largest remainder), customers are shuffled among them.
    heterogeneity : float
        Sigma of a per-customer log-normal multiplier (mean 1) on web, download and
        purchase rates.
    weekend_factor : float
        Relative activity on Saturdays and Sundays (UTC).
    campaign_every_days, campaign_offset_hours : float
        Email campaigns go out at ``start + campaign_offset_hours + k * campaign_every_days``.
    customer_prefix : str
        Prefix of customer ids.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    customers: int = Field(1000, ge=0)
    days: float = Field(60.0, gt=0)
    seed: int = 7
    start: AwareDatetime = datetime(2026, 9, 1, tzinfo=UTC)
    drift_fraction: float = Field(0.2, ge=0.0, le=1.0)
    dormant_share: float = Field(0.3, ge=0.0, le=1.0)
    warmup_days: float = Field(21.0, ge=0.0)
    settle_days: float = Field(14.0, ge=0.0)
    persona_weights: dict[str, float] | None = None
    heterogeneity: float = Field(0.25, ge=0.0, le=2.0)
    weekend_factor: float = Field(0.35, ge=0.0, le=1.0)
    campaign_every_days: float = Field(7.0, gt=0.0)
    campaign_offset_hours: float = Field(9.0, ge=0.0)
    customer_prefix: str = Field("c", max_length=32)

    @model_validator(mode="after")
    def _check(self) -> SimulationConfig:
        if self.persona_weights is not None:
            unknown = sorted(set(self.persona_weights) - set(PERSONAS))
            if unknown:
                raise ValueError(f"persona_weights: unknown personas {unknown}")
            weights = self.persona_weights.values()
            if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
                raise ValueError("persona_weights: weights must be >= 0 with a positive sum")
        if self.drift_fraction > 0 and self.warmup_days + self.settle_days > self.days:
            raise ValueError(
                "drift window is empty: need warmup_days + settle_days <= days "
                "(or drift_fraction=0)"
            )
        return self
