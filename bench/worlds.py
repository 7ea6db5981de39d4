"""Random worlds: a second persona generator, independent of ``segflow.sources.simulator``.

segflow was tuned on its own simulator; ``python -m bench.quality --worlds N`` checks it
on worlds drawn here instead. A world is drawn from one seed (``random.Random``):

- a **site**: ``b2b`` (blog, docs, pricing, demo, download pages and assets, email
  campaigns, few and large purchases; paths the engine's default ``page_stages`` know) or
  ``shop`` (``/item/``, ``/cart/``, ``/favorites/``, ``/category/``, ``/search``: paths the
  default config does not know, so every page reads as ``other``; orders with prices;
  email in three worlds of four);
- **personas**: 3-6 archetypes of that site drawn without replacement, each with rates
  drawn inside its archetype's ranges (visits from about three a day to one in ten
  days, clicks per visit, page mix, downloads and orders per visit, order value, email
  open and click probabilities), plus ``lapsed`` (nothing of its own): 4-7 in all. The
  draw is repeated until every two personas sit apart in what the engine sees
  (:func:`signature`), so the ground truth is learnable;
- **email**: one campaign every 1-30 days (log-uniform) to every subscribed customer,
  with or without ``delivered`` reports; opens hours later, clicks land on the site;
- **never-engaged** customers (5-30 %): whatever their persona, they never open an
  email; 30-70 % of their addresses bounce on the first send (hard bounce: suppressed);
- **site rhythm**: weekend activity 0.3-1.3 of a weekday's, a peak hour of the world
  and of each customer, per-customer rate multipliers (log-normal);
- **drift**: 10-25 % of customers switch persona once, uniformly in
  ``[warmup_days, days - settle_days]``; 20-40 % of the switchers lapse (to
  ``lapsed``); ground truth in :attr:`World.switches`.

1,500-2,500 customers over 56-70 days; the customer count is lowered (not below 1,500)
when the world's rates would make the event count exceed about 300k.

>>> world = generate(3)
>>> world.spec.site, len(world.spec.personas), world.spec.customers
('b2b', 4, 2500)
>>> all(a.occurred_at <= b.occurred_at for a, b in zip(world.events, world.events[1:]))
True
>>> generate(3).events[:50] == world.events[:50]
True
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import accumulate, combinations
from typing import Any, Literal

from segflow.models.events import ClickEvent, DownloadEvent, EmailEvent, Event, PurchaseEvent
from segflow.models.pages import DEFAULT_PAGE_STAGES

# The ground-truth record of a persona switch is the same as the simulator's (only the
# record: the generator itself shares nothing with it).
from segflow.sources.simulator import Switch

Site = Literal["b2b", "shop"]
LAPSED = "lapsed"
DAY_S = 86_400.0
#: Warm-up before any switch, and the least time after the last one.
WARMUP_DAYS = 28.0
SETTLE_DAYS = 14.0
#: Events a world aims to stay under (it keeps at least ``MIN_CUSTOMERS``).
EVENT_BUDGET = 300_000
MIN_CUSTOMERS, MAX_CUSTOMERS = 1_500, 2_500
#: The engine's default decay half-life, for :func:`signature` only.
_HALF_LIFE_DAYS = 7.0
#: Least distance in :func:`signature` units between any two personas of a world.
MIN_SEPARATION = 1.5

Range = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Archetype:
    """Ranges a persona's rates are drawn from (rates per visit unless said otherwise).

    ``visits`` and ``clicks`` are drawn log-uniformly, the rest uniformly. ``pages``
    maps a site section to its weight; ``stages`` weighs the funnel stages
    (awareness, consideration, decision) of downloaded assets.
    """

    name: str
    visits: Range  # per day
    clicks: Range  # mean clicks per visit
    pages: tuple[tuple[str, float], ...]
    download: Range = (0.0, 0.0)
    stages: tuple[float, float, float] = (1.0, 0.0, 0.0)
    buy: Range = (0.0, 0.0)
    value: Range = (0.0, 0.0)  # mean order amount
    open: Range = (0.0, 0.0)  # per delivered email
    click: Range = (0.0, 0.0)  # per opened email


# fmt: off
B2B: tuple[Archetype, ...] = (
    Archetype("learner", (0.3, 1.2), (2.5, 5.0),
              (("blog", 5), ("resources", 2), ("webinars", 1), ("home", 1)),
              download=(0.15, 0.4), stages=(0.8, 0.2, 0.0), open=(0.25, 0.5), click=(0.1, 0.3)),
    Archetype("evaluator", (0.3, 1.0), (3.0, 6.0),
              (("pricing", 4), ("demo", 2), ("trial", 1), ("case-studies", 2),
               ("contact-sales", 1), ("product", 1)),
              download=(0.2, 0.5), stages=(0.0, 0.3, 0.7), open=(0.2, 0.45), click=(0.1, 0.3)),
    Archetype("builder", (0.7, 2.0), (4.0, 8.0),
              (("docs", 6), ("integrations", 2), ("product", 1), ("status", 0.5)),
              download=(0.05, 0.15), stages=(0.1, 0.8, 0.1), open=(0.05, 0.2),
              click=(0.05, 0.15)),
    Archetype("subscriber", (0.07, 0.15), (1.5, 3.0),
              (("blog", 3), ("webinars", 1), ("home", 1)),
              download=(0.0, 0.1), open=(0.6, 0.9), click=(0.25, 0.5)),
    Archetype("client", (0.3, 1.0), (2.5, 5.0),
              (("account", 4), ("support", 2), ("billing", 1), ("docs", 1)),
              download=(0.0, 0.05), stages=(0.0, 0.5, 0.5), buy=(0.02, 0.06),
              value=(800.0, 4000.0), open=(0.3, 0.6), click=(0.1, 0.2)),
    Archetype("drive-by", (0.5, 3.0), (1.0, 1.6),
              (("home", 4), ("about", 2), ("blog", 1), ("pricing", 0.5)),
              open=(0.0, 0.1), click=(0.0, 0.05)),
    Archetype("analyst", (0.1, 0.3), (4.0, 8.0),
              (("case-studies", 3), ("customers", 2), ("product", 3), ("integrations", 1)),
              download=(0.3, 0.6), stages=(0.2, 0.7, 0.1), open=(0.15, 0.35), click=(0.1, 0.2)),
)

SHOP: tuple[Archetype, ...] = (
    Archetype("window shopper", (0.7, 2.0), (5.0, 9.0),
              (("item", 6), ("category", 3), ("search", 2), ("home", 1)),
              buy=(0.0, 0.02), value=(20.0, 60.0), open=(0.05, 0.2), click=(0.05, 0.15)),
    Archetype("loyal buyer", (0.3, 0.8), (3.0, 6.0),
              (("item", 4), ("cart", 2), ("home", 1), ("category", 1)),
              buy=(0.3, 0.6), value=(30.0, 90.0), open=(0.3, 0.6), click=(0.1, 0.3)),
    Archetype("deal seeker", (0.07, 0.2), (2.0, 4.0),
              (("item", 3), ("category", 2), ("cart", 1)),
              buy=(0.1, 0.3), value=(10.0, 30.0), open=(0.6, 0.9), click=(0.3, 0.6)),
    Archetype("wishlister", (0.3, 1.0), (4.0, 8.0),
              (("favorites", 5), ("item", 3), ("home", 1)),
              buy=(0.02, 0.06), value=(40.0, 120.0), open=(0.15, 0.35), click=(0.05, 0.15)),
    Archetype("big basket", (0.1, 0.25), (8.0, 12.0),
              (("item", 5), ("cart", 3), ("category", 2)),
              buy=(0.6, 0.9), value=(150.0, 600.0), open=(0.1, 0.3), click=(0.05, 0.1)),
    Archetype("cart abandoner", (0.5, 1.5), (2.0, 3.5),
              (("cart", 4), ("item", 2), ("home", 1)),
              open=(0.0, 0.15), click=(0.0, 0.05)),
    Archetype("one-off", (0.1, 0.2), (1.0, 2.0),
              (("home", 2), ("item", 2), ("search", 1)),
              buy=(0.0, 0.1), value=(20.0, 80.0), open=(0.05, 0.2), click=(0.0, 0.1)),
)
# fmt: on

#: Paths of each site section: ``{n}`` is replaced by a small number.
SECTIONS: dict[str, tuple[str, ...]] = {
    "home": ("/",),
    "about": ("/about", "/careers", "/about/team"),
    "blog": ("/blog", "/blog/post-{n}"),
    "resources": ("/resources", "/resources/guide-{n}"),
    "webinars": ("/webinars", "/webinars/session-{n}"),
    "product": ("/product", "/product/feature-{n}"),
    "docs": ("/docs", "/docs/page-{n}", "/docs/api/endpoint-{n}"),
    "integrations": ("/integrations", "/integrations/app-{n}"),
    "case-studies": ("/case-studies", "/case-studies/story-{n}"),
    "customers": ("/customers", "/customers/logo-{n}"),
    "pricing": ("/pricing", "/pricing/plan-{n}"),
    "demo": ("/demo",),
    "trial": ("/trial", "/trial/signup"),
    "contact-sales": ("/contact-sales",),
    "account": ("/account", "/account/users", "/account/settings"),
    "support": ("/support", "/support/ticket-{n}"),
    "billing": ("/billing", "/billing/invoice-{n}"),
    "status": ("/status",),
    "item": ("/item/sku-{n}",),
    "cart": ("/cart/", "/cart/checkout"),
    "favorites": ("/favorites/",),
    "category": ("/category/c{n}",),
    "search": ("/search?q=term{n}",),
}
_REFERRERS = ("https://www.google.com/", "https://duckduckgo.com/", "https://t.co/", None)
_STAGES = ("awareness", "consideration", "decision")


@dataclass(frozen=True, slots=True)
class Persona:
    """One persona of a world: its drawn rates (per visit unless said otherwise)."""

    name: str
    visits_per_day: float
    clicks_per_visit: float
    pages: tuple[tuple[str, float], ...]
    download_chance: float
    download_stages: tuple[float, float, float]
    buy_chance: float
    order_value: float
    open_prob: float
    click_prob: float


@dataclass(frozen=True, slots=True)
class WorldSpec:
    """Everything drawn for a world (see the module docstring for the ranges)."""

    seed: int
    site: Site
    start: datetime
    days: int
    customers: int
    personas: tuple[Persona, ...]
    shares: tuple[float, ...]  # initial share of each persona
    email_every_days: float | None  # None: the world sends no email
    reports_delivered: bool
    send_hour: float
    never_engaged_share: float
    bounce_share: float  # of the never-engaged
    switch_share: float
    lapse_share: float  # of the switchers
    weekend_factor: float
    peak_hour: float
    currency: str
    warmup_days: float = WARMUP_DAYS
    settle_days: float = SETTLE_DAYS

    def persona(self, name: str) -> Persona:
        """The persona called ``name``."""
        return next(p for p in self.personas if p.name == name)

    @property
    def end(self) -> datetime:
        """The end of the world's span."""
        return self.start + timedelta(days=self.days)


@dataclass(frozen=True)
class World:
    """A world's events (time order) and its ground truth."""

    spec: WorldSpec
    events: list[Event]
    initial: dict[str, str]
    switches: dict[str, Switch]
    never_engaged: frozenset[str]
    bounced: frozenset[str]
    final: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        final = dict(self.initial)
        for c, switch in self.switches.items():
            final[c] = switch.to_persona
        object.__setattr__(self, "final", final)

    def persona_at(self, customer_id: str, moment: datetime) -> str:
        """The persona ``customer_id`` follows at ``moment``."""
        switch = self.switches.get(customer_id)
        if switch is not None and moment >= switch.at:
            return switch.to_persona
        return self.initial[customer_id]

    def summary(self) -> dict[str, Any]:
        """The world's parameters and sizes, for a report."""
        s = self.spec
        kinds = Counter(e.kind for e in self.events)
        return {
            "seed": s.seed,
            "site": s.site,
            "days": s.days,
            "customers": s.customers,
            "events": len(self.events),
            "events_by_kind": dict(sorted(kinds.items())),
            "email_every_days": None
            if s.email_every_days is None
            else round(s.email_every_days, 1),
            "never_engaged_share": round(s.never_engaged_share, 3),
            "switched": len(self.switches),
            "personas": {
                p.name: {
                    "share": round(share, 3),
                    "visits_per_day": round(p.visits_per_day, 3),
                    "clicks_per_visit": round(p.clicks_per_visit, 2),
                    "open": round(p.open_prob, 2),
                    "buy_per_visit": round(p.buy_chance, 3),
                }
                for p, share in zip(s.personas, s.shares, strict=True)
            },
        }


# --- drawing a world ---------------------------------------------------------------------


def _log_uniform(rng: random.Random, bounds: Range) -> float:
    lo, hi = bounds
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _draw_persona(rng: random.Random, a: Archetype) -> Persona:
    return Persona(
        name=a.name,
        visits_per_day=_log_uniform(rng, a.visits),
        clicks_per_visit=_log_uniform(rng, a.clicks),
        pages=a.pages,
        download_chance=rng.uniform(*a.download),
        download_stages=a.stages,
        buy_chance=rng.uniform(*a.buy),
        order_value=rng.uniform(*a.value),
        open_prob=rng.uniform(*a.open),
        click_prob=rng.uniform(*a.click),
    )


_LAPSED_PERSONA = Persona(LAPSED, 0.0, 1.0, (("home", 1.0),), 0.0, (1.0, 0.0, 0.0), 0, 0, 0, 0)


def signature(persona: Persona, email_every_days: float | None) -> tuple[float, ...]:
    """Where the persona's steady customer sits in (roughly) the engine's clustering view.

    Decayed counts settle at ``rate * half_life / ln 2``; pages by the default page
    stages (square-rooted), downloads by stage (square-rooted), orders (``log1p``), then
    the open rate and clicks per visit, each divided by a typical spread so that a
    difference of 1 is about as telling in every coordinate.
    """
    steady = _HALF_LIFE_DAYS / math.log(2)
    visits = persona.visits_per_day
    if email_every_days:
        visits += persona.open_prob * persona.click_prob / email_every_days
    page_total = sum(w for _, w in persona.pages)
    stages = dict.fromkeys(("awareness", "consideration", "decision", "customer", "other"), 0.0)
    for section, weight in persona.pages:
        stages[DEFAULT_PAGE_STAGES.get(section, "other")] += weight / page_total
    clicks = visits * persona.clicks_per_visit * steady
    out = [math.sqrt(clicks * share) for share in stages.values()]
    downloads = persona.visits_per_day * persona.download_chance * steady
    out += [math.sqrt(downloads * w) / 0.5 for w in persona.download_stages]
    out.append(math.log1p(persona.visits_per_day * persona.buy_chance * steady) / 0.5)
    out.append((persona.open_prob if email_every_days else 0.0) / 0.2)
    out.append(persona.clicks_per_visit / 2.0 if visits > 0 else 0.0)
    return tuple(out)


def separation(personas: Sequence[Persona], email_every_days: float | None) -> float:
    """The least distance between two personas' :func:`signature` (inf for one)."""
    points = [signature(p, email_every_days) for p in personas]
    return min((math.dist(a, b) for a, b in combinations(points, 2)), default=math.inf)


def draw_spec(seed: int) -> WorldSpec:
    """The world of ``seed``: every parameter, before any event."""
    rng = random.Random(f"segflow-world-{seed}")
    site: Site = rng.choice(("b2b", "shop"))
    emails = site == "b2b" or rng.random() < 0.75
    every = _log_uniform(rng, (1.0, 30.0)) if emails else None
    table = B2B if site == "b2b" else SHOP
    n_active = rng.randint(3, 6)
    for _ in range(500):
        chosen = [_draw_persona(rng, a) for a in rng.sample(table, n_active)]
        personas = (*chosen, _LAPSED_PERSONA)
        if separation(personas, every) >= MIN_SEPARATION:
            break
    else:  # pragma: no cover - the ranges make this very unlikely
        raise RuntimeError(f"world {seed}: no separable personas")
    raw = [rng.uniform(0.5, 1.5) for _ in chosen]
    raw.append(rng.uniform(0.0, 0.3) if emails else 0.0)  # lapsed from the start
    total = sum(raw)
    shares = tuple(w / total for w in raw)
    days = rng.randint(56, 70)
    spec = WorldSpec(
        seed=seed,
        site=site,
        start=datetime(2026, 1, 5, tzinfo=UTC) + timedelta(days=rng.randint(0, 300)),
        days=days,
        customers=MAX_CUSTOMERS,
        personas=personas,
        shares=shares,
        email_every_days=every,
        reports_delivered=rng.random() < 0.5,
        send_hour=rng.uniform(6.0, 18.0),
        never_engaged_share=rng.uniform(0.05, 0.3),
        bounce_share=rng.uniform(0.3, 0.7),
        switch_share=rng.uniform(0.10, 0.25),
        lapse_share=rng.uniform(0.2, 0.4),
        weekend_factor=rng.uniform(0.3, 1.3),
        peak_hour=rng.uniform(8.0, 21.0),
        currency="USD" if site == "b2b" else rng.choice(("USD", "EUR", "GBP")),
    )
    per_day = _events_per_customer_day(spec)
    customers = int(EVENT_BUDGET / (per_day * days))
    return replace(spec, customers=max(MIN_CUSTOMERS, min(MAX_CUSTOMERS, customers)))


def _events_per_customer_day(spec: WorldSpec) -> float:
    """Expected events per customer and day, over the initial persona mix."""
    total = 0.0
    for p, share in zip(spec.personas, spec.shares, strict=True):
        site = p.visits_per_day * (p.clicks_per_visit + p.download_chance + 2 * p.buy_chance)
        email = 0.0
        if spec.email_every_days:
            per_send = 1.0 + spec.reports_delivered + p.open_prob * (1 + p.click_prob * 3)
            email = per_send / spec.email_every_days
        total += share * (site + email)
    return total


# --- generating events -------------------------------------------------------------------


@dataclass(slots=True)
class _Customer:
    """One customer's plan and the raw events generated for it."""

    index: int
    id: str
    initial: Persona
    switch_at: float | None  # epoch s
    target: Persona | None
    rate_factor: float
    open_factor: float
    peak_hour: float
    never_engaged: bool
    bounces: bool
    raw: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def persona_at(self, t: float) -> Persona:
        if self.switch_at is not None and self.target is not None and t >= self.switch_at:
            return self.target
        return self.initial


class _Pages:
    """Draws page paths of a persona's mix."""

    def __init__(self, persona: Persona) -> None:
        self.sections = [s for s, _ in persona.pages]
        self.cum = list(accumulate(w for _, w in persona.pages))

    def draw(self, rng: random.Random) -> str:
        i = bisect_right(self.cum, rng.random() * self.cum[-1])
        section = self.sections[min(i, len(self.sections) - 1)]
        return rng.choice(SECTIONS[section]).format(n=rng.randint(1, 30))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _session(
    rng: random.Random,
    spec: WorldSpec,
    c: _Customer,
    persona: Persona,
    pages: _Pages,
    t: float,
    n: int,
    landing: str | None = None,
) -> None:
    """One visit from ``t``: clicks, maybe a download, maybe an order."""
    session_id = f"{c.id}-v{n}"
    clicks = 1 + _poisson(rng, max(persona.clicks_per_visit - 1.0, 0.0))
    for k in range(clicks):
        url = landing if (k == 0 and landing) else pages.draw(rng)
        fields: dict[str, Any] = {"url": url, "session_id": session_id}
        if k == 0 and landing is None:
            fields["referrer"] = rng.choice(_REFERRERS)
        c.raw.append((t, "click", fields))
        t += rng.uniform(10.0, 120.0)
    if persona.download_chance and rng.random() < persona.download_chance:
        stage = rng.choices(_STAGES, weights=persona.download_stages)[0]
        asset = f"{stage[:5]}-asset-{rng.randint(1, 12)}"
        c.raw.append((t, "download", {"asset_id": asset, "funnel_stage": stage}))
        t += rng.uniform(10.0, 60.0)
    if persona.buy_chance and rng.random() < persona.buy_chance:
        if spec.site == "shop":
            c.raw.append((t, "click", {"url": "/cart/checkout", "session_id": session_id}))
            t += rng.uniform(20.0, 90.0)
        amount = round(persona.order_value * rng.lognormvariate(-0.125, 0.5), 2)
        order = f"{c.id}-o{len(c.raw)}"
        c.raw.append(
            (t, "purchase", {"order_id": order, "amount": amount, "currency": spec.currency})
        )
        if rng.random() < 0.03:
            refund_at = t + rng.uniform(2.0, 20.0) * DAY_S
            fields = {"order_id": order, "amount": -amount, "currency": spec.currency}
            c.raw.append((refund_at, "purchase", fields))


def _visits(rng: random.Random, spec: WorldSpec, c: _Customer, start: float, end: float) -> None:
    """Every visit of ``c``: a Poisson count per day and persona, at diurnal times."""
    pages = {p.name: _Pages(p) for p in (c.initial, c.target) if p is not None}
    wf = spec.weekend_factor
    weekday_boost, weekend_boost = 7.0 / (5.0 + 2.0 * wf), 7.0 * wf / (5.0 + 2.0 * wf)
    n = 0
    day = start
    while day < end:
        weekend = datetime.fromtimestamp(day, UTC).weekday() >= 5
        boost = weekend_boost if weekend else weekday_boost
        # On a switch day both personas are drawn, each kept on its side of the switch.
        personas = {c.persona_at(day).name: c.persona_at(day)}
        last = c.persona_at(day + DAY_S - 1.0)
        personas.setdefault(last.name, last)
        for persona in personas.values():
            mean = persona.visits_per_day * c.rate_factor * boost
            for _ in range(_poisson(rng, mean)):
                hour = (c.peak_hour + rng.gauss(0.0, 3.0)) % 24.0
                t = day + hour * 3_600.0
                if t >= end or c.persona_at(t) is not persona:
                    continue
                n += 1
                _session(rng, spec, c, persona, pages[persona.name], t, n)
        day += DAY_S


def _emails(rng: random.Random, spec: WorldSpec, c: _Customer, start: float, end: float) -> None:
    """Every campaign sent to ``c`` and what ``c`` did with it."""
    every = spec.email_every_days
    if every is None:
        return
    k = 0
    t = start + spec.send_hour * 3_600.0
    while t < end:
        k += 1
        campaign = f"w{spec.seed}-cmp{k:03d}"
        sent = t + rng.uniform(0.0, 1_200.0)
        t += every * DAY_S
        if sent >= end:
            break
        c.raw.append((sent, "email", {"campaign_id": campaign, "action": "sent"}))
        if c.bounces:
            c.raw.append((sent + 2.0, "email", {"campaign_id": campaign, "action": "bounce"}))
            return  # a hard bounce: the address is suppressed
        if spec.reports_delivered:
            c.raw.append((sent + 5.0, "email", {"campaign_id": campaign, "action": "delivered"}))
        persona = c.persona_at(sent)
        if rng.random() < 0.002:
            action = "unsubscribe" if rng.random() < 0.8 else "complaint"
            c.raw.append((sent + 600.0, "email", {"campaign_id": campaign, "action": action}))
            return
        p_open = 0.0 if c.never_engaged else min(0.97, persona.open_prob * c.open_factor)
        if rng.random() >= p_open:
            continue
        opened = sent + rng.expovariate(1.0 / 10_800.0)
        if c.persona_at(opened) is not persona:
            continue  # switched before opening it: the new persona does not (yet) engage
        c.raw.append((opened, "email", {"campaign_id": campaign, "action": "open"}))
        clicked = opened + rng.uniform(5.0, 300.0)
        if rng.random() < persona.click_prob and c.persona_at(clicked) is persona:
            c.raw.append((clicked, "email", {"campaign_id": campaign, "action": "click"}))
            pages = _Pages(persona)
            page = pages.draw(rng)
            sep = "&" if "?" in page else "?"
            landing = f"{page}{sep}utm_source=email&utm_campaign={campaign}"
            _session(rng, spec, c, persona, pages, clicked + 3.0, 1000 + k, landing)


_BUILD = {
    "click": ClickEvent,
    "download": DownloadEvent,
    "email": EmailEvent,
    "purchase": PurchaseEvent,
}


def generate(world: int | WorldSpec) -> World:
    """The events and ground truth of a world (a seed, or a spec from :func:`draw_spec`)."""
    spec = world if isinstance(world, WorldSpec) else draw_spec(world)
    rng = random.Random(f"segflow-world-events-{spec.seed}")
    start, end = spec.start.timestamp(), spec.end.timestamp()
    n = spec.customers
    counts = _largest_remainder(n, spec.shares)
    initial = [p for p, k in zip(spec.personas, counts, strict=True) for _ in range(k)]
    rng.shuffle(initial)
    switchers = set(rng.sample(range(n), round(spec.switch_share * n)))
    lo, hi = start + spec.warmup_days * DAY_S, end - spec.settle_days * DAY_S
    active = [p for p in spec.personas if p.name != LAPSED]
    lapsed = spec.persona(LAPSED)
    customers = []
    for i in range(n):
        switch_at, target = None, None
        if i in switchers:
            switch_at = rng.uniform(lo, hi)
            if initial[i] is not lapsed and rng.random() < spec.lapse_share:
                target = lapsed
            else:
                target = rng.choice([p for p in active if p is not initial[i]])
        never = rng.random() < spec.never_engaged_share
        customers.append(
            _Customer(
                index=i,
                id=f"w{spec.seed}-c{i:05d}",
                initial=initial[i],
                switch_at=switch_at,
                target=target,
                rate_factor=rng.lognormvariate(-0.045, 0.3),
                open_factor=rng.lognormvariate(-0.02, 0.2),
                peak_hour=(spec.peak_hour + rng.gauss(0.0, 3.0)) % 24.0,
                never_engaged=never,
                bounces=never and rng.random() < spec.bounce_share,
            )
        )
    keyed: list[tuple[float, int, int, str, dict[str, Any]]] = []
    for c in customers:
        _visits(rng, spec, c, start, end)
        _emails(rng, spec, c, start, end)
        keyed.extend((t, c.index, j, kind, f) for j, (t, kind, f) in enumerate(c.raw) if t < end)
        c.raw = []
    keyed.sort(key=lambda item: item[:3])
    seq = [0] * n
    events: list[Event] = []
    for t, i, _, kind, fields in keyed:
        seq[i] += 1
        cid = customers[i].id
        events.append(
            _BUILD[kind](
                event_id=f"{cid}-{seq[i]}",
                customer_id=cid,
                occurred_at=datetime.fromtimestamp(round(t, 3), UTC),
                **fields,
            )
        )
    switches = {
        c.id: Switch(c.id, datetime.fromtimestamp(c.switch_at, UTC), c.initial.name, c.target.name)
        for c in customers
        if c.switch_at is not None and c.target is not None
    }
    return World(
        spec=spec,
        events=events,
        initial={c.id: c.initial.name for c in customers},
        switches=switches,
        never_engaged=frozenset(c.id for c in customers if c.never_engaged),
        bounced=frozenset(c.id for c in customers if c.bounces),
    )


def _largest_remainder(n: int, shares: Sequence[float]) -> list[int]:
    quotas = [n * s for s in shares]
    counts = [math.floor(q) for q in quotas]
    for i in sorted(range(len(shares)), key=lambda i: counts[i] - quotas[i])[: n - sum(counts)]:
        counts[i] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    """Print the summary of the worlds of the given seeds."""
    parser = argparse.ArgumentParser(prog="python -m bench.worlds", description=__doc__)
    parser.add_argument("seeds", type=int, nargs="*", default=[0])
    args = parser.parse_args(argv)
    for seed in args.seeds:
        print(json.dumps(generate(seed).summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
