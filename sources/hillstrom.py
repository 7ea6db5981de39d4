"""Hillstrom's e-mail experiment as e-mail, visit and purchase events (see :func:`hillstrom`).

>>> import gzip, pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = pathlib.Path(folder) / "mini.csv.gz"
...     with gzip.open(path, "wt") as f:
...         _ = f.write(",".join(HILLSTROM_HEADER) + "\\n"
...                     "10,2) $100 - $200,142.44,1,0,Surburban,0,Phone,Womens E-Mail,1,1,29.9\\n"
...                     "6,3) $200 - $350,329.08,1,1,Rural,1,Web,No E-Mail,0,0,0\\n")
...     events = list(hillstrom(path, seed=1))
>>> [(e.event_id, e.kind) for e in events]  # doctest: +NORMALIZE_WHITESPACE
[('hillstrom-1-sent', 'email'), ('hillstrom-1-visit', 'click'),
 ('hillstrom-1-purchase', 'purchase')]
>>> all(HILLSTROM_START <= e.occurred_at < HILLSTROM_START + HILLSTROM_WINDOW for e in events)
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from segflow.models.events import ClickEvent, EmailEvent, Event, PurchaseEvent

from .reading import (
    DatasetStream,
    Malformed,
    SkipReport,
    parse_flag,
    parse_float,
    parse_int,
    parsed_rows,
    row_rng,
)

__all__ = [
    "HILLSTROM_CAMPAIGNS",
    "HILLSTROM_CHECKOUT",
    "HILLSTROM_CONTROL",
    "HILLSTROM_HEADER",
    "HILLSTROM_SEND_AT",
    "HILLSTROM_SEND_RUN",
    "HILLSTROM_START",
    "HILLSTROM_WINDOW",
    "hillstrom",
]

#: Day 0 of the Hillstrom experiment. The data says only "two weeks in 2008": this
#: Monday is a synthetic, documented choice.
HILLSTROM_START = datetime(2008, 3, 3, tzinfo=UTC)
HILLSTROM_WINDOW = timedelta(days=14)
#: The e-mails go out in a morning send run on day 0: within this long after 09:00 UTC.
HILLSTROM_SEND_RUN = timedelta(hours=3)
HILLSTROM_SEND_AT = timedelta(hours=9)
#: A conversion is placed this long (at most) after the visit it belongs to.
HILLSTROM_CHECKOUT = timedelta(hours=1)
HILLSTROM_CAMPAIGNS = ("Mens E-Mail", "Womens E-Mail")
HILLSTROM_CONTROL = "No E-Mail"

HILLSTROM_HEADER = (
    "recency",
    "history_segment",
    "history",
    "mens",
    "womens",
    "zip_code",
    "newbie",
    "channel",
    "segment",
    "visit",
    "conversion",
    "spend",
)

_Properties = dict[str, str | int | float | bool]
#: (Unix seconds, row number, rank, what): sorts by time, then row, then sent, visit, purchase.
_Step = tuple[float, int, int, str]


def hillstrom(
    path: str | Path, *, seed: int = 0, limit: int | None = None, control_sent: bool = False
) -> DatasetStream:
    """Hillstrom's e-mail experiment: per row, the e-mail, the visit and the conversion.

    The customer id is the row number (1 for the first data row, on line 2). Per row:

    * an ``email`` event ``sent`` (``campaign_id`` = the ``segment`` column) on day 0 of
      the window, for customers who were e-mailed. The "No E-Mail" third (the control
      group) got no e-mail, so it gets no ``sent`` event (``control_sent=True`` sends
      them one with campaign ``No E-Mail`` all the same);
    * a ``click`` (url ``/``) when ``visit`` is 1;
    * a ``purchase`` of ``spend`` USD (``order_id`` ``hillstrom-<row>``) when
      ``conversion`` is 1.

    A control customer who neither visited nor bought has no event at all. Every
    event carries the row's attributes in ``properties``: ``recency``,
    ``history_segment``, ``history``, ``mens``, ``womens``, ``zip_code``, ``newbie``,
    ``channel``, ``segment``.

    **Times are synthetic** (the data has none): day 0 is :data:`HILLSTROM_START`
    (2008-03-03, a Monday); the e-mail goes out at 09:00 UTC plus a uniform offset
    up to 3 hours (a send run); the visit is uniform between the send (day 0 00:00
    for the control group) and the end of the 14-day window; the purchase follows
    the visit by up to an hour (capped at the window's end). All draws come from a
    generator seeded with ``seed`` and the row number, to whole seconds. Event ids:
    ``hillstrom-<row>-sent``, ``-visit``, ``-purchase``.

    The events are sorted by time across customers, so the rows are read whole first
    (as light tuples, 64,000 of them). ``limit`` stops after that many data rows.
    """
    source = Path(path)
    return DatasetStream(
        "hillstrom",
        source,
        HILLSTROM_HEADER,
        lambda report: _events(source, report, seed, limit, control_sent),
    )


def _events(
    source: Path, report: SkipReport, seed: int, limit: int | None, control_sent: bool
) -> Iterator[Event]:
    window = _Window.from_constants()
    plan: list[_Step] = []
    attributes: dict[int, tuple[_Properties, float]] = {}
    for line, (properties, visit, conversion, spend) in parsed_rows(
        source, report, HILLSTROM_HEADER, limit, _parse
    ):
        number = line - 1
        emailed = properties["segment"] != HILLSTROM_CONTROL or control_sent
        rng = row_rng("hillstrom", seed, number)
        plan.extend(window.steps(number, rng, emailed, visit, conversion))
        if emailed or visit or conversion:
            attributes[number] = (properties, spend)
    plan.sort()
    for t, number, _, what in plan:
        properties, spend = attributes[number]
        yield _event(what, number, t, properties, spend)


@dataclass(frozen=True, slots=True)
class _Window:
    """The experiment's window in Unix seconds, and the delays drawn in it."""

    start: float
    end: float
    send_at: float
    send_run: int
    checkout: int

    @classmethod
    def from_constants(cls) -> _Window:
        start = HILLSTROM_START.timestamp()
        return cls(
            start=start,
            end=start + HILLSTROM_WINDOW.total_seconds(),
            send_at=HILLSTROM_SEND_AT.total_seconds(),
            send_run=int(HILLSTROM_SEND_RUN.total_seconds()),
            checkout=int(HILLSTROM_CHECKOUT.total_seconds()),
        )

    def steps(
        self, number: int, rng: random.Random, emailed: bool, visit: bool, conversion: bool
    ) -> list[_Step]:
        """The timed steps of customer ``number``: the e-mail, the visit, the purchase.

        The send time is drawn for every row, e-mailed or not: each draw keeps its place
        in the row's sequence.
        """
        sent = self.start + self.send_at + rng.randrange(self.send_run)
        steps: list[_Step] = []
        if emailed:
            steps.append((sent, number, 0, "sent"))
        if visit or conversion:
            after = sent if emailed else self.start
            visited = after + 1 + rng.randrange(int(self.end - after) - 2)
            if visit:
                steps.append((visited, number, 1, "visit"))
            if conversion:
                bought = min(visited + 1 + rng.randrange(self.checkout), self.end - 1)
                steps.append((bought, number, 2, "purchase"))
        return steps


def _parse(row: list[str]) -> tuple[_Properties, bool, bool, float]:
    """(properties, visit, conversion, spend) of a row, or ``Malformed``."""
    recency, history_segment, history, mens, womens, zip_code, newbie, channel, segment = row[:9]
    if segment not in (*HILLSTROM_CAMPAIGNS, HILLSTROM_CONTROL):
        raise Malformed("bad_value", f"segment: unknown treatment {segment!r}")
    properties: _Properties = {
        "recency": parse_int(recency, "recency"),
        "history_segment": history_segment,
        "history": parse_float(history, "history"),
        "mens": parse_flag(mens, "mens"),
        "womens": parse_flag(womens, "womens"),
        "zip_code": zip_code,
        "newbie": parse_flag(newbie, "newbie"),
        "channel": channel,
        "segment": segment,
    }
    visit = parse_flag(row[9], "visit")
    conversion = parse_flag(row[10], "conversion")
    spend = parse_float(row[11], "spend")
    return properties, visit, conversion, spend


def _event(what: str, number: int, t: float, properties: _Properties, spend: float) -> Event:
    common: dict[str, Any] = {
        "event_id": f"hillstrom-{number}-{what}",
        "customer_id": str(number),
        "occurred_at": datetime.fromtimestamp(t, tz=UTC),
        "properties": properties,
    }
    if what == "sent":
        return EmailEvent(campaign_id=str(properties["segment"]), action="sent", **common)
    if what == "visit":
        return ClickEvent(url="/", session_id=f"hillstrom-{number}", **common)
    return PurchaseEvent(order_id=f"hillstrom-{number}", amount=spend, currency="USD", **common)
