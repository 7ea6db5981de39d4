"""The output contract: a segment change, as published on ``segment-changes``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, FiniteFloat

#: Namespace of change ids: ``uuid5(CHANGE_NAMESPACE, f"{customer_id}\x1f{kind}\x1f{seq}")``
#: (``\x1f`` is the ASCII unit separator). Published in the README's output contract
#: so that a subscriber can recompute and check an id; never change it.
CHANGE_NAMESPACE = uuid.UUID("6f6b0a59-8a3e-4f53-9a53-5e6a8f1f0c11")

ChangeKind = Literal["behavioral", "rule"]
#: Why a change happened: an ``event`` of the customer (``cause_event_id`` names it),
#: ``inactivity`` (the sweep: decay alone moved a silent customer), or ``retired`` (the
#: model in force no longer has the customer's segment), ``merged`` (an anonymous
#: visitor's exits once its history was folded into the customer it turned out to be,
#: ``cause_event_id`` naming the identify) or ``erased`` (the person was erased).
ChangeReason = Literal["event", "inactivity", "retired", "merged", "erased"]


def change_id(customer_id: str, kind: str, seq: int) -> str:
    """The id of a customer's ``seq``-th change: the same whenever it is recomputed.

    >>> change_id("c1", "behavioral", 3) == change_id("c1", "behavioral", 3)
    True
    >>> change_id("c1", "behavioral", 3) == change_id("c1", "rule", 3)
    False
    """
    return str(uuid.uuid5(CHANGE_NAMESPACE, f"{customer_id}\x1f{kind}\x1f{seq}"))


class Reason(BaseModel):
    """A feature that moved the customer, with its value and the population's mean."""

    model_config = ConfigDict(frozen=True)

    feature: str
    value: float
    population_mean: float


class SegmentChange(BaseModel):
    """A customer entered or left a segment (the value on ``segment-changes``)."""

    model_config = ConfigDict(frozen=True)

    change_id: str
    customer_id: str
    kind: ChangeKind
    from_segment: str | None
    to_segment: str | None
    from_name: str | None
    to_name: str | None
    model_version: int | None
    occurred_at: datetime
    emitted_at: datetime
    cause_event_id: str | None
    #: Finite always: a change is never published with a null score (NaN in JSON).
    scores: dict[str, FiniteFloat]
    reasons: list[Reason]
    reason: ChangeReason = "event"
    #: The customer's change sequence number (1, 2, ... over both kinds): with
    #: ``customer_id`` and ``kind`` it gives ``change_id`` (see :func:`change_id`).
    #: None on changes published before it was added.
    seq: int | None = None
