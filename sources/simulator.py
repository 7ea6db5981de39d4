"""A seeded generator of realistic marketing traffic, with ground truth and scheduled drift.

Every simulated customer follows one behavioral *persona* (see :data:`PERSONA_TABLE`):
web sessions of several clicks, downloads by funnel stage and purchases arrive as
Poisson processes (fewer on weekends, around a customer-specific hour of the day), and a
weekly email campaign is sent to everyone who has not unsubscribed, so even dormant
customers receive ``sent`` and ``delivered`` (or ``bounce``) emails. A configurable
fraction of the customers switches persona once, at a known moment drawn uniformly inside
``[warmup_days, days - settle_days]``; a share of those switchers goes ``dormant``.

Everything is drawn from ``SimulationConfig.seed``: the same configuration always gives
the same events, ids and ground truth. Nothing here reads the clock.

>>> config = SimulationConfig(customers=20, days=14.0, warmup_days=3.0, settle_days=3.0)
>>> sim = simulate(config)
>>> len(sim.personas), len(sim.switches)
(20, 4)
>>> all(a.occurred_at <= b.occurred_at for a, b in zip(sim.events, sim.events[1:]))
True
>>> sim.events == list(iter_events(config))
True
>>> sorted({e.kind for e in sim.events})
['click', 'download', 'email', 'purchase']
>>> PERSONAS
('researcher', 'email_reader', 'tire_kicker', 'ready_buyer', 'loyal_customer', 'dormant')
"""

from __future__ import annotations

import gc
import heapq
import math
import random
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from types import MappingProxyType
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from segflow.models.events import ClickEvent, DownloadEvent, EmailEvent, Event, PurchaseEvent

__all__ = [
    "PERSONAS",
    "PERSONA_BY_NAME",
    "PERSONA_TABLE",
    "Persona",
    "Simulation",
    "SimulationConfig",
    "Switch",
    "iter_events",
    "simulate",
]

DORMANT = "dormant"
_SECOND = 1_000_000  # microseconds
_HOUR = 3600 * _SECOND
_DAY = 24 * _HOUR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EXACT_FLOAT_US = 2**31 * _SECOND  # |seconds| < 2**31: a double is within 2**-22 s
_SITE = "https://www.segflow.example"
_UTM = "utm_source=newsletter&utm_medium=email&utm_campaign="


@dataclass(frozen=True, slots=True)
class Persona:
    """The behavior of one persona: mean rates and probabilities, before noise.

    Attributes
    ----------
    name : str
        Ground-truth label.
    sessions_per_day : float
        Mean web sessions per day (a weekday is busier than a weekend day).
    clicks_per_session : float
        Mean clicks per session (at least 1).
    pages : tuple of (str, float)
        Relative weights of the page families (see ``_PAGES``) a session visits.
    awareness_per_day, consideration_per_day, decision_per_day : float
        Mean downloads per day of assets of each funnel stage.
    email_open : float
        Probability that a delivered campaign email is opened.
    email_click : float
        Probability that an opened email is clicked (which also lands on the site).
    email_unsubscribe, email_complaint : float
        Probability, per delivered email, of unsubscribing or complaining (both stop
        further campaigns).
    email_bounce : float
        Probability that a sent email bounces instead of being delivered.
    purchases_per_day : float
        Mean orders per day.
    order_value : float
        Mean order amount in USD (log-normal).
    refund_rate : float
        Probability that an order is refunded later (a negative amount).
    """

    name: str
    sessions_per_day: float
    clicks_per_session: float
    pages: tuple[tuple[str, float], ...]
    awareness_per_day: float
    consideration_per_day: float
    decision_per_day: float
    email_open: float
    email_click: float
    email_unsubscribe: float
    email_complaint: float
    email_bounce: float
    purchases_per_day: float
    order_value: float
    refund_rate: float


# fmt: off
#: The personas, one row each. Rates are per day (averaged over the week); email
#: probabilities are per campaign. Tune here.
#: Two choices keep personas identifiable within a 7-day half-life, as segments must be:
#: a tire-kicker visits often but briefly (a visit every 4-9 days could not be told from
#: a customer who went dormant a week ago), and a ready buyer does not buy (buying makes
#: them a customer: that is a persona switch, which the drift schedule models).
PERSONA_TABLE: tuple[Persona, ...] = (
    #       name              sess/d clk/s pages
    Persona("researcher",     0.45,  4.5,  (("blog", 3), ("docs", 3), ("product", 2),
                                            ("resources", 2), ("case_studies", 1),
                                            ("home", 0.5), ("pricing", 0.3)),
            # aware consid decis  open  click  unsub   complaint bounce  buy/d  value  refund
            0.30,   0.20,  0.01,  0.12, 0.15,  0.005,  0.0005,   0.01,   0.0,   0.0,   0.0),
    Persona("email_reader",   0.03,  2.0,  (("blog", 4), ("product", 1), ("home", 1),
                                            ("resources", 1)),
            0.02,   0.0,   0.0,   0.90, 0.55,  0.002,  0.0,      0.01,   0.0,   0.0,   0.0),
    Persona("tire_kicker",    0.60,  1.8,  (("home", 4), ("blog", 2), ("pricing", 1),
                                            ("product", 1)),
            0.0,    0.0,   0.0,   0.04, 0.05,  0.01,   0.002,    0.02,   0.0,   0.0,   0.0),
    Persona("ready_buyer",    0.40,  3.5,  (("pricing", 4), ("demo", 2), ("case_studies", 2),
                                            ("product", 2), ("docs", 1), ("home", 0.5)),
            0.0,    0.05,  0.35,  0.30, 0.25,  0.003,  0.0,      0.01,   0.0,   0.0,   0.0),
    Persona("loyal_customer", 0.30,  3.0,  (("account", 4), ("support", 2), ("docs", 2),
                                            ("product", 1), ("home", 1)),
            0.01,   0.01,  0.02,  0.45, 0.25,  0.002,  0.0,      0.005,  0.25,  150.0, 0.03),
    Persona("dormant",        0.0,   1.0,  (("home", 1),),
            0.0,    0.0,   0.0,   0.0,  0.0,   0.004,  0.0,      0.03,   0.0,   0.0,   0.0),
)
# fmt: on

#: Persona names, in table order.
PERSONAS: tuple[str, ...] = tuple(p.name for p in PERSONA_TABLE)
#: Persona rows by name.
PERSONA_BY_NAME: Mapping[str, Persona] = MappingProxyType({p.name: p for p in PERSONA_TABLE})
_ACTIVE = tuple(name for name in PERSONAS if name != DORMANT)

_PAGES: Mapping[str, tuple[str, ...]] = {
    "home": ("/",),
    "blog": (
        "/blog",
        "/blog/segmentation-101",
        "/blog/churn-signals",
        "/blog/lead-scoring-guide",
        "/blog/attribution-models",
    ),
    "docs": (
        "/docs",
        "/docs/getting-started",
        "/docs/api",
        "/docs/integrations/salesforce",
        "/docs/integrations/hubspot",
    ),
    "product": ("/product", "/product/features", "/product/integrations", "/product/security"),
    "resources": ("/resources", "/resources/webinars", "/resources/whitepapers"),
    "pricing": ("/pricing", "/pricing/enterprise", "/pricing/faq"),
    "demo": ("/demo", "/contact-sales", "/trial"),
    "case_studies": ("/customers", "/customers/acme", "/customers/globex"),
    "account": ("/account", "/account/billing", "/account/orders", "/account/team"),
    "support": ("/support", "/support/tickets", "/status"),
}

# (asset_id, asset_type) per funnel stage.
_ASSETS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "awareness": (
        ("ebook-segmentation-basics", "ebook"),
        ("guide-customer-journeys", "guide"),
        ("infographic-email-benchmarks", "infographic"),
        ("whitepaper-behavioral-data", "whitepaper"),
    ),
    "consideration": (
        ("webinar-live-segments", "webinar"),
        ("case-study-acme", "case_study"),
        ("comparison-cdp-vendors", "comparison"),
        ("checklist-evaluation", "checklist"),
    ),
    "decision": (
        ("price-sheet-2026", "price_sheet"),
        ("roi-calculator", "calculator"),
        ("security-review-pack", "security"),
        ("trial-onboarding-guide", "guide"),
    ),
}

_REFERRERS: tuple[tuple[str | None, float], ...] = (
    ("https://www.google.com/", 0.40),
    (None, 0.25),
    ("https://www.linkedin.com/", 0.15),
    ("https://www.bing.com/", 0.08),
    ("https://news.ycombinator.com/", 0.05),
    ("https://www.g2.com/", 0.07),
)

# Customer properties: value -> weight. Countries also carry the local busy hour (UTC).
_LEAD_SOURCES: tuple[tuple[str, float], ...] = (
    ("organic_search", 0.30),
    ("paid_search", 0.15),
    ("social", 0.12),
    ("referral", 0.12),
    ("webinar", 0.08),
    ("event", 0.08),
    ("partner", 0.07),
    ("direct", 0.08),
)
_COUNTRIES: tuple[tuple[str, float, float], ...] = (
    ("US", 0.35, 18.0),
    ("GB", 0.10, 13.0),
    ("DE", 0.10, 12.0),
    ("FR", 0.07, 12.0),
    ("CA", 0.06, 18.0),
    ("NL", 0.05, 12.0),
    ("AU", 0.05, 1.0),
    ("IN", 0.08, 8.0),
    ("BR", 0.07, 16.0),
    ("JP", 0.07, 3.0),
)
_COMPANY_SIZES: tuple[tuple[str, float], ...] = (
    ("1-10", 0.20),
    ("11-50", 0.25),
    ("51-200", 0.25),
    ("201-1000", 0.18),
    ("1001+", 0.12),
)
_INDUSTRIES: tuple[tuple[str, float], ...] = (
    ("software", 0.30),
    ("retail", 0.15),
    ("finance", 0.15),
    ("healthcare", 0.10),
    ("manufacturing", 0.12),
    ("education", 0.08),
    ("media", 0.10),
)
_CURRENCY = "USD"


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


@dataclass(frozen=True, slots=True)
class Switch:
    """A scheduled persona change: from ``at`` on, ``customer_id`` behaves as ``to_persona``."""

    customer_id: str
    at: datetime
    from_persona: str
    to_persona: str


@dataclass(frozen=True, slots=True)
class Simulation:
    """The events of a simulation and its ground truth.

    Attributes
    ----------
    config : SimulationConfig
        What was simulated.
    events : list of Event
        All events, sorted by ``occurred_at`` (ties by customer, then per-customer order).
    personas : dict of str to str
        Final persona of each customer (after any switch).
    initial_personas : dict of str to str
        Persona of each customer at ``start``.
    switches : dict of str to Switch
        The switchers, by customer id.
    customer_properties : dict of str to dict
        The stable properties stamped on each customer's events.
    """

    config: SimulationConfig
    events: list[Event]
    personas: dict[str, str]
    initial_personas: dict[str, str]
    switches: dict[str, Switch]
    customer_properties: dict[str, dict[str, str]]

    def persona_at(self, customer_id: str, moment: datetime) -> str:
        """The persona ``customer_id`` follows at ``moment`` (aware).

        Parameters
        ----------
        customer_id : str
            A simulated customer.
        moment : datetime
            Any aware moment.

        Returns
        -------
        str
            The initial persona before the customer's switch, the new one from it on.
        """
        switch = self.switches.get(customer_id)
        if switch is not None and moment >= switch.at:
            return switch.to_persona
        return self.initial_personas[customer_id]


# --- planning ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CustomerPlan:
    index: int
    customer_id: str
    initial: str
    switch_us: int | None  # epoch microseconds
    target: str | None


@dataclass(frozen=True, slots=True)
class _Context:
    seed: int
    start_us: int
    end_us: int
    start_tod_s: float  # seconds past UTC midnight of start
    n_chunks: int
    campaigns: tuple[tuple[int, str], ...]  # (epoch us, campaign id)
    heterogeneity: float
    weekend_factor: float


def _epoch_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _SECOND + delta.microseconds


def _moment(us: int) -> datetime:
    """The UTC datetime ``us`` microseconds after the epoch."""
    if -_EXACT_FLOAT_US < us < _EXACT_FLOAT_US:
        # Faster, and exact: the float is within a quarter microsecond, rounding recovers it.
        return datetime.fromtimestamp(us / _SECOND, UTC)
    return _EPOCH + timedelta(microseconds=us)


def _persona_counts(config: SimulationConfig) -> list[int]:
    """Exact persona counts by largest remainder (ties to table order)."""
    weights = config.persona_weights
    raw = [1.0 if weights is None else weights.get(name, 0.0) for name in PERSONAS]
    total = sum(raw)
    quotas = [config.customers * w / total for w in raw]
    counts = [math.floor(q) for q in quotas]
    order = sorted(range(len(PERSONAS)), key=lambda i: (counts[i] - quotas[i], i))
    for i in order[: config.customers - sum(counts)]:
        counts[i] += 1
    return counts


def _plan(config: SimulationConfig) -> tuple[_Context, list[_CustomerPlan]]:
    rng = random.Random(config.seed)
    start_us = _epoch_us(config.start)
    end_us = start_us + round(config.days * _DAY)
    campaigns: list[tuple[int, str]] = []
    k = 0
    while True:
        at = start_us + round(
            config.campaign_offset_hours * _HOUR + k * config.campaign_every_days * _DAY
        )
        if at >= end_us:
            break
        campaigns.append((at, f"cmp-{k + 1:03d}-{_moment(at):%Y%m%d}"))
        k += 1
    context = _Context(
        seed=config.seed,
        start_us=start_us,
        end_us=end_us,
        start_tod_s=(start_us % _DAY) / _SECOND,
        n_chunks=math.ceil((end_us - start_us) / _DAY),
        campaigns=tuple(campaigns),
        heterogeneity=config.heterogeneity,
        weekend_factor=config.weekend_factor,
    )

    n = config.customers
    initial = [
        name for name, c in zip(PERSONAS, _persona_counts(config), strict=True) for _ in range(c)
    ]
    rng.shuffle(initial)
    switchers = rng.sample(range(n), round(config.drift_fraction * n))
    eligible = [i for i in switchers if initial[i] != DORMANT]
    n_dormant = min(round(config.dormant_share * len(switchers)), len(eligible))
    to_dormant = set(rng.sample(eligible, n_dormant))
    weights = config.persona_weights
    lo_us = start_us + round(config.warmup_days * _DAY)
    hi_us = end_us - round(config.settle_days * _DAY)
    targets: dict[int, tuple[int, str]] = {}
    for i in switchers:
        at = lo_us + round(rng.random() * (hi_us - lo_us))
        if i in to_dormant:
            targets[i] = (at, DORMANT)
            continue
        options = [name for name in _ACTIVE if name != initial[i]]
        option_weights = [1.0 if weights is None else weights.get(o, 0.0) for o in options]
        if sum(option_weights) <= 0:
            option_weights = [1.0] * len(options)
        targets[i] = (at, rng.choices(options, weights=option_weights)[0])
    plans = []
    for i in range(n):
        switch = targets.get(i)
        plans.append(
            _CustomerPlan(
                index=i,
                customer_id=f"{config.customer_prefix}{i:05d}",
                initial=initial[i],
                switch_us=None if switch is None else switch[0],
                target=None if switch is None else switch[1],
            )
        )
    return context, plans


# --- per-customer generation ------------------------------------------------------------


def _cum(pairs: tuple[tuple[Any, float], ...]) -> tuple[list[Any], list[float]]:
    return [p[0] for p in pairs], list(accumulate(p[1] for p in pairs))


def _page_table(persona: Persona) -> tuple[list[str], list[float]]:
    urls: list[str] = []
    weights: list[float] = []
    for family, weight in persona.pages:
        pages = _PAGES[family]
        urls.extend(pages)
        weights.extend([weight / len(pages)] * len(pages))
    return urls, list(accumulate(weights))


_PAGE_TABLES = {p.name: _page_table(p) for p in PERSONA_TABLE}
_REFERRER_TABLE = _cum(_REFERRERS)
_LEAD_TABLE = _cum(_LEAD_SOURCES)
_COUNTRY_TABLE = _cum(tuple((c[0], c[1]) for c in _COUNTRIES))
_PEAK_HOUR = {c[0]: c[2] for c in _COUNTRIES}
_SIZE_TABLE = _cum(_COMPANY_SIZES)
_INDUSTRY_TABLE = _cum(_INDUSTRIES)
_STAGES = ("awareness", "consideration", "decision")


def _pick(rng: random.Random, table: tuple[list[Any], list[float]]) -> Any:
    values, cum = table
    return values[bisect_right(cum, rng.random() * cum[-1], 0, len(cum) - 1)]


# Raw events in a customer's pending heap: (epoch us, sequence, kind, type-specific fields).
_CLICK, _DOWNLOAD, _EMAIL, _PURCHASE = 0, 1, 2, 3
_Raw = tuple[int, int, int, dict[str, Any]]
_VALIDATORS: tuple[Callable[[dict[str, Any]], Event], ...] = tuple(
    model.__pydantic_validator__.validate_python
    for model in (ClickEvent, DownloadEvent, EmailEvent, PurchaseEvent)
)
_Item = tuple[int, Event]  # (epoch us, event)


# The independent Poisson processes of a persona's own activity, superposed: one draw of
# the day's total, then each arrival is marked with its process.
_SESSION, _AWARE, _CONSIDER, _DECIDE, _ORDER = 0, 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class _Segment:
    """A customer's persona over ``[lo, hi)`` with its superposed daily activity."""

    persona: Persona
    lo: int
    hi: int
    rate: float  # expected arrivals per day (weekday-boosted, before weekend thinning)
    limit: float  # exp(-rate), for Knuth's Poisson draw
    processes: tuple[int, ...]
    cum: tuple[float, ...]


def _segment(persona: Persona, lo: int, hi: int, scale: float) -> _Segment:
    rates = (
        (_SESSION, persona.sessions_per_day),
        (_AWARE, persona.awareness_per_day),
        (_CONSIDER, persona.consideration_per_day),
        (_DECIDE, persona.decision_per_day),
        (_ORDER, persona.purchases_per_day),
    )
    active = [(process, rate * scale) for process, rate in rates if rate > 0]
    total = sum(rate for _, rate in active)
    return _Segment(
        persona=persona,
        lo=lo,
        hi=hi,
        rate=total,
        limit=math.exp(-total),
        processes=tuple(process for process, _ in active),
        cum=tuple(accumulate(rate for _, rate in active)),
    )


class _Customer:
    """Generates one customer's events in time order, a day at a time."""

    def __init__(self, plan: _CustomerPlan, context: _Context) -> None:
        self.plan = plan
        self.ctx = context
        rng = random.Random(f"segflow-simulator/{context.seed}/{plan.index}")
        self.rng = rng
        country: str = _pick(rng, _COUNTRY_TABLE)
        self.properties: dict[str, str] = {
            "lead_source": _pick(rng, _LEAD_TABLE),
            "country": country,
            "company_size": _pick(rng, _SIZE_TABLE),
            "industry": _pick(rng, _INDUSTRY_TABLE),
        }
        self.peak_s = (_PEAK_HOUR[country] + rng.gauss(0.0, 1.5)) * 3600.0
        sigma = context.heterogeneity
        activity = rng.lognormvariate(-sigma * sigma / 2.0, sigma) if sigma > 0 else 1.0
        # Weekdays get 7 / (5 + 2 w) of the mean daily rate, weekend days w times that.
        scale = activity * 7.0 / (5.0 + 2.0 * context.weekend_factor)
        self.pending: list[_Raw] = []
        self.emitted = 0
        self.next_campaign = 0
        self.seq = 0
        self.sessions = 0
        self.orders = 0
        self.stopped_us = context.end_us  # unsubscribed or complained: no more campaigns
        start, end = context.start_us, context.end_us
        initial = PERSONA_BY_NAME[plan.initial]
        # The persona's own events (all but received emails) happen inside its segment.
        self.segments: tuple[_Segment, ...]
        if plan.switch_us is None or plan.target is None:
            self.segments = (_segment(initial, start, end, scale),)
        else:
            target = PERSONA_BY_NAME[plan.target]
            self.segments = (
                _segment(initial, start, plan.switch_us, scale),
                _segment(target, plan.switch_us, end, scale),
            )

    def _push(self, us: int, hi: int, kind: int, fields: dict[str, Any]) -> bool:
        """Queue an event if it happens before ``hi`` (and the end of the simulation)."""
        if us >= hi or us >= self.ctx.end_us:
            return False
        self.seq += 1
        heapq.heappush(self.pending, (us, self.seq, kind, fields))
        return True

    def _activity(self, segment: _Segment, chunk_us: int) -> None:
        """One day of web sessions, downloads and orders under ``segment``'s persona."""
        rng = self.rng
        # Knuth's Poisson draw (a normal approximation for implausibly high rates).
        if segment.rate > 30.0:
            count = max(0, round(rng.gauss(segment.rate, math.sqrt(segment.rate))))
        else:
            count = 0
            p = rng.random()
            while p > segment.limit:
                count += 1
                p *= rng.random()
        if not count:
            return
        arrivals = []
        peak = self.peak_s - self.ctx.start_tod_s
        weekend_factor = self.ctx.weekend_factor
        cum = segment.cum
        for _ in range(count):
            # Around the customer's busy hour; Saturdays and Sundays (UTC) are thinned.
            us = chunk_us + int(((peak + rng.gauss(0.0, 9000.0)) % 86_400.0) * _SECOND)
            process = segment.processes[bisect_right(cum, rng.random() * cum[-1], 0, len(cum) - 1)]
            if ((us // _DAY) + 3) % 7 >= 5 and rng.random() >= weekend_factor:
                continue
            if segment.lo <= us < segment.hi:
                arrivals.append((us, process))
        arrivals.sort()
        for us, process in arrivals:
            if process == _SESSION:
                self._session(segment, us)
            elif process == _ORDER:
                self._order(segment, us)
            else:
                stage = _STAGES[process - _AWARE]
                asset_id, asset_type = rng.choice(_ASSETS[stage])
                self._push(
                    us,
                    segment.hi,
                    _DOWNLOAD,
                    {"asset_id": asset_id, "asset_type": asset_type, "funnel_stage": stage},
                )

    def _session(self, segment: _Segment, us: int) -> None:
        rng = self.rng
        persona = segment.persona
        clicks = 1
        if persona.clicks_per_session > 1.0:
            limit = math.exp(1.0 - persona.clicks_per_session)
            p = rng.random()
            while p > limit:
                clicks += 1
                p *= rng.random()
        self.sessions += 1
        session_id = f"{self.plan.customer_id}-s{self.sessions}"
        referrer: str | None = _pick(rng, _REFERRER_TABLE)
        urls, cum = _PAGE_TABLES[persona.name]
        last = len(cum) - 1
        total = cum[-1]
        for _ in range(clicks):
            url = urls[bisect_right(cum, rng.random() * total, 0, last)]
            if not self._push(
                us, segment.hi, _CLICK, {"url": url, "referrer": referrer, "session_id": session_id}
            ):
                return
            referrer = _SITE + url
            us += 2 * _SECOND + int(rng.expovariate(1.0 / 45.0) * _SECOND)

    def _order(self, segment: _Segment, us: int) -> None:
        rng = self.rng
        persona = segment.persona
        self.orders += 1
        order_id = f"{self.plan.customer_id}-o{self.orders}"
        # Log-normal with sigma 0.5 and mean order_value.
        amount = round(rng.lognormvariate(math.log(persona.order_value) - 0.125, 0.5), 2)
        self._push(
            us,
            segment.hi,
            _PURCHASE,
            {"order_id": order_id, "amount": amount, "currency": _CURRENCY},
        )
        if rng.random() < persona.refund_rate:
            refund_us = us + int(rng.uniform(1.0, 14.0) * _DAY)
            self._push(
                refund_us,
                segment.hi,
                _PURCHASE,
                {"order_id": order_id, "amount": -amount, "currency": _CURRENCY},
            )

    def _campaign(self, send_us: int, campaign_id: str) -> None:
        rng = self.rng
        segment = self.segments[-1] if send_us >= self.segments[-1].lo else self.segments[0]
        persona, hi = segment.persona, segment.hi
        sent = send_us + int(rng.uniform(0.0, 1800.0) * _SECOND)
        if sent >= self.stopped_us:
            return
        end = self.ctx.end_us
        self._push(sent, end, _EMAIL, {"campaign_id": campaign_id, "action": "sent"})
        if rng.random() < persona.email_bounce:
            self._push(
                sent + int(rng.uniform(2.0, 120.0) * _SECOND),
                end,
                _EMAIL,
                {"campaign_id": campaign_id, "action": "bounce"},
            )
            return
        delivered = sent + int(rng.uniform(1.0, 30.0) * _SECOND)
        self._push(delivered, end, _EMAIL, {"campaign_id": campaign_id, "action": "delivered"})
        last = delivered
        if rng.random() < persona.email_open:
            opened = delivered + int(rng.expovariate(1.0 / (5.0 * 3600.0)) * _SECOND)
            if self._push(opened, hi, _EMAIL, {"campaign_id": campaign_id, "action": "open"}):
                last = opened
                if rng.random() < persona.email_click:
                    clicked = opened + 5 * _SECOND + int(rng.expovariate(1.0 / 60.0) * _SECOND)
                    if self._push(
                        clicked, hi, _EMAIL, {"campaign_id": campaign_id, "action": "click"}
                    ):
                        # The click lands on the site: a short session tagged with UTM.
                        url: str = _pick(rng, _PAGE_TABLES[persona.name])
                        self.sessions += 1
                        tagged = f"{url}?{_UTM}{campaign_id}"
                        session_id = f"{self.plan.customer_id}-s{self.sessions}"
                        self._push(
                            clicked + 2 * _SECOND,
                            hi,
                            _CLICK,
                            {"url": tagged, "referrer": None, "session_id": session_id},
                        )
        if rng.random() < persona.email_unsubscribe:
            if last > delivered:
                at = last + 30 * _SECOND + int(rng.expovariate(1.0 / 120.0) * _SECOND)
            else:
                at = delivered + int(rng.expovariate(1.0 / 86_400.0) * _SECOND)
            if self._push(at, hi, _EMAIL, {"campaign_id": campaign_id, "action": "unsubscribe"}):
                self.stopped_us = min(self.stopped_us, at)
        if rng.random() < persona.email_complaint:
            at = delivered + int(rng.expovariate(1.0 / 43_200.0) * _SECOND)
            if self._push(at, hi, _EMAIL, {"campaign_id": campaign_id, "action": "complaint"}):
                self.stopped_us = min(self.stopped_us, at)

    def day(self, chunk: int, out: list[_Item]) -> None:
        """Generate day ``chunk`` and append the events due before its end to ``out``.

        Days must come in order. The events are appended in time order, numbered
        ``1, 2, ...`` per customer.
        """
        ctx = self.ctx
        chunk_us = ctx.start_us + chunk * _DAY
        chunk_end = min(chunk_us + _DAY, ctx.end_us)
        # Everything generated for this day happens at or after chunk_us, so once the day
        # is generated, the pending events before chunk_end are final.
        for segment in self.segments:
            if segment.lo < chunk_end and segment.hi > chunk_us:
                self._activity(segment, chunk_us)
        campaigns = ctx.campaigns
        while self.next_campaign < len(campaigns) and campaigns[self.next_campaign][0] < chunk_end:
            self._campaign(*campaigns[self.next_campaign])
            self.next_campaign += 1
        pending = self.pending
        customer_id = self.plan.customer_id
        properties = self.properties
        n = self.emitted
        while pending and pending[0][0] < chunk_end:
            us, _, kind, data = heapq.heappop(pending)
            n += 1
            data["event_id"] = f"{customer_id}-{n}"
            data["customer_id"] = customer_id
            data["occurred_at"] = _moment(us)
            data["properties"] = properties  # copied by validation
            # What the model's __init__ does, minus its overhead: strict validation.
            out.append((us, _VALIDATORS[kind](data)))
        self.emitted = n
        # _push drops anything at or after the end, so nothing is pending after the last day.


def _days(context: _Context, customers: list[_Customer]) -> Iterator[list[_Item]]:
    """The events of each simulated day, sorted by time, then customer, then number.

    A stable sort on the time alone keeps the customers in index order and each
    customer's events in their own order.
    """
    for chunk in range(context.n_chunks):
        batch: list[_Item] = []
        with _without_cyclic_gc():
            for customer in customers:
                customer.day(chunk, batch)
        batch.sort(key=_time)
        yield batch


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (reference counting still frees everything).

    A day makes thousands of new containers and no cycle; the collector would rescan the
    growing heap of events again and again, about doubling the time of ``simulate``.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _time(item: _Item) -> int:
    return item[0]


def iter_events(config: SimulationConfig) -> Iterator[Event]:
    """Yield the events of ``config`` lazily, in time order.

    The same events, in the same order, as ``simulate(config).events``, generated a day
    at a time: memory holds about a day of events (plus per-customer state).

    Parameters
    ----------
    config : SimulationConfig
        What to simulate.

    Yields
    ------
    Event
        Click, download, email and purchase events, by ``occurred_at``.
    """
    context, plans = _plan(config)
    for batch in _days(context, [_Customer(plan, context) for plan in plans]):
        for item in batch:
            yield item[1]


def simulate(config: SimulationConfig) -> Simulation:
    """Generate all events of ``config`` with the ground truth.

    Parameters
    ----------
    config : SimulationConfig
        What to simulate.

    Returns
    -------
    Simulation
        Events sorted by time, initial and final personas, the switches, and the
        customer properties.

    Notes
    -----
    The cyclic garbage collector is paused while the events are made (reference
    counting still works); a pydantic event takes about 1.5 kB, so 5,000 customers over
    60 days (about 420,000 events) hold about 600 MB. Use :func:`iter_events` for long
    runs.
    """
    context, plans = _plan(config)
    customers = [_Customer(plan, context) for plan in plans]
    events: list[Event] = []
    with _without_cyclic_gc():  # for the whole run: the events pile up
        for batch in _days(context, customers):
            events.extend(item[1] for item in batch)
    switches = {
        p.customer_id: Switch(p.customer_id, _moment(p.switch_us), p.initial, p.target)
        for p in plans
        if p.switch_us is not None and p.target is not None
    }
    return Simulation(
        config=config,
        events=events,
        personas={p.customer_id: p.target or p.initial for p in plans},
        initial_personas={p.customer_id: p.initial for p in plans},
        switches=switches,
        customer_properties={c.plan.customer_id: dict(c.properties) for c in customers},
    )
