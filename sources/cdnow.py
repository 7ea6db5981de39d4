"""The CDNOW master log as ``purchase`` events, one per row (see :func:`cdnow`).

>>> import gzip, pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = pathlib.Path(folder) / "mini.csv.gz"
...     with gzip.open(path, "wt") as f:
...         _ = f.write("customer_id,date,quantity,amount_usd\\n00002,1997-01-12,5,77.0\\n"
...                     "00001,1997-01-01,1,11.77\\n")
...     events = list(cdnow(path, seed=1))
>>> [(e.event_id, e.customer_id, e.amount, e.properties) for e in events]
[('cdnow-3', '00001', 11.77, {'quantity': 1}), ('cdnow-2', '00002', 77.0, {'quantity': 5})]
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from segflow.models.events import Event, PurchaseEvent

from .reading import (
    MAX_ID,
    DatasetStream,
    Malformed,
    SkipReport,
    parse_float,
    parse_int,
    parsed_rows,
    row_rng,
)

__all__ = ["CDNOW_HEADER", "cdnow"]

CDNOW_HEADER = ("customer_id", "date", "quantity", "amount_usd")


def cdnow(path: str | Path, *, seed: int = 0, limit: int | None = None) -> DatasetStream:
    """CDNOW master log: every row a ``purchase`` event.

    * ``customer_id`` is kept as written (zero-padded, 5 characters); ``amount`` is
      ``amount_usd`` (USD; 80 rows are 0, which are orders all the same);
      ``properties`` hold ``quantity`` (number of CDs).
    * The data has dates only. **The time of day is synthetic**: each row gets a
      time uniformly drawn in its UTC calendar day from a generator seeded with
      ``seed`` and the row's line number, so a seed always gives the same times
      (and a slice of the file the same times as the whole file). Rows of one
      customer on one day may thus come in either order.
    * ``event_id`` and ``order_id`` are ``cdnow-<line number>``.

    The file is sorted by customer, not by time: the rows are read into light tuples
    (not events) and sorted by time before events are made.
    ``limit`` stops after that many data rows.
    """
    source = Path(path)
    return DatasetStream(
        "cdnow", source, CDNOW_HEADER, lambda report: _events(source, report, seed, limit)
    )


def _events(source: Path, report: SkipReport, seed: int, limit: int | None) -> Iterator[Event]:
    rows: list[tuple[datetime, int, str, int, float]] = []
    for line, (midnight, customer, count, value) in parsed_rows(
        source, report, CDNOW_HEADER, limit, _parse
    ):
        at = midnight + timedelta(seconds=row_rng("cdnow", seed, line).randrange(86_400))
        rows.append((at, line, customer, count, value))
    rows.sort()
    for at, line, customer, count, value in rows:
        yield PurchaseEvent(
            event_id=f"cdnow-{line}",
            customer_id=customer,
            occurred_at=at,
            order_id=f"cdnow-{line}",
            amount=value,
            currency="USD",
            properties={"quantity": count},
        )


def _parse(row: list[str]) -> tuple[datetime, str, int, float]:
    """(UTC midnight of the date, customer, quantity, amount) of a row, or ``Malformed``."""
    customer, day, quantity, amount = row
    customer = customer.strip()
    if not customer:
        raise Malformed("missing_value", "customer_id: empty")
    if len(customer) > MAX_ID:
        raise Malformed("bad_value", f"customer_id: longer than {MAX_ID} characters")
    try:
        midnight = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
    except ValueError:
        raise Malformed("bad_date", f"date: not a date: {day!r}") from None
    return midnight, customer, parse_int(quantity, "quantity"), parse_float(amount, "amount_usd")
