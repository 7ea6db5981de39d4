"""The per-customer behavioral profile: decayed counters in event time, and its JSON form.

Counters are kept as values *as of* the profile's newest event time ``as_of``.
A new event moves ``as_of`` forward and decays every counter by the elapsed
half-lives; a late event (older than ``as_of``, within the allowed lateness) adds
its weight already decayed to ``as_of``. Both give exactly what an in-order
stream would have given, because exponential decay composes.

>>> p = Profile.new("c1", as_of=0.0)
>>> p.add("clicks", 1.0, at=0.0)
>>> p.value("clicks", at=7 * 86_400.0, half_life=7 * 86_400.0)
0.5
>>> Profile.from_json(p.to_json()) == p
True
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from .decay import decay_factor
from .timeutil import DAY

#: Decayed counters, in the order they are stored.
COUNTERS: tuple[str, ...] = (
    "clicks",
    "downloads_awareness",
    "downloads_consideration",
    "downloads_decision",
    "downloads_other",
    "emails_sent",
    "email_opens",
    "email_clicks",
    "purchases",
    "spend",
    "active_days",
    "rate_sent",
    "rate_opens",
    "rate_clicks",
    # Added later, so stored at the end: a profile stored before reads them as zero.
    "sessions",
    "pages_awareness",
    "pages_consideration",
    "pages_decision",
    "pages_customer",
    "site_days",
    "rate_unopened",
)
COUNTER_INDEX: dict[str, int] = {name: i for i, name in enumerate(COUNTERS)}

#: Email rates are a propensity, not recent activity: their counters may remember this
#: many times longer than the activity counters. One half-life is enough once a send
#: waits for its open (see ``features.SEND_GRACE_HOURS``), and lets a reader who stops
#: opening show it within two half-lives.
RATE_MEMORY = 1.0
_IS_SLOW = tuple(name.startswith("rate_") for name in COUNTERS)

#: How many days back "recent activity breadth" looks.
ACTIVE_DAYS_WINDOW = 28

BOUNCED, UNSUBSCRIBED, COMPLAINED = 1, 2, 4


@functools.lru_cache(maxsize=4_096)
def event_key(event_id: str) -> str:
    """A short, fixed-size fingerprint of an event id for the dedup memory (cached: a
    step looks an id up and then remembers it; sessions repeat)."""
    return hashlib.blake2b(event_id.encode(), digest_size=8).hexdigest()


def _decayed(counts: list[float], elapsed: float, half_life: float) -> list[float]:
    """``counts`` (in ``COUNTERS`` order) decayed over ``elapsed`` seconds; the rate
    counters with ``RATE_MEMORY`` times the half-life."""
    fast = decay_factor(elapsed, half_life)
    slow = decay_factor(elapsed, half_life * RATE_MEMORY)
    if slow == fast:
        return [value * fast for value in counts]
    return [
        value * (slow if is_slow else fast) for value, is_slow in zip(counts, _IS_SLOW, strict=True)
    ]


@dataclass(slots=True)
class Profile:
    """Everything segflow remembers about one customer."""

    customer_id: str
    as_of: float
    first_seen: float
    counts: list[float] = field(default_factory=lambda: [0.0] * len(COUNTERS))
    last_active: float | None = None
    last_sent: float | None = None
    last_site: float | None = None
    last_open: float | None = None
    last_session: str | None = None
    unopened: int = 0
    active_days: list[int] = field(default_factory=list)
    visit_days: list[int] = field(default_factory=list)
    flags: int = 0
    properties: dict[str, str | int | float | bool] = field(default_factory=dict)
    recent_ids: list[str] = field(default_factory=list)
    event_counts: dict[str, int] = field(default_factory=dict)
    segment: str | None = None
    pending: str | None = None
    pending_count: int = 0
    pending_since: float | None = None
    rule_segments: list[str] = field(default_factory=list)
    seq: int = 0
    learned_at: float | None = None
    #: Event time of the customer's latest change: later changes are never stamped earlier.
    changed_at: float | None = None
    #: Event time the customer entered its behavioral segment (None: in none).
    segment_since: float | None = None
    #: Event time the customer entered each of its rule segments.
    rule_since: dict[str, float] = field(default_factory=dict)
    #: Buy-till-you-die statistics: the first and the latest purchase (event time), the
    #: days with a purchase, and the lifetime spend (refunds taken off).
    first_purchase: float | None = None
    last_purchase: float | None = None
    purchase_days: int = 0
    spend_total: float = 0.0
    #: Anonymous ids linked to this customer (their history is folded in).
    aliases: list[str] = field(default_factory=list)
    #: Ids of the merges folded in (the latest ``identity.MERGE_MEMORY``).
    merges: list[str] = field(default_factory=list)

    @classmethod
    def new(cls, customer_id: str, as_of: float) -> Profile:
        """An empty profile whose clock starts at ``as_of`` (epoch seconds)."""
        return cls(customer_id=customer_id, as_of=as_of, first_seen=as_of)

    def copy(self) -> Profile:
        """A copy that shares nothing mutable with this profile."""
        return Profile(
            customer_id=self.customer_id,
            as_of=self.as_of,
            first_seen=self.first_seen,
            counts=list(self.counts),
            last_active=self.last_active,
            last_sent=self.last_sent,
            last_site=self.last_site,
            last_open=self.last_open,
            last_session=self.last_session,
            unopened=self.unopened,
            active_days=list(self.active_days),
            visit_days=list(self.visit_days),
            flags=self.flags,
            properties=dict(self.properties),
            recent_ids=list(self.recent_ids),
            event_counts=dict(self.event_counts),
            segment=self.segment,
            pending=self.pending,
            pending_count=self.pending_count,
            pending_since=self.pending_since,
            rule_segments=list(self.rule_segments),
            seq=self.seq,
            learned_at=self.learned_at,
            changed_at=self.changed_at,
            segment_since=self.segment_since,
            rule_since=dict(self.rule_since),
            first_purchase=self.first_purchase,
            last_purchase=self.last_purchase,
            purchase_days=self.purchase_days,
            spend_total=self.spend_total,
            aliases=list(self.aliases),
            merges=list(self.merges),
        )

    def take_decisions(self, other: Profile | None) -> None:
        """Take the assignment state (:data:`DECISION_FIELDS`) of ``other`` (None: a new
        customer's), keeping this profile's events: how the batch step joins a profile
        its events were folded into ahead with the decisions taken since."""
        for name in DECISION_FIELDS:
            value = getattr(other, name) if other is not None else _NEW_DECISIONS[name]
            setattr(self, name, value.copy() if isinstance(value, list | dict) else value)

    def record_purchase(self, t: float, amount: float) -> bool:
        """Count a purchase (``amount`` >= 0) or a refund in the buy-till-you-die
        statistics; True when it is the first purchase on its UTC day.

        Days are not kept, only the first and the latest: a late purchase on a day
        between them counts as a new day unless it is one of those two (a customer buys
        on few days, so a day in between is more likely new than not).
        """
        self.spend_total = max(0.0, self.spend_total + amount)
        if amount < 0:
            return False
        day = int(t // DAY)
        if self.first_purchase is None or self.last_purchase is None:
            self.first_purchase = self.last_purchase = t
            self.purchase_days = 1
            return True
        new_day = day not in (int(self.first_purchase // DAY), int(self.last_purchase // DAY))
        self.purchase_days += new_day
        self.first_purchase = min(self.first_purchase, t)
        self.last_purchase = max(self.last_purchase, t)
        return new_day

    def mark_since(self, kind: str, before: str | None, to: str | None, at: float) -> None:
        """Remember when the customer entered the segment a change of ``kind`` put it in
        (and forget the one it left)."""
        if kind == "behavioral":
            self.segment_since = at if to is not None else None
            return
        if before is not None:
            self.rule_since.pop(before, None)
        if to is not None:
            self.rule_since[to] = at

    # -- decayed counters -------------------------------------------------------------

    def advance(self, to: float, half_life: float) -> None:
        """Move ``as_of`` forward to ``to``, decaying every counter; never moves backward."""
        if to <= self.as_of:
            return
        self.counts = _decayed(self.counts, to - self.as_of, half_life)
        self.as_of = to

    def add(self, counter: str, amount: float, at: float, half_life: float = 1.0) -> None:
        """Add ``amount`` that happened at ``at`` (not after ``as_of``) to ``counter``."""
        if counter.startswith("rate_"):
            half_life *= RATE_MEMORY
        weight = 1.0 if at >= self.as_of else decay_factor(self.as_of - at, half_life)
        self.counts[COUNTER_INDEX[counter]] += amount * weight

    def value(self, counter: str, at: float, half_life: float) -> float:
        """The decayed value of ``counter`` at time ``at`` (at or after ``as_of``)."""
        if counter.startswith("rate_"):
            half_life *= RATE_MEMORY
        return self.counts[COUNTER_INDEX[counter]] * decay_factor(at - self.as_of, half_life)

    def values(self, at: float, half_life: float) -> dict[str, float]:
        """Every counter's :meth:`value` at ``at``, by name, decay computed once."""
        return dict(zip(COUNTERS, self.counts_at(at, half_life), strict=True))

    def counts_at(self, at: float, half_life: float) -> list[float]:
        """Every counter's :meth:`value` at ``at``, in ``COUNTERS`` order (the profile's
        own list when ``at`` is ``as_of``: not to be changed)."""
        elapsed = at - self.as_of
        return self.counts if elapsed == 0 else _decayed(self.counts, elapsed, half_life)

    # -- activity ---------------------------------------------------------------------

    def mark_active(self, at: float, half_life: float = 1.0) -> None:
        """Record activity at ``at``: last activity time and the distinct active days.

        A day not seen before also counts once in the decayed ``active_days`` counter.
        """
        if self.last_active is None or at > self.last_active:
            self.last_active = at
        self._mark_day(self.active_days, "active_days", at, half_life)

    def mark_site(self, at: float, half_life: float = 1.0) -> None:
        """Record activity on the site (a visit, download or order) at ``at``: last
        site activity and the distinct site days (``site_days`` counter)."""
        if self.last_site is None or at > self.last_site:
            self.last_site = at
        self._mark_day(self.visit_days, "site_days", at, half_life)

    def _mark_day(self, days: list[int], counter: str, at: float, half_life: float) -> None:
        """Count the day of ``at`` once in ``counter`` if ``days`` (sorted, the last
        ``ACTIVE_DAYS_WINDOW`` days) does not hold it yet, whatever the arrival order."""
        day = int(at // DAY)
        if day not in days:
            days.append(day)
            days.sort()
            self.add(counter, 1.0, at, half_life)
        horizon = int(max(self.as_of, at) // DAY) - ACTIVE_DAYS_WINDOW
        while days and days[0] <= horizon:
            days.pop(0)

    def active_days_in_window(self, at: float) -> int:
        """How many distinct days in the ``ACTIVE_DAYS_WINDOW`` days up to ``at`` saw activity."""
        horizon = int(at // DAY) - ACTIVE_DAYS_WINDOW
        return sum(1 for day in self.active_days if day > horizon)

    def days_since_active(self, at: float) -> float | None:
        """Days from the last activity to ``at``; None when the customer was never active."""
        if self.last_active is None:
            return None
        return max(0.0, (at - self.last_active) / DAY)

    # -- duplicate event ids ----------------------------------------------------------

    def seen(self, event_id: str) -> bool:
        """Whether this event id is among the recently applied ones."""
        return event_key(event_id) in self.recent_ids

    def remember(self, event_id: str, window: int) -> None:
        """Remember an applied event id, keeping only the last ``window`` ids."""
        self.recent_ids.append(event_key(event_id))
        if len(self.recent_ids) > window:
            del self.recent_ids[: len(self.recent_ids) - window]

    # -- JSON -------------------------------------------------------------------------

    def to_json(self) -> bytes:
        """Compact JSON (short keys, defaults left out); ``from_json`` restores it exactly."""
        data: dict[str, Any] = {"c": self.customer_id, "t": self.as_of, "f": self.first_seen}
        data["n"] = self.counts
        if self.last_active is not None:
            data["la"] = self.last_active
        if self.learned_at is not None:
            data["lt"] = self.learned_at
        if self.last_sent is not None:
            data["ls"] = self.last_sent
        if self.last_site is not None:
            data["lw"] = self.last_site
        if self.last_open is not None:
            data["lo"] = self.last_open
        if self.pending_since is not None:
            data["ps"] = self.pending_since
        if self.changed_at is not None:
            data["ca"] = self.changed_at
        if self.segment_since is not None:
            data["sn"] = self.segment_since
        if self.first_purchase is not None:
            data["fp"], data["lp"] = self.first_purchase, self.last_purchase
        optional: dict[str, Any] = {
            "d": self.active_days,
            "vd": self.visit_days,
            "fl": self.flags,
            "p": self.properties,
            "i": self.recent_ids,
            "e": self.event_counts,
            "ss": self.last_session,
            "u": self.unopened,
            "s": self.segment,
            "pd": self.pending,
            "pc": self.pending_count,
            "r": self.rule_segments,
            "q": self.seq,
            "rn": self.rule_since,
            "pn": self.purchase_days,
            "sp": self.spend_total,
            "al": self.aliases,
            "mg": self.merges,
        }
        data.update({key: value for key, value in optional.items() if value})
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, data: bytes | str) -> Profile:
        """The profile ``to_json`` wrote."""
        raw = orjson.loads(data)
        counts = [float(value) for value in raw["n"]]
        # A profile stored before counters were added reads them as zero.
        counts.extend([0.0] * (len(COUNTERS) - len(counts)))
        return cls(
            customer_id=raw["c"],
            as_of=raw["t"],
            first_seen=raw["f"],
            counts=counts,
            last_active=raw.get("la"),
            last_sent=raw.get("ls"),
            last_site=raw.get("lw"),
            last_open=raw.get("lo"),
            last_session=raw.get("ss"),
            unopened=raw.get("u", 0),
            active_days=raw.get("d", []),
            visit_days=raw.get("vd", []),
            flags=raw.get("fl", 0),
            properties=raw.get("p", {}),
            recent_ids=raw.get("i", []),
            event_counts=raw.get("e", {}),
            segment=raw.get("s"),
            pending=raw.get("pd"),
            pending_count=raw.get("pc", 0),
            pending_since=raw.get("ps"),
            rule_segments=raw.get("r", []),
            seq=raw.get("q", 0),
            learned_at=raw.get("lt"),
            changed_at=raw.get("ca"),
            segment_since=raw.get("sn"),
            rule_since=raw.get("rn", {}),
            first_purchase=raw.get("fp"),
            last_purchase=raw.get("lp"),
            purchase_days=raw.get("pn", 0),
            spend_total=raw.get("sp", 0.0),
            aliases=raw.get("al", []),
            merges=raw.get("mg", []),
        )


#: The fields an assessment of a customer writes (its assignment, the changes' order and
#: times, when it last fed the model); every other field is written by its events only.
DECISION_FIELDS: tuple[str, ...] = (
    "segment",
    "pending",
    "pending_count",
    "pending_since",
    "rule_segments",
    "seq",
    "learned_at",
    "changed_at",
    "segment_since",
    "rule_since",
)
_NEW = Profile.new("", 0.0)
_NEW_DECISIONS = {name: getattr(_NEW, name) for name in DECISION_FIELDS}
