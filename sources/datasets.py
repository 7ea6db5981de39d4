"""Real public customer datasets as segflow event streams (no Kafka here).

Four adapters read the gzip CSVs described in ``../shared/data/README.md`` and
yield valid events (:mod:`segflow.models.events`) in event-time order (Taobao in
file order on request):

* :func:`online_retail` (UCI Online Retail): one ``purchase`` per invoice.
* :func:`cdnow` (CDNOW master): one ``purchase`` per row, intra-day time synthesized.
* :func:`hillstrom` (MineThatData e-mail experiment): ``sent`` e-mail, visit click
  and conversion purchase per customer, times synthesized in the two-week window.
* :func:`taobao` (Taobao UserBehavior clickstream sample): product views, add-to-cart
  and add-to-favourites as ``click`` events, buys as ``purchase`` events.

Each returns a :class:`DatasetStream`: iterate it for the events; its
:class:`SkipReport` (``stream.report``) counts the rows read, the events made and
every skipped row by reason, with the line number and a message for each
malformed row (wrong number of fields, a number or date that does not parse, an
unknown value). A malformed row is skipped, never fatal. Line numbers count the
header as line 1. Event ids are deterministic, so a replay is reproducible and a
re-sent event is recognized as a duplicate by the engine.

>>> import gzip, pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = pathlib.Path(folder) / "mini.csv.gz"
...     with gzip.open(path, "wt") as f:
...         _ = f.write("customer_id,date,quantity,amount_usd\\n00001,1997-01-01,1,11.77\\n"
...                     "00002,1997-13-01,1,9.99\\n00002,1997-01-12,5,77.0\\n")
...     stream = cdnow(path, seed=1)
...     events = list(stream)
>>> [(e.customer_id, e.amount) for e in events]
[('00001', 11.77), ('00002', 77.0)]
>>> dict(stream.report.skipped), str(stream.report.problems[0])
({'bad_date': 1}, "line 3: date: not a date: '1997-13-01'")
"""

from __future__ import annotations

import csv
import gzip
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from segflow.models.events import ClickEvent, EmailEvent, Event, PurchaseEvent

#: Malformed rows kept with their line number and message (all are counted).
MAX_PROBLEMS = 1_000

#: Longest customer id an event accepts.
MAX_ID = 128

#: Online Retail's InvoiceDate is UK wall-clock time with no zone stored. It is read as
#: Europe/London (GMT in winter, BST = UTC+1 from 2011-03-27 to 2011-10-30) and turned
#: into UTC. No invoice falls in the skipped or repeated hour of a clock change; one that
#: did would take the earlier offset (``fold=0``).
RETAIL_TIMEZONE = ZoneInfo("Europe/London")

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


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A malformed row: where it is, what kind of problem, and one readable line."""

    line: int
    reason: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class SkipReport:
    """What reading a dataset did: rows read, events made, rows skipped and why.

    ``skipped`` counts skipped rows by reason: ``no_customer_id`` (Online Retail lines
    of guest buyers), ``zero_cancellation`` (a cancellation worth nothing, which the
    engine would count as an order), and the malformed-row reasons
    ``wrong_field_count``, ``bad_number``, ``bad_date``, ``bad_value``,
    ``missing_value``. ``problems`` lists the first :data:`MAX_PROBLEMS` malformed rows.
    ``out_of_order`` counts events emitted earlier in time than one before them
    (0 for the shipped files, except Taobao replayed in file order).
    """

    dataset: str
    rows: int = 0
    events: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[RowProblem] = field(default_factory=list)
    out_of_order: int = 0

    #: Reasons that mean the row itself is broken (the rest are skipped on purpose).
    MALFORMED = frozenset(
        {"wrong_field_count", "bad_number", "bad_date", "bad_value", "missing_value"}
    )

    @property
    def skipped_rows(self) -> int:
        """Rows skipped for any reason."""
        return sum(self.skipped.values())

    @property
    def malformed_rows(self) -> int:
        """Rows skipped because they are malformed."""
        return sum(n for reason, n in self.skipped.items() if reason in self.MALFORMED)

    def skip(self, reason: str, rows: int = 1) -> None:
        """Count ``rows`` skipped on purpose (not malformed)."""
        self.skipped[reason] += rows

    def malformed(self, line: int, reason: str, message: str) -> None:
        """Count a malformed row and keep its line number and message."""
        self.skipped[reason] += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(RowProblem(line, reason, message))


class DatasetStream:
    """A dataset as an iterable of events, with the report of the latest pass.

    Each iteration reads the file again from the start and resets ``report``.
    """

    def __init__(
        self,
        name: str,
        path: Path,
        header: tuple[str, ...],
        produce: Callable[[SkipReport], Iterator[Event]],
    ) -> None:
        self.name = name
        self.path = path
        self.header = header
        self._produce = produce
        self.report = SkipReport(name)

    def check(self) -> None:
        """Raise ``ValueError`` (one line) unless the file is a gzip CSV with the right header.

        Reads the first line only: a quick test before a long replay starts.
        """
        try:
            with gzip.open(self.path, "rt", encoding="utf-8", newline="") as text:
                first = next(csv.reader(text), None)
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as error:
            raise ValueError(f"{self.path}: not a readable gzip CSV: {error}") from None
        _check_header(self.path, first, self.header)

    def __iter__(self) -> Iterator[Event]:
        self.report = SkipReport(self.name)
        return self._ordered(self._produce(self.report), self.report)

    @staticmethod
    def _ordered(events: Iterator[Event], report: SkipReport) -> Iterator[Event]:
        newest: datetime | None = None
        for event in events:
            report.events += 1
            if newest is not None and event.occurred_at < newest:
                report.out_of_order += 1
            else:
                newest = event.occurred_at
            yield event


class _Malformed(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _rows(
    path: Path, report: SkipReport, header: tuple[str, ...], limit: int | None
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each data row with the right number of fields.

    Streams the gzip file; checks the header; counts every data row in
    ``report.rows`` and reports rows with a wrong field count. Stops after ``limit``
    data rows.
    """
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        _check_header(path, next(reader, None), header)
        width = len(header)
        for row in reader:
            if limit is not None and report.rows >= limit:
                return
            if not row:
                continue  # a blank line is not a row
            report.rows += 1
            if len(row) != width:
                report.malformed(
                    reader.line_num,
                    "wrong_field_count",
                    f"{len(row)} fields, expected {width}",
                )
                continue
            yield reader.line_num, row


def _check_header(path: Path, first: list[str] | None, header: tuple[str, ...]) -> None:
    names = tuple(name.strip().lstrip("\ufeff") for name in first or ())
    if names != header:
        found = ",".join(names) if names else "nothing"
        raise ValueError(f"{path}: line 1: expected the header {','.join(header)}, found {found}")


def _check_id(text: str, column: str) -> None:
    """An integer id, short enough for an event's ``customer_id``, or ``_Malformed``."""
    if not text.isdigit() or len(text) > MAX_ID:
        raise _Malformed("bad_value", f"{column}: not an integer id: {text!r}")


def _int(text: str, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _Malformed("bad_number", f"{column}: not an integer: {text!r}") from None


def _float(text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Malformed("bad_number", f"{column}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise _Malformed("bad_number", f"{column}: not a finite number: {text!r}")
    return value


def _flag(text: str, column: str) -> bool:
    if text not in ("0", "1"):
        raise _Malformed("bad_value", f"{column}: expected 0 or 1, found {text!r}")
    return text == "1"


def _rng(*parts: object) -> random.Random:
    # Seeding with text hashes it with SHA-512: the same stream in every process,
    # whatever PYTHONHASHSEED, and independent per row (a slice gives the same times).
    return random.Random(":".join(str(part) for part in parts))


# -- Online Retail ----------------------------------------------------------------------

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


def _retail_time(text: str) -> datetime:
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise _Malformed("bad_date", f"InvoiceDate: not a date and time: {text!r}") from None
    if local.tzinfo is not None:
        raise _Malformed("bad_date", f"InvoiceDate: expected UK local time, no zone: {text!r}")
    return local.replace(tzinfo=RETAIL_TIMEZONE).astimezone(UTC)


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

    def produce(report: SkipReport) -> Iterator[Event]:
        seen: dict[str, int] = {}
        current: _Invoice | None = None
        last_stamp, last_at = "", datetime.min.replace(tzinfo=UTC)
        for line, row in _rows(source, report, RETAIL_HEADER, limit):
            number, _, _, quantity, stamp, price, customer, country = row
            customer = customer.strip()
            if not customer:
                report.skip("no_customer_id")
                continue
            try:
                number = number.strip()
                if not number:
                    raise _Malformed("missing_value", "InvoiceNo: empty")
                _check_id(customer, "CustomerID")
                count = _int(quantity, "Quantity")
                unit = _float(price, "UnitPrice")
                if stamp != last_stamp:
                    last_at, last_stamp = _retail_time(stamp), stamp
            except _Malformed as problem:
                report.malformed(line, problem.reason, str(problem))
                continue
            if current is None or (current.number, current.stamp, current.customer) != (
                number,
                stamp,
                customer,
            ):
                if current is not None:
                    event = _invoice_event(current, seen, report)
                    if event is not None:
                        yield event
                current = _Invoice(number, stamp, customer, last_at, country.strip())
            current.total += count * unit
            current.items += count
            current.lines += 1
        if current is not None:
            event = _invoice_event(current, seen, report)
            if event is not None:
                yield event

    return DatasetStream("online-retail", source, RETAIL_HEADER, produce)


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


# -- CDNOW ------------------------------------------------------------------------------

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

    def produce(report: SkipReport) -> Iterator[Event]:
        rows: list[tuple[datetime, int, str, int, float]] = []
        for line, (customer, day, quantity, amount) in _rows(source, report, CDNOW_HEADER, limit):
            try:
                customer = customer.strip()
                if not customer:
                    raise _Malformed("missing_value", "customer_id: empty")
                if len(customer) > MAX_ID:
                    raise _Malformed("bad_value", f"customer_id: longer than {MAX_ID} characters")
                try:
                    midnight = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
                except ValueError:
                    raise _Malformed("bad_date", f"date: not a date: {day!r}") from None
                count = _int(quantity, "quantity")
                value = _float(amount, "amount_usd")
            except _Malformed as problem:
                report.malformed(line, problem.reason, str(problem))
                continue
            at = midnight + timedelta(seconds=_rng("cdnow", seed, line).randrange(86_400))
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

    return DatasetStream("cdnow", source, CDNOW_HEADER, produce)


# -- Hillstrom --------------------------------------------------------------------------

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


def _hillstrom_row(row: list[str]) -> tuple[dict[str, str | int | float | bool], bool, bool, float]:
    recency, history_segment, history, mens, womens, zip_code, newbie, channel, segment = row[:9]
    if segment not in (*HILLSTROM_CAMPAIGNS, HILLSTROM_CONTROL):
        raise _Malformed("bad_value", f"segment: unknown treatment {segment!r}")
    properties: dict[str, str | int | float | bool] = {
        "recency": _int(recency, "recency"),
        "history_segment": history_segment,
        "history": _float(history, "history"),
        "mens": _flag(mens, "mens"),
        "womens": _flag(womens, "womens"),
        "zip_code": zip_code,
        "newbie": _flag(newbie, "newbie"),
        "channel": channel,
        "segment": segment,
    }
    visit = _flag(row[9], "visit")
    conversion = _flag(row[10], "conversion")
    spend = _float(row[11], "spend")
    return properties, visit, conversion, spend


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

    def produce(report: SkipReport) -> Iterator[Event]:
        start = HILLSTROM_START.timestamp()
        end = start + HILLSTROM_WINDOW.total_seconds()
        send_at = HILLSTROM_SEND_AT.total_seconds()
        send_run = int(HILLSTROM_SEND_RUN.total_seconds())
        checkout = int(HILLSTROM_CHECKOUT.total_seconds())
        plan: list[tuple[float, int, int, str]] = []
        attributes: dict[int, tuple[dict[str, str | int | float | bool], float]] = {}
        for line, row in _rows(source, report, HILLSTROM_HEADER, limit):
            try:
                properties, visit, conversion, spend = _hillstrom_row(row)
            except _Malformed as problem:
                report.malformed(line, problem.reason, str(problem))
                continue
            number = line - 1
            rng = _rng("hillstrom", seed, number)
            emailed = properties["segment"] != HILLSTROM_CONTROL or control_sent
            sent = start + send_at + rng.randrange(send_run)
            if emailed:
                plan.append((sent, number, 0, "sent"))
            if visit or conversion:
                after = sent if emailed else start
                visited = after + 1 + rng.randrange(int(end - after) - 2)
                if visit:
                    plan.append((visited, number, 1, "visit"))
                if conversion:
                    bought = min(visited + 1 + rng.randrange(checkout), end - 1)
                    plan.append((bought, number, 2, "purchase"))
            if emailed or visit or conversion:
                attributes[number] = (properties, spend)
        plan.sort()
        for t, number, _, what in plan:
            properties, spend = attributes[number]
            yield _hillstrom_event(what, number, t, properties, spend)

    return DatasetStream("hillstrom", source, HILLSTROM_HEADER, produce)


def _hillstrom_event(
    what: str, number: int, t: float, properties: dict[str, str | int | float | bool], spend: float
) -> Event:
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


# -- Taobao -----------------------------------------------------------------------------

TAOBAO_HEADER = ("user_id", "item_id", "category_id", "behavior_type", "timestamp")

#: ``behavior_type`` -> first URL path segment of the click it becomes. ``buy`` is a
#: purchase instead (:data:`TAOBAO_BUY`).
TAOBAO_PAGES: dict[str, str] = {"pv": "item", "cart": "cart", "fav": "favorites"}
TAOBAO_BUY = "buy"
#: The data has no prices: every buy is an order of this (synthetic) amount, no currency.
TAOBAO_AMOUNT = 1.0

#: How :func:`taobao` orders the events: by timestamp (ties in file order), or as the
#: file lists them (grouped by user, each user's rows in time order).
TaobaoOrder = Literal["time", "file"]


def _unix_time(text: str) -> tuple[int, datetime]:
    try:
        seconds = int(text)
        return seconds, datetime.fromtimestamp(seconds, tz=UTC)
    except ValueError:
        raise _Malformed("bad_date", f"timestamp: not Unix seconds: {text!r}") from None
    except (OverflowError, OSError):
        raise _Malformed("bad_date", f"timestamp: out of range: {text!r}") from None


def _taobao_row(row: list[str]) -> tuple[int, datetime, str, int, int, str]:
    """(Unix seconds, time, user, item, category, behavior) of a row, or ``_Malformed``."""
    user, item, category, behavior, stamp = (text.strip() for text in row)
    if not user:
        raise _Malformed("missing_value", "user_id: empty")
    _check_id(user, "user_id")
    item_id = _int(item, "item_id")
    category_id = _int(category, "category_id")
    if behavior not in TAOBAO_PAGES and behavior != TAOBAO_BUY:
        raise _Malformed(
            "bad_value", f"behavior_type: expected pv, cart, fav or buy, found {behavior!r}"
        )
    seconds, at = _unix_time(stamp)
    return seconds, at, user, item_id, category_id, behavior


def taobao(
    path: str | Path, *, limit: int | None = None, order: TaobaoOrder = "time"
) -> DatasetStream:
    """Taobao UserBehavior (clickstream sample): every row one event.

    * ``pv`` (product page view) is a ``click`` on ``/item/<item_id>``, ``cart`` (add
      to cart) one on ``/cart/<item_id>``, ``fav`` (add to favourites) one on
      ``/favorites/<item_id>`` (:data:`TAOBAO_PAGES`). The data has no sessions:
      ``session_id`` is left empty (the engine then starts a session after half an
      hour of silence).
    * ``buy`` is a ``purchase``. **Its amount and order id are synthetic**: the data
      has neither prices nor orders, so every buy is worth :data:`TAOBAO_AMOUNT` (1.0,
      no currency: a count of items bought, not money), with ``order_id``
      ``taobao-<user_id>-<item_id>-<timestamp>``.
    * Every event carries ``properties`` ``{"category_id": ...}``; ``customer_id`` is
      the user_id as written; ``event_id`` is ``taobao-<line number>``.
    * ``timestamp`` is Unix seconds, read as UTC. The 35 rows from before the
      official window (2017-09-11 onward, all views) are kept: they are in the data,
      and the engine has to cope with such strays.

    ``order="time"`` (the default) sorts the events by timestamp, rows with the same
    timestamp in file order; the rows are read whole first (as light tuples, 84,287
    of them). ``order="file"`` streams them in the file's order, grouped by user (the
    report's ``out_of_order`` then counts every step back in time). ``limit`` stops
    after that many data rows.

    >>> import gzip, pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "mini.csv.gz"
    ...     with gzip.open(path, "wt") as f:
    ...         _ = f.write("user_id,item_id,category_id,behavior_type,timestamp\\n"
    ...                     "1,10,7,pv,1511544070\\n1,10,7,buy,1511544090\\n"
    ...                     "2,11,8,cart,1511544080\\n2,12,8,view,1511544085\\n")
    ...     by_time = [(e.customer_id, e.kind) for e in taobao(path)]
    ...     stream = taobao(path, order="file")
    ...     by_file = [(e.event_id, getattr(e, "url", None)) for e in stream]
    >>> by_time
    [('1', 'click'), ('2', 'click'), ('1', 'purchase')]
    >>> by_file
    [('taobao-2', '/item/10'), ('taobao-3', None), ('taobao-4', '/cart/11')]
    >>> str(stream.report.problems[0]), stream.report.out_of_order
    ("line 5: behavior_type: expected pv, cart, fav or buy, found 'view'", 1)
    """
    if order not in ("time", "file"):
        raise ValueError(f"order: expected 'time' or 'file', found {order!r}")
    source = Path(path)

    def rows(report: SkipReport) -> Iterator[tuple[int, int, datetime, str, int, int, str]]:
        for line, row in _rows(source, report, TAOBAO_HEADER, limit):
            try:
                seconds, at, user, item, category, behavior = _taobao_row(row)
            except _Malformed as problem:
                report.malformed(line, problem.reason, str(problem))
                continue
            yield seconds, line, at, user, item, category, behavior

    def produce(report: SkipReport) -> Iterator[Event]:
        parsed = rows(report)
        # (seconds, line) is unique: the sort never compares further, and keeps the
        # file order among rows of the same second.
        ordered = iter(sorted(parsed)) if order == "time" else parsed
        for seconds, line, at, user, item, category, behavior in ordered:
            yield _taobao_event(seconds, line, at, user, item, category, behavior)

    return DatasetStream("taobao", source, TAOBAO_HEADER, produce)


def _taobao_event(
    seconds: int, line: int, at: datetime, user: str, item: int, category: int, behavior: str
) -> Event:
    common: dict[str, Any] = {
        "event_id": f"taobao-{line}",
        "customer_id": user,
        "occurred_at": at,
        "properties": {"category_id": category},
    }
    if behavior == TAOBAO_BUY:
        order_id = f"taobao-{user}-{item}-{seconds}"
        return PurchaseEvent(order_id=order_id, amount=TAOBAO_AMOUNT, **common)
    return ClickEvent(url=f"/{TAOBAO_PAGES[behavior]}/{item}", **common)


# -- registry ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset the ``replay`` command knows: its file and how to read it."""

    name: str
    filename: str
    description: str
    open: Callable[[Path, int, int | None], DatasetStream]
    seeded: bool


DATASETS: dict[str, Dataset] = {
    "online-retail": Dataset(
        "online-retail",
        "online_retail_uci.csv.gz",
        "UCI Online Retail: one purchase per invoice, cancellations as refunds",
        lambda path, seed, limit: online_retail(path, limit=limit),
        seeded=False,
    ),
    "cdnow": Dataset(
        "cdnow",
        "cdnow_master.csv.gz",
        "CDNOW purchase log: one purchase per row, synthetic time of day",
        lambda path, seed, limit: cdnow(path, seed=seed, limit=limit),
        seeded=True,
    ),
    "hillstrom": Dataset(
        "hillstrom",
        "hillstrom_email_campaign.csv.gz",
        "Hillstrom e-mail experiment: e-mail sent, visit, conversion, synthetic times",
        lambda path, seed, limit: hillstrom(path, seed=seed, limit=limit),
        seeded=True,
    ),
    "taobao": Dataset(
        "taobao",
        "taobao_userbehavior_sample.csv.gz",
        "Taobao clickstream: views, carts, favourites as clicks; buys as purchases of 1.0",
        lambda path, seed, limit: taobao(path, limit=limit),
        seeded=False,
    ),
}


def default_path(name: str, folder: str | Path) -> Path:
    """The file of dataset ``name`` in ``folder`` (which need not exist)."""
    return Path(folder) / DATASETS[name].filename


def open_dataset(
    name: str, path: str | Path, *, seed: int = 0, limit: int | None = None
) -> DatasetStream:
    """The events of dataset ``name`` (a key of :data:`DATASETS`) from the file ``path``.
    Raises ``KeyError`` for an unknown name and ``FileNotFoundError`` for a missing file."""
    dataset = DATASETS[name]
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    return dataset.open(source, seed, limit)


__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetStream",
    "RowProblem",
    "SkipReport",
    "cdnow",
    "default_path",
    "hillstrom",
    "online_retail",
    "open_dataset",
    "taobao",
]
