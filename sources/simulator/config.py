"""What to simulate: :class:`SimulationConfig`, frozen and validated.

Besides the field bounds, the weights must name known personas, a run with drift
needs room for its switches (``warmup_days + settle_days <= days``), and anonymous
visitors who are meant to identify need something that identifies them.

>>> config = SimulationConfig(customers=10, days=7.0, warmup_days=3.0, settle_days=3.0)
>>> config.seed, config.campaign_every_days
(7, 7.0)
>>> config.anonymous_share  # anonymous traffic is off unless asked for
0.0
>>> SimulationConfig(anonymous_share=0.5, identify_after_sessions=None,
...                  identify_on_email_click=False)
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for SimulationConfig
...
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
    anonymous_share : float
        Share of the customers (rounded to a count, drawn at random) whose site activity
        (clicks and downloads) starts anonymous: until the customer identifies, those
        events carry only ``anonymous_id``, the customer's cookie id, and no
        ``customer_id``, ``properties`` or customer-named event or session id. Emails and
        purchases always carry ``customer_id`` (the address and the order are known).
        ``0.0`` (the default) turns anonymous traffic off and leaves the output as it
        was without these options.
    never_identify_share : float
        Share of the anonymous customers (rounded to a count) who never identify: all
        their site activity, landings from email clicks included, stays anonymous.
    identify_after_sessions : int or None
        An anonymous customer who identifies does so at the start of its
        ``identify_after_sessions``-th site session (a sign-up or login; a landing from
        an email click counts as a session) or, with ``identify_on_email_click``, at the
        landing of its first email click, whichever comes first. ``None``: no sign-up.
    identify_on_email_click : bool
        Whether the landing of an email click identifies (the tracked link says who was
        mailed).
    shared_device_share : float
        Share of the identifying customers' cookie ids (rounded to a count of pairs)
        that two of them share, like a family or office computer: both customers'
        anonymous visits carry the same cookie id, and each identifies from it, so the
        second identify of that cookie names a different customer.
    cookie_prefix : str
        Prefix of cookie ids (followed by 16 random hex digits).

    Notes
    -----
    An identification is one :class:`~segflow.models.events.IdentifyEvent` (the cookie
    id, the customer id, the customer's properties as ``traits``) at the moment of the
    identifying session's first click, just before that click. That click and every
    later site event of the customer carry ``customer_id``, with the cookie id beside
    it as ``anonymous_id``. Downloads and orders do not identify. An anonymous customer
    who never reaches its trigger within the span (a dormant one, say) stays anonymous;
    :class:`~segflow.sources.simulator.truth.Simulation` records who identified when.
    The anonymity decisions come from their own random stream, so the other draws, and
    every event of a customer who is not anonymous, are the same with or without them.
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
    anonymous_share: float = Field(0.0, ge=0.0, le=1.0)
    never_identify_share: float = Field(0.0, ge=0.0, le=1.0)
    identify_after_sessions: int | None = Field(3, ge=1)
    identify_on_email_click: bool = True
    shared_device_share: float = Field(0.0, ge=0.0, le=1.0)
    cookie_prefix: str = Field("ck-", max_length=32)

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
        if (
            self.anonymous_share > 0
            and self.never_identify_share < 1
            and self.identify_after_sessions is None
            and not self.identify_on_email_click
        ):
            raise ValueError(
                "nothing identifies an anonymous customer: set identify_after_sessions or "
                "identify_on_email_click (or never_identify_share=1)"
            )
        return self
