"""A seeded generator of realistic marketing traffic, with ground truth and scheduled drift.

Every simulated customer follows one behavioral *persona* (see :data:`PERSONA_TABLE`):
web sessions of several clicks, downloads by funnel stage and purchases arrive as
Poisson processes (fewer on weekends, around a customer-specific hour of the day), and a
weekly email campaign is sent to everyone who has not unsubscribed, so even dormant
customers receive ``sent`` and ``delivered`` (or ``bounce``) emails. A configurable
fraction of the customers switches persona once, at a known moment drawn uniformly inside
``[warmup_days, days - settle_days]``; a share of those switchers goes ``dormant``.
Optionally (``anonymous_share``) some customers browse anonymously under a cookie id
until they identify (:mod:`.identity`; off by default).

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

Anonymous visitors, and the truth behind them:

>>> anonymous = simulate(config.model_copy(update={"anonymous_share": 0.5}))
>>> sorted({e.kind for e in anonymous.events})
['click', 'download', 'email', 'identify', 'purchase']
>>> first = next(e for e in anonymous.events if e.customer_id is None)
>>> first.anonymous_id in anonymous.cookie_owners, anonymous.owner_of(first) in sim.personas
(True, True)
>>> len(anonymous.cookies), len(anonymous.identifications)
(10, 7)
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from segflow.models.events import Event

from .config import SimulationConfig
from .customer import Customer, Item
from .epoch import moment
from .identity import Cookie, Visitor, draw_anonymity
from .personas import PERSONA_BY_NAME, PERSONA_TABLE, PERSONAS, Persona
from .plan import Context, CustomerPlan, draw_plans
from .truth import Identification, Simulation, Switch

__all__ = [
    "PERSONAS",
    "PERSONA_BY_NAME",
    "PERSONA_TABLE",
    "Identification",
    "Persona",
    "Simulation",
    "SimulationConfig",
    "Switch",
    "iter_events",
    "simulate",
]


def _days(context: Context, customers: list[Customer]) -> Iterator[list[Item]]:
    """The events of each simulated day, sorted by time, then customer, then number.

    A stable sort on the time alone keeps the customers in index order and each
    customer's events in their own order.
    """
    for chunk in range(context.n_chunks):
        batch: list[Item] = []
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


def _time(item: Item) -> int:
    return item[0]


def _customers(
    config: SimulationConfig, context: Context, plans: list[CustomerPlan], keep_truth: bool
) -> list[Customer]:
    """A generator per customer; the anonymous ones share a cookie's counters."""
    anonymity = draw_anonymity(config)
    cookies: dict[str, Cookie] = {}
    customers = []
    for plan in plans:
        anonymous = anonymity.get(plan.index)
        visitor = None
        if anonymous is not None:
            cookie = cookies.setdefault(anonymous.cookie_id, Cookie(anonymous.cookie_id))
            visitor = Visitor(anonymous, cookie)
        customers.append(Customer(plan, context, visitor, keep_truth))
    return customers


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
        Click, download, email and purchase events (and identify events if
        ``anonymous_share > 0``), by ``occurred_at``.
    """
    context, plans = draw_plans(config)
    for batch in _days(context, _customers(config, context, plans, keep_truth=False)):
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
        Events sorted by time, initial and final personas, the switches, the
        customer properties, and who is behind the anonymous events.

    Notes
    -----
    The cyclic garbage collector is paused while the events are made (reference
    counting still works); a pydantic event takes about 1.5 kB, so 5,000 customers over
    60 days (about 420,000 events) hold about 600 MB. Use :func:`iter_events` for long
    runs.
    """
    context, plans = draw_plans(config)
    customers = _customers(config, context, plans, keep_truth=True)
    events: list[Event] = []
    with _without_cyclic_gc():  # for the whole run: the events pile up
        for batch in _days(context, customers):
            events.extend(item[1] for item in batch)
    cookies, owners, never, identifications, event_owners = _identity_truth(customers)
    switches = {
        p.customer_id: Switch(p.customer_id, moment(p.switch_us), p.initial, p.target)
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
        cookies=cookies,
        cookie_owners=owners,
        shared_cookies=frozenset(c for c, o in owners.items() if len(o) > 1),
        never_identify=never,
        identifications=identifications,
        anonymous_event_owners=event_owners,
    )


def _identity_truth(
    customers: list[Customer],
) -> tuple[
    dict[str, str], dict[str, list[str]], frozenset[str], list[Identification], dict[str, str]
]:
    """The anonymity truth, from the customers once generated: each anonymous customer's
    cookie, each cookie's owners, who never identifies, the identifications in the order
    of the events, and the owner of each anonymous event."""
    cookies: dict[str, str] = {}
    owners: dict[str, list[str]] = {}
    never: set[str] = set()
    found: list[tuple[int, int, Identification]] = []
    event_owners: dict[str, str] = {}
    for index, customer in enumerate(customers):
        visitor = customer.visitor
        if visitor is None:
            continue
        customer_id = customer.plan.customer_id
        cookie_id = visitor.cookie.cookie_id
        cookies[customer_id] = cookie_id
        owners.setdefault(cookie_id, []).append(customer_id)
        if not visitor.anonymity.identifies:
            never.add(customer_id)
        if visitor.identified_us is not None:
            assert visitor.trigger is not None and visitor.identify_event_id is not None
            identification = Identification(
                anonymous_id=cookie_id,
                customer_id=customer_id,
                at=moment(visitor.identified_us),
                trigger=visitor.trigger,
                event_id=visitor.identify_event_id,
            )
            found.append((visitor.identified_us, index, identification))
        for event_id in customer.anonymous_events or ():
            event_owners[event_id] = customer_id
    # The order of the events: by time, then customer (one identify per customer).
    identifications = [i for _, _, i in sorted(found, key=lambda f: f[:2])]
    return cookies, owners, frozenset(never), identifications, event_owners
