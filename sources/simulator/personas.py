"""The simulated personas: one row of mean rates and probabilities each.

:data:`PERSONA_TABLE` is where to tune them; :data:`PERSONAS` names them in table order.

>>> PERSONA_BY_NAME["loyal_customer"].purchases_per_day
0.25
>>> DORMANT in PERSONAS, DORMANT in ACTIVE
(True, False)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: The persona of customers who only receive email (and rarely unsubscribe or complain).
DORMANT = "dormant"


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
        Relative weights of the page families a session visits (the families are the
        keys of :data:`segflow.sources.simulator.catalog.PAGES`).
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
#: The personas a non-dormant switch may go to, in table order.
ACTIVE: tuple[str, ...] = tuple(name for name in PERSONAS if name != DORMANT)
