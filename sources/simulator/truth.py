"""The ground truth of a simulation: who follows which persona, and who switches when.

>>> from datetime import UTC, datetime
>>> switch = Switch("c00001", datetime(2026, 9, 20, tzinfo=UTC), "researcher", "ready_buyer")
>>> switch.to_persona
'ready_buyer'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from segflow.models.events import Event

from .config import SimulationConfig


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
