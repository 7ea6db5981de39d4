"""The ground truth of a simulation: who follows which persona, and who switches when;
who browses under which cookie id, and who identifies when.

>>> from datetime import UTC, datetime
>>> switch = Switch("c00001", datetime(2026, 9, 20, tzinfo=UTC), "researcher", "ready_buyer")
>>> switch.to_persona
'ready_buyer'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from segflow.models.events import BaseEvent, Event

from .config import SimulationConfig
from .identity import Trigger


@dataclass(frozen=True, slots=True)
class Switch:
    """A scheduled persona change: from ``at`` on, ``customer_id`` behaves as ``to_persona``."""

    customer_id: str
    at: datetime
    from_persona: str
    to_persona: str


@dataclass(frozen=True, slots=True)
class Identification:
    """An identify event of the simulation: from ``at`` on, ``customer_id`` is known to
    browse under ``anonymous_id`` (its cookie id).

    Attributes
    ----------
    anonymous_id : str
        The cookie id.
    customer_id : str
        The customer who identified (the true one: the simulator's links are never wrong).
    at : datetime
        The identify event's ``occurred_at``.
    trigger : {"signup", "email_click"}
        What identified: the start of the customer's ``identify_after_sessions``-th site
        session, or the landing of an email click.
    event_id : str
        The identify event's id.
    """

    anonymous_id: str
    customer_id: str
    at: datetime
    trigger: Trigger
    event_id: str


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
    cookies : dict of str to str
        The cookie id of each anonymous customer (empty unless ``anonymous_share > 0``),
        by customer id, whether or not the cookie shows up in the events (a dormant
        customer's does not).
    cookie_owners : dict of str to list of str
        The customers behind each cookie id, in customer order: one, or two on a
        shared device.
    shared_cookies : frozenset of str
        The cookie ids with two owners.
    never_identify : frozenset of str
        The anonymous customers who are never identified (``never_identify_share``).
        The others identify when their trigger comes within the span, which
        ``identifications`` records.
    identifications : list of Identification
        Every identify event, in the order of ``events``: a cookie identified once per
        owner who identifies, so a shared cookie can be identified twice, with two
        different customers.
    anonymous_event_owners : dict of str to str
        The true customer of every event without a ``customer_id``, by event id (a
        shared cookie's anonymous events come from either owner).
    """

    config: SimulationConfig
    events: list[Event]
    personas: dict[str, str]
    initial_personas: dict[str, str]
    switches: dict[str, Switch]
    customer_properties: dict[str, dict[str, str]]
    cookies: dict[str, str] = field(default_factory=dict)
    cookie_owners: dict[str, list[str]] = field(default_factory=dict)
    shared_cookies: frozenset[str] = frozenset()
    never_identify: frozenset[str] = frozenset()
    identifications: list[Identification] = field(default_factory=list)
    anonymous_event_owners: dict[str, str] = field(default_factory=dict)

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

    def owner_of(self, event: BaseEvent) -> str:
        """The customer who really did ``event``, anonymous or not.

        Parameters
        ----------
        event : BaseEvent
            One of ``events``.

        Returns
        -------
        str
            Its ``customer_id``, or for an anonymous event, the customer behind it.
        """
        if event.customer_id is not None:
            return event.customer_id
        return self.anonymous_event_owners[event.event_id]
