"""UCI Online Retail as one ``purchase`` event per invoice (see :func:`online_retail`).

>>> import gzip, pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = pathlib.Path(folder) / "mini.csv.gz"
...     with gzip.open(path, "wt") as f:
...         _ = f.write(",".join(RETAIL_HEADER) + "\\n"
...                     "536365,A,a,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\\n"
...                     "536365,B,b,2,2010-12-01 08:26:00,3.39,17850,United Kingdom\\n"
...                     "C536379,D,d,-1,2010-12-01 09:41:00,27.5,14527,United Kingdom\\n")
...     events = list(online_retail(path))
>>> [(e.event_id, e.amount, e.properties["items"]) for e in events]
[('536365', 22.08, 8), ('C536379', -27.5, -1)]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from segflow.models.events import Event, PurchaseEvent

from .reading import (
    DatasetStream,
    Malformed,
    SkipReport,
    check_id,
    data_rows,
    parse_float,
    parse_int,
)

__all__ = ["RETAIL_HEADER", "RETAIL_TIMEZONE", "online_retail"]

#: Online Retail's InvoiceDate is UK wall-clock time with no zone stored. It is read as
#: Europe/London (GMT in winter, BST = UTC+1 from 2011-03-27 to 2011-10-30) and turned
#: into UTC. No invoice falls in the skipped or repeated hour of a clock change; one that
#: did would take the earlier offset (``fold=0``).
RETAIL_TIMEZONE = ZoneInfo("Europe/London")

RETAIL_HEADER = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)


def online_retail(path: str | Path, *, limit: int | None = None) -> DatasetStream:
    """UCI Online Retail as one ``purchase`` event per invoice.

    * An invoice is the consecutive lines sharing InvoiceNo, InvoiceDate and CustomerID
      (the file lists an invoice's lines together; 43 invoices straddle a minute and
      become two events). Its ``amount`` is the sum of Quantity x UnitPrice rounded to
      the penny, in GBP; ``properties`` hold ``country``, ``lines`` and ``items``
      (the summed quantity).
    * A cancellation (InvoiceNo ``C...``) is a refund: a negative ``amount``. One
      worth exactly 0 would read as an order to the engine: it is skipped
      (``zero_cancellation``). Other invoices keep the sign of their total.
    * Lines without CustomerID (guest buyers, 135,080 in the file) cannot be tied to a
      customer: skipped and counted as ``no_customer_id``.
    * InvoiceDate is UK local time with no zone: read as Europe/London
      (:data:`RETAIL_TIMEZONE`) and stored in UTC.
    * ``event_id`` and ``order_id`` are the InvoiceNo; a later event of the same
      InvoiceNo (the straddling invoices) gets ``#2``, ``#3``... on its event id.
      ``customer_id`` is the CustomerID as written (5 digits).

    The file is streamed (one invoice in memory at a time) and is in time order.
    ``limit`` stops after that many data rows.
    """
    source = Path(path)
    return DatasetStream(
        "online-retail", source, RETAIL_HEADER, lambda report: _events(source, report, limit)
    )


class _Line(NamedTuple):
    """An invoice line of a known customer, parsed."""

    number: str
    stamp: str
    customer: str
    at: datetime
    country: str
    quantity: int
    unit_price: float


@dataclass
class _Invoice:
    number: str
    stamp: str
    customer: str
    at: datetime
    country: str
    total: float = 0.0
    items: int = 0
    lines: int = 0


def _events(source: Path, report: SkipReport, limit: int | None) -> Iterator[Event]:
    seen: dict[str, int] = {}
    for invoice in _invoices(_lines(source, report, limit)):
        event = _invoice_event(invoice, seen, report)
        if event is not None:
            yield event


def _lines(source: Path, report: SkipReport, limit: int | None) -> Iterator[_Line]:
    """The lines of known customers, in file order; guest and malformed lines are counted
    in ``report`` and skipped."""
    last_stamp, last_at = "", datetime.min.replace(tzinfo=UTC)
    for line, row in data_rows(source, report, RETAIL_HEADER, limit):
        number, _, _, quantity, stamp, price, customer, country = row
        customer = customer.strip()
        if not customer:
            report.skip("no_customer_id")
            continue
        try:
            number = number.strip()
            if not number:
                raise Malformed("missing_value", "InvoiceNo: empty")
            check_id(customer, "CustomerID")
            count = parse_int(quantity, "Quantity")
            unit = parse_float(price, "UnitPrice")
            if stamp != last_stamp:  # an invoice's lines share it: parse it once
                last_at, last_stamp = _retail_time(stamp), stamp
        except Malformed as problem:
            report.malformed(line, problem.reason, str(problem))
            continue
        yield _Line(number, stamp, customer, last_at, country.strip(), count, unit)


def _invoices(lines: Iterator[_Line]) -> Iterator[_Invoice]:
    """The runs of consecutive lines sharing InvoiceNo, InvoiceDate and CustomerID, summed
    (the country is the first line's)."""
    current: _Invoice | None = None
    for line in lines:
        if current is None or (current.number, current.stamp, current.customer) != (
            line.number,
            line.stamp,
            line.customer,
        ):
            if current is not None:
                yield current
            current = _Invoice(line.number, line.stamp, line.customer, line.at, line.country)
        current.total += line.quantity * line.unit_price
        current.items += line.quantity
        current.lines += 1
    if current is not None:
        yield current


def _retail_time(text: str) -> datetime:
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise Malformed("bad_date", f"InvoiceDate: not a date and time: {text!r}") from None
    if local.tzinfo is not None:
        raise Malformed("bad_date", f"InvoiceDate: expected UK local time, no zone: {text!r}")
    return local.replace(tzinfo=RETAIL_TIMEZONE).astimezone(UTC)


def _invoice_event(
    invoice: _Invoice, seen: dict[str, int], report: SkipReport
) -> PurchaseEvent | None:
    amount = round(invoice.total, 2) + 0.0  # + 0.0: no "-0.0"
    if invoice.number.upper().startswith("C"):
        if amount == 0:
            report.skip("zero_cancellation", invoice.lines)
            return None
        amount = -abs(amount)
    n = seen.get(invoice.number, 0) + 1
    seen[invoice.number] = n
    return PurchaseEvent(
        event_id=invoice.number if n == 1 else f"{invoice.number}#{n}",
        customer_id=invoice.customer,
        occurred_at=invoice.at,
        order_id=invoice.number,
        amount=amount,
        currency="GBP",
        properties={"country": invoice.country, "lines": invoice.lines, "items": invoice.items},
    )
