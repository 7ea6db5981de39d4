"""Erasing a person: the command, and the ledger that keeps them from coming back.

An :class:`EraseCommand` (topic ``erasures``, or ``segflow erase CUSTOMER_ID``) removes
the customer's profile and every anonymous visitor linked to it, and ends their
segment memberships with exit changes (``reason`` ``erased``, no reasons and no
scores). For ``window_days`` afterwards, events for an erased id are dropped and
counted (:class:`ErasedIds`), so that a replay of the input topics does not bring the
person back.

>>> from datetime import UTC, datetime
>>> ledger = ErasedIds(window_days=30.0)
>>> ledger.erase(["c1", "~anon:ck-1"], at=0.0)
>>> ledger.covers(["c1"], at=86_400.0), ledger.covers(["c2"], at=86_400.0)
(True, False)
>>> ledger.covers(["c1"], at=31 * 86_400.0)
False
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from .errors import FirstError, InvalidEventError
from .events import Id
from .timeutil import DAY


class EraseCommand(BaseModel):
    """Erase this customer and every anonymous id linked to it (topic ``erasures``)."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    kind: ClassVar[str] = "erase"
    command_id: Id
    customer_id: Id
    #: When the erasure was asked for.
    occurred_at: AwareDatetime

    @property
    def routing_key(self) -> str:
        """Commands travel keyed by the customer id, like the customer's events."""
        return self.customer_id

    @property
    def profile_key(self) -> str:
        return self.customer_id


def decode_erase(payload: bytes) -> EraseCommand:
    """An erase command from its JSON, or :class:`InvalidEventError` (one line).

    >>> decode_erase(b'{"command_id": "x1", "customer_id": "c1",'
    ...              b' "occurred_at": "2026-12-01T00:00:00Z"}').customer_id
    'c1'
    """
    try:
        return EraseCommand.model_validate_json(payload)
    except ValidationError as error:
        first = FirstError.of(error)
        reason = "not_json" if first.type == "json_invalid" else "schema"
        raise InvalidEventError(first.line(first.path), reason=reason) from None


def erased_key(identifier: str) -> bytes:
    """The key under which a worker remembers that ``identifier`` (a customer or an
    anonymous id) was erased: a hash, so the id itself is kept nowhere."""
    return b"x:" + hashlib.sha256(identifier.encode()).hexdigest()[:32].encode()


class ErasureConfig(BaseModel):
    """How long erased ids stay erased (``SEGFLOW_ENGINE__ERASURE__*``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window_days: float = Field(
        30.0,
        gt=0,
        description="Events for an erased id dated up to this long after the erasure are "
        "dropped (and counted): a replay of the input topics does not bring the person "
        "back. Set it to the input topics' retention at least.",
    )


class ErasedIds:
    """Profile keys erased, and when (the ledger the window is judged by)."""

    def __init__(self, window_days: float) -> None:
        self.window_s = window_days * DAY
        self.erased_at: dict[str, float] = {}

    def erase(self, keys: Iterable[str], at: float) -> None:
        for key in keys:
            self.erased_at[key] = max(at, self.erased_at.get(key, at))

    def covers(self, keys: Iterable[str], at: float) -> bool:
        """Whether an event at ``at`` for any of ``keys`` falls in an erasure's window
        (an event dated before the erasure, replayed after it, is covered too)."""
        return any(
            key in self.erased_at and at <= self.erased_at[key] + self.window_s for key in keys
        )
