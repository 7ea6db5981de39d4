"""The plan of a simulation, drawn from its seed before any event: the shared context
(span, campaigns) and each customer's initial persona and switch.

>>> config = SimulationConfig(customers=10, days=14.0, warmup_days=3.0, settle_days=3.0)
>>> context, plans = draw_plans(config)
>>> context.n_chunks, [at for at, _ in context.campaigns] == [
...     context.start_us + 9 * HOUR, context.start_us + 9 * HOUR + 7 * DAY]
(14, True)
>>> [p.customer_id for p in plans if p.target is not None]
['c00003', 'c00008']
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from .config import SimulationConfig
from .epoch import DAY, HOUR, SECOND, epoch_us, moment
from .personas import ACTIVE, DORMANT, PERSONAS


@dataclass(frozen=True, slots=True)
class CustomerPlan:
    """One customer: its index and id, its initial persona, and its switch if any."""

    index: int
    customer_id: str
    initial: str
    switch_us: int | None  # epoch microseconds
    target: str | None


@dataclass(frozen=True, slots=True)
class Context:
    """What every customer's generator shares: the seed, the span, the campaigns."""

    seed: int
    start_us: int
    end_us: int
    start_tod_s: float  # seconds past UTC midnight of start
    n_chunks: int
    campaigns: tuple[tuple[int, str], ...]  # (epoch us, campaign id)
    heterogeneity: float
    weekend_factor: float


def draw_plans(config: SimulationConfig) -> tuple[Context, list[CustomerPlan]]:
    """The context of ``config`` and the plan of each of its customers, in index order.

    Parameters
    ----------
    config : SimulationConfig
        What to simulate; its ``seed`` decides the personas and the switches.

    Returns
    -------
    tuple of (Context, list of CustomerPlan)
        The shared context and one plan per customer.
    """
    rng = random.Random(config.seed)
    context = _context(config)
    initial = _initial_personas(config, rng)
    targets = _switches(config, context, initial, rng)
    plans = []
    for i in range(config.customers):
        switch = targets.get(i)
        plans.append(
            CustomerPlan(
                index=i,
                customer_id=f"{config.customer_prefix}{i:05d}",
                initial=initial[i],
                switch_us=None if switch is None else switch[0],
                target=None if switch is None else switch[1],
            )
        )
    return context, plans


def _context(config: SimulationConfig) -> Context:
    start_us = epoch_us(config.start)
    end_us = start_us + round(config.days * DAY)
    return Context(
        seed=config.seed,
        start_us=start_us,
        end_us=end_us,
        start_tod_s=(start_us % DAY) / SECOND,
        n_chunks=math.ceil((end_us - start_us) / DAY),
        campaigns=_campaigns(config, start_us, end_us),
        heterogeneity=config.heterogeneity,
        weekend_factor=config.weekend_factor,
    )


def _campaigns(config: SimulationConfig, start_us: int, end_us: int) -> tuple[tuple[int, str], ...]:
    """(epoch us, campaign id) of each campaign sent before the end, in time order."""
    campaigns: list[tuple[int, str]] = []
    k = 0
    while True:
        at = start_us + round(
            config.campaign_offset_hours * HOUR + k * config.campaign_every_days * DAY
        )
        if at >= end_us:
            break
        campaigns.append((at, f"cmp-{k + 1:03d}-{moment(at):%Y%m%d}"))
        k += 1
    return tuple(campaigns)


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


def _initial_personas(config: SimulationConfig, rng: random.Random) -> list[str]:
    """Each customer's initial persona: the exact counts, shuffled among the customers."""
    initial = [
        name for name, c in zip(PERSONAS, _persona_counts(config), strict=True) for _ in range(c)
    ]
    rng.shuffle(initial)
    return initial


def _switches(
    config: SimulationConfig, context: Context, initial: list[str], rng: random.Random
) -> dict[int, tuple[int, str]]:
    """(epoch us, new persona) of each switcher, by customer index.

    A share of the switchers goes dormant (never one that starts dormant); the switch
    moments are uniform in the drift window.
    """
    n = config.customers
    switchers = rng.sample(range(n), round(config.drift_fraction * n))
    eligible = [i for i in switchers if initial[i] != DORMANT]
    n_dormant = min(round(config.dormant_share * len(switchers)), len(eligible))
    to_dormant = set(rng.sample(eligible, n_dormant))
    lo_us = context.start_us + round(config.warmup_days * DAY)
    hi_us = context.end_us - round(config.settle_days * DAY)
    targets: dict[int, tuple[int, str]] = {}
    for i in switchers:
        at = lo_us + round(rng.random() * (hi_us - lo_us))
        if i in to_dormant:
            targets[i] = (at, DORMANT)
        else:
            targets[i] = (at, _active_target(initial[i], config.persona_weights, rng))
    return targets


def _active_target(initial: str, weights: Mapping[str, float] | None, rng: random.Random) -> str:
    """A non-dormant persona other than ``initial``, by ``weights`` (equal if all are 0)."""
    options = [name for name in ACTIVE if name != initial]
    option_weights = [1.0 if weights is None else weights.get(o, 0.0) for o in options]
    if sum(option_weights) <= 0:
        option_weights = [1.0] * len(options)
    return rng.choices(options, weights=option_weights)[0]
