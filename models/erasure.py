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

from collections.abc import Iterable
from typing import ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

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
