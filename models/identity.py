"""Anonymous visitors who become known: the guards on an identify, and folding a
visitor's history into the customer's profile.

An :class:`~.events.IdentifyEvent` links an anonymous id (a cookie, a device) to a
customer. Before it is accepted it passes the guards peers' users asked for after bad
merges (:func:`refusal`): junk ids are refused, an anonymous id already linked to one
customer is not moved to another (``reassign="first"``, a shared device), a customer
takes at most ``max_anonymous_ids`` anonymous ids, and an "anonymous" id that is in fact
a known customer's id is not merged into another customer. Once accepted, the visitor's
profile is folded into the customer's (:func:`fold`) and removed; the visitor's later
events land on the customer.

>>> from segflow.models.profile import Profile
>>> visitor = Profile.new("~anon:ck-1", as_of=0.0); visitor.add("clicks", 4.0, 0.0, 86400.0)
>>> known = Profile.new("c1", as_of=86400.0); known.add("clicks", 1.0, 86400.0, 86400.0)
>>> merged = fold(known, visitor, "c1", "ck-1", 86400.0)
>>> merged.customer_id, merged.first_seen, merged.value("clicks", 86400.0, 86400.0)
('c1', 0.0, 3.0)
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .decay import decay_factor
from .profile import ACTIVE_DAYS_WINDOW, COUNTER_INDEX, Profile
from .timeutil import DAY

#: Namespace of merge ids: ``uuid5(MERGE_NAMESPACE, f"{anonymous_id}\x1f{customer_id}")``.
MERGE_NAMESPACE = uuid.UUID("0b6f1c2e-7d4a-5e3b-9c8f-2a1d4e6b8c90")
#: Merge ids a profile remembers (a repeated merge is recognised and skipped).
MERGE_MEMORY = 200

Refusal = Literal["junk_id", "linked_elsewhere", "too_many_ids", "known_customer"]


class IdentityConfig(BaseModel):
    """The guards on identifies (``SEGFLOW_ENGINE__IDENTITY__*``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    junk_ids: tuple[str, ...] = Field(
        ("", "null", "none", "nil", "undefined", "anonymous", "unknown", "nan", "0", "-1"),
        description="Ids refused in an identify (compared lower-cased and stripped); an id "
        "of one repeated character (`xxxx`, `0000`) is refused too.",
    )
    reassign: Literal["first", "last"] = Field(
        "first",
        description="An anonymous id already linked to a customer and identified as "
        "another: `first` keeps the first link (the second is refused, a shared device); "
        "`last` moves the link, so later events go to the new customer (the history "
        "already folded stays where it is).",
    )
    max_anonymous_ids: int = Field(
        50, ge=1, description="Anonymous ids one customer may have; more are refused."
    )
    merge_known: bool = Field(
        False,
        description="Whether an identify whose anonymous id is a known customer's id may "
        "fold that customer into another (merging two known customers).",
    )


def is_junk(value: str, config: IdentityConfig) -> bool:
    """Whether ``value`` is no real id: in the junk list, or one character repeated.

    >>> config = IdentityConfig()
    >>> [is_junk(v, config) for v in ("undefined", " NULL ", "aaaa", "ck-17", "0")]
    [True, True, True, False, True]
    """
    text = value.strip().lower()
    return text in config.junk_ids or len(set(text)) <= 1


def merge_id(anonymous_id: str, customer_id: str) -> str:
    """The id of folding ``anonymous_id`` into ``customer_id``: the same whenever the
    same link is made again, so a repeated merge is applied once."""
    return str(uuid.uuid5(MERGE_NAMESPACE, f"{anonymous_id}\x1f{customer_id}"))


def refusal(
    anonymous_id: str,
    customer_id: str,
    linked_to: str | None,
    customer: Profile | None,
    anonymous_is_customer: bool,
    config: IdentityConfig,
) -> Refusal | None:
    """Why an identify of ``anonymous_id`` as ``customer_id`` is refused, or None.

    ``linked_to`` is the customer the anonymous id is linked to already (None: none),
    ``customer`` the customer's profile, ``anonymous_is_customer`` whether a known
    customer has ``anonymous_id`` as customer id.
    """
    if is_junk(anonymous_id, config) or is_junk(customer_id, config):
        return "junk_id"
    if linked_to is not None and linked_to != customer_id and config.reassign == "first":
        return "linked_elsewhere"
    if anonymous_is_customer and not config.merge_known:
        return "known_customer"
    if over_cap(anonymous_id, customer.aliases if customer is not None else [], config):
        return "too_many_ids"
    return None


def over_cap(anonymous_id: str, linked: Collection[str], config: IdentityConfig) -> bool:
    """Whether linking ``anonymous_id`` to a customer that has ``linked`` would pass
    ``max_anonymous_ids`` (an id linked already is never over).

    >>> config = IdentityConfig(max_anonymous_ids=2)
    >>> over_cap("ck-3", ["ck-1", "ck-2"], config), over_cap("ck-2", ["ck-1", "ck-2"], config)
    (True, False)
    """
    return anonymous_id not in linked and len(linked) >= config.max_anonymous_ids


def fold(
    customer: Profile | None,
    visitor: Profile | None,
    customer_id: str,
    anonymous_id: str,
    half_life: float,
) -> Profile:
    """The customer's profile with the visitor's history folded in (a new profile).

    Both are brought to the same time, then decayed counters add; event-id memories,
    active and site days, flags and counts by type merge; the customer's own properties
    win over the visitor's; first seen is the earliest, last activity the latest. A
    day both were active on counts once (its extra count is taken back as of the
    start of that day: the time of its first event there is not kept). The merged
    profile remembers the anonymous id and the :func:`merge_id` (also without a
    visitor profile: an identify that came before the visitor's events).
    """
    if customer is not None:
        merged = customer.copy()
    elif visitor is not None:
        merged = Profile.new(customer_id, visitor.as_of)
    else:
        raise ValueError("fold needs the customer's profile or the visitor's")
    if visitor is not None:
        _add_history(merged, visitor.copy(), customer, half_life)
    if anonymous_id not in merged.aliases:
        merged.aliases.append(anonymous_id)
    merged.merges = [*merged.merges, merge_id(anonymous_id, customer_id)][-MERGE_MEMORY:]
    return merged


def _add_history(
    merged: Profile, other: Profile, customer: Profile | None, half_life: float
) -> None:
    """Fold ``other`` (a visitor's profile) into ``merged`` in place (see :func:`fold`)."""
    at = max(merged.as_of, other.as_of)
    merged.advance(at, half_life)
    other.advance(at, half_life)
    merged.counts = [a + b for a, b in zip(merged.counts, other.counts, strict=True)]
    for days, mine, counter in (
        (other.active_days, merged.active_days, "active_days"),
        (other.visit_days, merged.visit_days, "site_days"),
    ):
        both = set(days) & set(mine)
        for day in both:  # counted by each: once is right
            merged.counts[COUNTER_INDEX[counter]] -= decay_factor(at - day * DAY, half_life)
        horizon = int(at // DAY) - ACTIVE_DAYS_WINDOW
        mine[:] = sorted(d for d in set(days) | set(mine) if d > horizon)
    merged.counts = [max(0.0, c) for c in merged.counts]
    merged.first_seen = min(merged.first_seen, other.first_seen)
    for name in ("last_active", "last_sent", "last_site", "last_open"):
        values = [v for v in (getattr(merged, name), getattr(other, name)) if v is not None]
        setattr(merged, name, max(values) if values else None)
    mine_site = customer.last_site if customer is not None else None
    if other.last_site is not None and (mine_site is None or other.last_site > mine_site):
        merged.last_session = other.last_session
    merged.flags |= other.flags
    merged.properties = {**other.properties, **merged.properties}
    known_ids = set(merged.recent_ids)
    merged.recent_ids = [i for i in other.recent_ids if i not in known_ids] + merged.recent_ids
    for kind, n in other.event_counts.items():
        merged.event_counts[kind] = merged.event_counts.get(kind, 0) + n
    if other.first_purchase is not None and other.last_purchase is not None:
        firsts = [v for v in (merged.first_purchase, other.first_purchase) if v is not None]
        lasts = [v for v in (merged.last_purchase, other.last_purchase) if v is not None]
        merged.first_purchase, merged.last_purchase = min(firsts), max(lasts)
        merged.purchase_days += other.purchase_days  # (a day both bought on counts twice)
        merged.spend_total += other.spend_total
