"""Anonymous visitors: who browses under a cookie id, who never identifies, who shares a
device; drawn from the seed before any event, from a random stream of their own.

>>> config = SimulationConfig(customers=10, days=7.0, drift_fraction=0.0,
...                           anonymous_share=0.6, never_identify_share=0.5)
>>> anonymity = draw_anonymity(config)
>>> sorted(anonymity)
[0, 1, 5, 6, 7, 8]
>>> [a.identifies for _, a in sorted(anonymity.items())]
[False, True, False, True, False, True]
>>> anonymity[1].cookie_id
'ck-dea0bd173a6e93d2'
>>> draw_anonymity(SimulationConfig(customers=10, days=7.0, drift_fraction=0.0))
{}
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from .config import SimulationConfig

#: What identifies an anonymous customer: a sign-up (or login) at the start of a site
#: session, or the landing of an email click.
Trigger = Literal["signup", "email_click"]
#: Landing clicks from an email carry this private key until they are emitted.
LANDING = "_landing"
#: How many of an anonymous customer's sessions keep their cookie session id in memory
#: (a session's clicks span minutes, so only the latest few can still have clicks due).
_SESSIONS_KEPT = 64


@dataclass(frozen=True, slots=True)
class Anonymity:
    """How one customer's site activity is anonymous, and what identifies it.

    Attributes
    ----------
    cookie_id : str
        The cookie id its site events carry (shared with one other customer if
        ``shared``).
    after_sessions : int or None
        Identify at the start of this site session (counted from 1); None: never.
    on_email_click : bool
        Identify at the landing of an email click.
    shared : bool
        Whether another customer browses under the same cookie id.
    """

    cookie_id: str
    after_sessions: int | None
    on_email_click: bool
    shared: bool

    @property
    def identifies(self) -> bool:
        """Whether anything identifies this customer (if it happens within the span)."""
        return self.after_sessions is not None or self.on_email_click


class Cookie:
    """A cookie's counters, shared by the customers behind it: the ids of its anonymous
    events and sessions are numbered per cookie, so they are unique and do not say
    which customer they come from."""

    __slots__ = ("cookie_id", "events", "sessions")

    def __init__(self, cookie_id: str) -> None:
        self.cookie_id = cookie_id
        self.events = 0
        self.sessions = 0

    def event_id(self) -> str:
        """The id of the cookie's next anonymous event."""
        self.events += 1
        return f"{self.cookie_id}-{self.events}"

    def session_id(self) -> str:
        """The id of the cookie's next anonymous session."""
        self.sessions += 1
        return f"{self.cookie_id}-s{self.sessions}"


class Visitor:
    """One customer's anonymous state while its events are emitted: its cookie, its
    sessions so far and its identification."""

    __slots__ = (
        "anonymity",
        "cookie",
        "identified_us",
        "identify_event_id",
        "session_ids",
        "sessions",
        "trigger",
    )

    def __init__(self, anonymity: Anonymity, cookie: Cookie) -> None:
        self.anonymity = anonymity
        self.cookie = cookie
        self.sessions = 0
        self.session_ids: dict[str, str] = {}  # the customer's session id -> the cookie's
        # Set once, at the identification: its moment, what triggered it, the event's id.
        self.identified_us: int | None = None
        self.trigger: Trigger | None = None
        self.identify_event_id: str | None = None

    def identified(self, us: int, trigger: Trigger, event_id: str) -> None:
        """Record the identification at ``us`` by ``trigger`` (event ``event_id``)."""
        self.identified_us = us
        self.trigger = trigger
        self.identify_event_id = event_id

    def click(self, session_id: str, landing: bool) -> tuple[Trigger | None, str | None]:
        """Account for an anonymous click of session ``session_id`` (the customer's).

        Returns
        -------
        tuple of (str or None, str or None)
            The trigger (``"signup"`` or ``"email_click"``) if this click identifies the
            customer, else None; and the cookie's session id for the click while it
            stays anonymous, else None.
        """
        anonymous_session = self.session_ids.get(session_id)
        if anonymous_session is not None:
            return None, anonymous_session
        # The first click of a session (the earliest of its clicks).
        self.sessions += 1
        anonymity = self.anonymity
        if landing and anonymity.on_email_click:
            return "email_click", None
        if anonymity.after_sessions is not None and self.sessions >= anonymity.after_sessions:
            return "signup", None
        anonymous_session = self.cookie.session_id()
        self.session_ids[session_id] = anonymous_session
        if len(self.session_ids) > _SESSIONS_KEPT:
            del self.session_ids[next(iter(self.session_ids))]
        return None, anonymous_session


def draw_anonymity(config: SimulationConfig) -> dict[int, Anonymity]:
    """The anonymous customers of ``config``, by customer index.

    Parameters
    ----------
    config : SimulationConfig
        What to simulate; its ``seed`` and anonymity options decide.

    Returns
    -------
    dict of int to Anonymity
        One entry per anonymous customer (none if ``anonymous_share`` is 0): the
        anonymous ones are a random sample, the never-identifying ones a sample of them,
        and the pairs on shared devices are drawn from the others.
    """
    n = config.customers
    count = round(config.anonymous_share * n)
    if not count:
        return {}
    rng = random.Random(f"segflow-simulator/{config.seed}/anonymous")
    anonymous = sorted(rng.sample(range(n), count))
    never = set(rng.sample(anonymous, round(config.never_identify_share * count)))
    identifying = [i for i in anonymous if i not in never]
    # p pairs among m customers leave m - p cookies, of which p are shared.
    share = config.shared_device_share
    pairs = min(round(share * len(identifying) / (1.0 + share)), len(identifying) // 2)
    sharers = rng.sample(identifying, 2 * pairs)
    partner = dict(zip(sharers[1::2], sharers[::2], strict=True))  # the second -> the first
    taken = {f"{config.customer_prefix}{i:05d}" for i in range(n)}  # no cookie is a customer id
    cookies: dict[int, str] = {}
    for i in anonymous:
        if i not in partner:
            cookies[i] = _cookie_id(config.cookie_prefix, rng, taken)
    for second, first in partner.items():
        cookies[second] = cookies[first]
    shared = set(sharers)
    return {
        i: Anonymity(
            cookie_id=cookies[i],
            after_sessions=None if i in never else config.identify_after_sessions,
            on_email_click=i not in never and config.identify_on_email_click,
            shared=i in shared,
        )
        for i in anonymous
    }


def _cookie_id(prefix: str, rng: random.Random, taken: set[str]) -> str:
    """A new cookie id: ``prefix`` and 16 random hex digits, unlike any id in ``taken``."""
    while True:
        cookie_id = f"{prefix}{rng.getrandbits(64):016x}"
        if cookie_id not in taken:
            taken.add(cookie_id)
            return cookie_id
