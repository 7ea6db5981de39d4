"""The Taobao UserBehavior clickstream sample as click and purchase events (see
:func:`taobao`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from segflow.models.events import ClickEvent, Event, PurchaseEvent

from .reading import DatasetStream, Malformed, SkipReport, check_id, parse_int, parsed_rows

__all__ = ["TAOBAO_AMOUNT", "TAOBAO_BUY", "TAOBAO_HEADER", "TAOBAO_PAGES", "TaobaoOrder", "taobao"]

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

#: A parsed row: (Unix seconds, line number, time, user, item, category, behavior).
_Row = tuple[int, int, datetime, str, int, int, str]


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
    return DatasetStream(
        "taobao", source, TAOBAO_HEADER, lambda report: _events(source, report, limit, order)
    )


def _events(
    source: Path, report: SkipReport, limit: int | None, order: TaobaoOrder
) -> Iterator[Event]:
    parsed = _rows(source, report, limit)
    # (seconds, line) is unique: the sort never compares further, and keeps the
    # file order among rows of the same second.
    ordered = iter(sorted(parsed)) if order == "time" else parsed
    for seconds, line, at, user, item, category, behavior in ordered:
        yield _event(seconds, line, at, user, item, category, behavior)


def _rows(source: Path, report: SkipReport, limit: int | None) -> Iterator[_Row]:
    """The well-formed rows in file order; the malformed ones are counted in ``report``."""
    for line, (seconds, at, user, item, category, behavior) in parsed_rows(
        source, report, TAOBAO_HEADER, limit, _parse
    ):
        yield seconds, line, at, user, item, category, behavior


def _parse(row: list[str]) -> tuple[int, datetime, str, int, int, str]:
    """(Unix seconds, time, user, item, category, behavior) of a row, or ``Malformed``."""
    user, item, category, behavior, stamp = (text.strip() for text in row)
    if not user:
        raise Malformed("missing_value", "user_id: empty")
    check_id(user, "user_id")
    item_id = parse_int(item, "item_id")
    category_id = parse_int(category, "category_id")
    if behavior not in TAOBAO_PAGES and behavior != TAOBAO_BUY:
        raise Malformed(
            "bad_value", f"behavior_type: expected pv, cart, fav or buy, found {behavior!r}"
        )
    seconds, at = _unix_time(stamp)
    return seconds, at, user, item_id, category_id, behavior


def _unix_time(text: str) -> tuple[int, datetime]:
    try:
        seconds = int(text)
        return seconds, datetime.fromtimestamp(seconds, tz=UTC)
    except ValueError:
        raise Malformed("bad_date", f"timestamp: not Unix seconds: {text!r}") from None
    except (OverflowError, OSError):
        raise Malformed("bad_date", f"timestamp: out of range: {text!r}") from None


def _event(
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
