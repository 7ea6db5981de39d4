"""The dataset adapters: real slices of the shipped files, and tiny synthetic CSVs."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from segflow.models.events import ClickEvent, EmailEvent, Event, PurchaseEvent, encode_event
from segflow.sources.cdnow import cdnow
from segflow.sources.datasets import DATASETS, default_path, open_dataset
from segflow.sources.hillstrom import HILLSTROM_START, HILLSTROM_WINDOW, hillstrom
from segflow.sources.online_retail import online_retail
from segflow.sources.taobao import TAOBAO_AMOUNT, taobao
from segflow.streams.replay import DATASETS_DIR_ENV, datasets_folder

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
CDNOW_HEADER = "customer_id,date,quantity,amount_usd"
HILLSTROM_HEADER = (
    "recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,"
    "visit,conversion,spend"
)
TAOBAO_HEADER = "user_id,item_id,category_id,behavior_type,timestamp"
#: 2017-11-25 00:00 China time: the start of the Taobao sample's official window.
TAOBAO_WINDOW_START = 1511539200


def write_gz(path: Path, header: str, *rows: str, newline: str = "\n") -> Path:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as out:
        out.write(newline.join([header, *rows]) + newline)
    return path


def real(name: str) -> Path:
    path = default_path(name, datasets_folder())
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    return path


def real_rows(name: str, n: int) -> list[dict[str, str]]:
    with gzip.open(real(name), "rt", encoding="utf-8", newline="") as text:
        reader = csv.DictReader(text)
        return [row for _, row in zip(range(n), reader, strict=False)]


def assert_time_ordered(events: list[Event]) -> None:
    times = [e.occurred_at for e in events]
    assert times == sorted(times)
    assert all(t.tzinfo is not None for t in times)


# -- Online Retail ----------------------------------------------------------------------


def test_online_retail_real_slice_groups_invoices_and_skips_guests() -> None:
    rows = real_rows("online-retail", 2_000)
    stream = online_retail(real("online-retail"), limit=2_000)
    events = list(stream)
    report = stream.report

    assert report.rows == 2_000
    guests = sum(1 for row in rows if not row["CustomerID"])
    assert guests > 0
    assert report.skipped == Counter({"no_customer_id": guests})
    assert report.problems == []
    assert report.out_of_order == 0

    invoices = {(r["InvoiceNo"], r["InvoiceDate"]) for r in rows if r["CustomerID"]}
    assert len(events) == len(invoices) == report.events
    assert all(isinstance(e, PurchaseEvent) for e in events)
    assert len({e.event_id for e in events}) == len(events)
    assert_time_ordered(events)

    first = events[0]
    assert isinstance(first, PurchaseEvent)
    assert (first.event_id, first.order_id, first.customer_id) == ("536365", "536365", "17850")
    # 6 x 2.55 + 6 x 3.39 + 8 x 2.75 + 6 x 3.39 + 6 x 3.39 + 2 x 7.65 + 6 x 4.25
    assert first.amount == pytest.approx(139.12)
    assert first.currency == "GBP"
    assert first.properties == {"country": "United Kingdom", "lines": 7, "items": 40}
    # Winter: UK local time is UTC.
    assert first.occurred_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)

    # The first cancellation in the file (line 143): a refund, negative.
    refund = next(e for e in events if e.event_id == "C536379")
    assert isinstance(refund, PurchaseEvent)
    assert refund.amount == pytest.approx(-27.5)
    assert all(
        e.amount < 0 for e in events if isinstance(e, PurchaseEvent) and e.order_id[0] == "C"
    )


def test_online_retail_synthetic_invoices_refunds_and_time_zone(tmp_path: Path) -> None:
    path = write_gz(
        tmp_path / "retail.csv.gz",
        RETAIL_HEADER,
        "1001,A,Mug,2,2011-06-01 10:00:00,1.25,12345,United Kingdom",
        '1001,B,"Plate, large",3,2011-06-01 10:00:00,2.10,12345,United Kingdom',
        "1002,A,Mug,1,2011-06-01 10:05:00,1.25,,United Kingdom",
        "1003,A,Mug,5,2011-06-01 10:07:00,1.25,12346,France",
        "1003,A,Mug,1,2011-06-01 10:08:00,1.25,12346,France",
        "C1004,A,Mug,-2,2011-06-01 11:00:00,1.25,12345,United Kingdom",
        "C1004,B,Plate,-1,2011-06-01 11:00:00,2.10,12345,United Kingdom",
        "C1005,A,Mug,-1,2011-06-01 11:30:00,0.0,12345,United Kingdom",
        "1006,Z,Free sample,1,2011-12-01 09:00:00,0,12346,France",
    )
    stream = online_retail(path)
    events = list(stream)
    assert all(isinstance(e, PurchaseEvent) for e in events)
    purchases = [e for e in events if isinstance(e, PurchaseEvent)]
    summary = [(e.event_id, e.order_id, e.customer_id, e.amount) for e in purchases]
    assert summary == [
        ("1001", "1001", "12345", pytest.approx(8.8)),  # 2 x 1.25 + 3 x 2.10, one event
        ("1003", "1003", "12346", pytest.approx(6.25)),
        ("1003#2", "1003", "12346", pytest.approx(1.25)),  # same invoice, next minute
        ("C1004", "C1004", "12345", pytest.approx(-4.6)),  # cancellation: a refund
        ("1006", "1006", "12346", 0.0),  # a free order is still an order
    ]
    # British Summer Time: 10:00 in London is 09:00 UTC; December is GMT again.
    assert purchases[0].occurred_at == datetime(2011, 6, 1, 9, 0, tzinfo=UTC)
    assert purchases[-1].occurred_at == datetime(2011, 12, 1, 9, 0, tzinfo=UTC)
    assert purchases[0].properties == {"country": "United Kingdom", "lines": 2, "items": 5}
    assert stream.report.skipped == Counter({"no_customer_id": 1, "zero_cancellation": 1})
    assert stream.report.rows == 9
    assert stream.report.events == 5


def test_online_retail_malformed_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = write_gz(
        tmp_path / "retail.csv.gz",
        RETAIL_HEADER,
        "2001,A,Mug,2,2011-01-04 10:00:00,1.25,12345,United Kingdom",  # line 2
        "2001,A,Mug,two,2011-01-04 10:00:00,1.25,12345,United Kingdom",  # 3: quantity
        "2001,A,Mug,2,2011-01-04 10:00:00,nan,12345,United Kingdom",  # 4: price
        "2002,A,Mug,2,2011-02-30 10:00:00,1.25,12345,United Kingdom",  # 5: date
        "2002,A,Mug,2,2011-01-04 10:01:00,1.25,12345",  # 6: 7 fields
        "2003,A,Mug,2,2011-01-04 10:02:00,1.25,12x45,United Kingdom",  # 7: customer
        ",A,Mug,2,2011-01-04 10:02:00,1.25,12345,United Kingdom",  # 8: no invoice
        "2004,A,Mug,1,2011-01-04 10:03:00,4.00,12345,United Kingdom",  # 9: fine
    )
    stream = online_retail(path)
    events = list(stream)
    assert [(e.event_id, e.amount) for e in events if isinstance(e, PurchaseEvent)] == [
        ("2001", 2.5),
        ("2004", 4.0),
    ]
    report = stream.report
    assert [(p.line, p.reason) for p in report.problems] == [
        (3, "bad_number"),
        (4, "bad_number"),
        (5, "bad_date"),
        (6, "wrong_field_count"),
        (7, "bad_value"),
        (8, "missing_value"),
    ]
    assert "Quantity" in report.problems[0].message
    assert str(report.problems[3]) == "line 6: 7 fields, expected 8"
    assert report.malformed_rows == report.skipped_rows == 6
    assert report.rows == 8


def test_a_file_with_another_header_is_refused(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "x.csv.gz", CDNOW_HEADER, "00001,1997-01-01,1,11.77")
    stream = online_retail(path)
    with pytest.raises(ValueError, match="line 1: expected the header InvoiceNo"):
        stream.check()
    with pytest.raises(ValueError, match="line 1"):
        list(stream)
    not_gzip = tmp_path / "plain.csv.gz"
    not_gzip.write_text(RETAIL_HEADER + "\n")
    with pytest.raises(ValueError, match="not a readable gzip CSV"):
        online_retail(not_gzip).check()


# -- CDNOW ------------------------------------------------------------------------------


def test_cdnow_real_slice_every_row_a_purchase_with_synthetic_time_of_day() -> None:
    rows = real_rows("cdnow", 1_000)
    stream = cdnow(real("cdnow"), seed=3, limit=1_000)
    events = list(stream)
    assert stream.report.rows == len(events) == 1_000
    assert not stream.report.skipped
    assert_time_ordered(events)
    by_id = {e.event_id: e for e in events}
    for line, row in enumerate(rows, start=2):
        event = by_id[f"cdnow-{line}"]
        assert isinstance(event, PurchaseEvent)
        assert event.customer_id == row["customer_id"]  # zero-padded, kept as text
        assert event.amount == pytest.approx(float(row["amount_usd"]))
        assert event.properties == {"quantity": int(row["quantity"])}
        assert event.currency == "USD"
        assert event.occurred_at.date().isoformat() == row["date"]  # inside the row's day
    assert len({e.occurred_at.time() for e in events}) > 900  # times of day are spread


def test_cdnow_times_are_deterministic_by_seed_and_slice_independent() -> None:
    path = real("cdnow")
    a = [(e.event_id, e.occurred_at) for e in cdnow(path, seed=11, limit=300)]
    b = [(e.event_id, e.occurred_at) for e in cdnow(path, seed=11, limit=300)]
    other = dict((e.event_id, e.occurred_at) for e in cdnow(path, seed=12, limit=300))
    longer = dict((e.event_id, e.occurred_at) for e in cdnow(path, seed=11, limit=600))
    assert a == b
    assert sum(other[k] != t for k, t in a) > 290
    assert all(longer[k] == t for k, t in a)


def test_cdnow_synthetic_malformed_rows(tmp_path: Path) -> None:
    path = write_gz(
        tmp_path / "cd.csv.gz",
        CDNOW_HEADER,
        "00002,1997-01-12,1,12.0",
        "00002,1997-01-12,x,77.0",  # 3
        "00003,1997-01-02,2,inf",  # 4
        ",1997-01-02,2,3.0",  # 5
        "00004,1997-02-30,2,3.0",  # 6
        "00001,1997-01-01,1,11.77,extra",  # 7
        "",  # a blank line is not a row
        "00001,1997-01-01,1,11.77",  # 9
        newline="\r\n",
    )
    stream = cdnow(path, seed=0)
    events = list(stream)
    assert [e.event_id for e in events] == ["cdnow-9", "cdnow-2"]  # in time order
    assert [(p.line, p.reason) for p in stream.report.problems] == [
        (3, "bad_number"),
        (4, "bad_number"),
        (5, "missing_value"),
        (6, "bad_date"),
        (7, "wrong_field_count"),
    ]
    assert stream.report.rows == 7


# -- Hillstrom --------------------------------------------------------------------------


def test_hillstrom_real_slice_events_per_row() -> None:
    rows = real_rows("hillstrom", 3_000)
    stream = hillstrom(real("hillstrom"), seed=5, limit=3_000)
    events = list(stream)
    assert stream.report.rows == 3_000
    assert not stream.report.skipped
    assert_time_ordered(events)

    start, end = HILLSTROM_START, HILLSTROM_START + HILLSTROM_WINDOW
    per_customer: dict[str, dict[str, Event]] = {}
    for event in events:
        per_customer.setdefault(event.customer_id, {})[event.event_id.rsplit("-", 1)[1]] = event
        assert start <= event.occurred_at < end
    for number, row in enumerate(rows, start=1):
        got = per_customer.get(str(number), {})
        emailed = row["segment"] != "No E-Mail"
        expected = {
            "sent": emailed,
            "visit": row["visit"] == "1",
            "purchase": row["conversion"] == "1",
        }
        assert set(got) == {kind for kind, present in expected.items() if present}
        for event in got.values():
            assert event.properties is not None
            assert event.properties["segment"] == row["segment"]
            assert event.properties["channel"] == row["channel"]
            assert event.properties["zip_code"] == row["zip_code"]
            assert event.properties["history_segment"] == row["history_segment"]
            assert event.properties["newbie"] is (row["newbie"] == "1")
        if "sent" in got:
            sent = got["sent"]
            assert isinstance(sent, EmailEvent)
            assert (sent.action, sent.campaign_id) == ("sent", row["segment"])
            assert timedelta(hours=9) <= sent.occurred_at - start < timedelta(hours=12)
        if "visit" in got:
            assert isinstance(got["visit"], ClickEvent)
            if "sent" in got:
                assert got["visit"].occurred_at > got["sent"].occurred_at
        if "purchase" in got:
            purchase = got["purchase"]
            assert isinstance(purchase, PurchaseEvent)
            assert purchase.amount == pytest.approx(float(row["spend"]))
            assert purchase.occurred_at > got["visit"].occurred_at
    assert len(per_customer) < 3_000  # control customers who did nothing have no event


def test_hillstrom_synthetic_rows_malformed_and_control_group(tmp_path: Path) -> None:
    path = write_gz(
        tmp_path / "h.csv.gz",
        HILLSTROM_HEADER,
        "10,2) $100 - $200,142.44,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0",  # row 1
        "6,3) $200 - $350,329.08,1,1,Rural,1,Web,No E-Mail,1,1,29.99",  # row 2
        "7,2) $100 - $200,180.65,0,1,Surburban,1,Web,Mens E-Mail,2,0,0",  # line 4: visit
        "x,2) $100 - $200,180.65,0,1,Surburban,1,Web,Mens E-Mail,0,0,0",  # line 5
        "7,2) $100 - $200,180.65,0,1,Surburban,1,Web,Kids E-Mail,0,0,0",  # line 6
        "2,1) $0 - $100,45.1,1,0,Urban,0,Web,No E-Mail,0,0,0",  # row 6: nothing
        "2,1) $0 - $100,45.1,1,0,Urban,0,Web,Mens E-Mail,1,1,abc",  # line 8
        newline="\r\n",
    )
    stream = hillstrom(path, seed=1)
    kinds = sorted((e.customer_id, e.kind) for e in stream)
    assert kinds == [("1", "email"), ("2", "click"), ("2", "purchase")]
    assert [(p.line, p.reason) for p in stream.report.problems] == [
        (4, "bad_value"),
        (5, "bad_number"),
        (6, "bad_value"),
        (8, "bad_number"),
    ]
    with_control = [e for e in hillstrom(path, seed=1, control_sent=True) if e.kind == "email"]
    assert sorted(e.customer_id for e in with_control) == ["1", "2", "6"]
    assert {e.campaign_id for e in with_control if isinstance(e, EmailEvent)} == {
        "Womens E-Mail",
        "No E-Mail",
    }


def test_hillstrom_is_deterministic_by_seed() -> None:
    path = real("hillstrom")
    one = [encode_event(e) for e in hillstrom(path, seed=9, limit=500)]
    again = [encode_event(e) for e in hillstrom(path, seed=9, limit=500)]
    other = [encode_event(e) for e in hillstrom(path, seed=10, limit=500)]
    assert one == again
    assert one != other
    assert sorted(one) != sorted(other)  # the times differ, not just the order


# -- Taobao -----------------------------------------------------------------------------


def test_taobao_real_file_every_row_an_event_strays_kept() -> None:
    path = real("taobao")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as text:
        rows = list(csv.DictReader(text))
    stream = taobao(path)
    events = list(stream)
    report = stream.report

    assert report.rows == len(rows) == len(events) == report.events == 84_287
    assert not report.skipped
    assert report.out_of_order == 0
    assert_time_ordered(events)
    assert len({e.event_id for e in events}) == len(events)
    assert len({e.customer_id for e in events}) == 814
    behaviors = Counter(row["behavior_type"] for row in rows)
    assert behaviors == Counter({"pv": 75_693, "cart": 4_494, "fav": 2_351, "buy": 1_749})
    urls = Counter(e.url.split("/")[1] for e in events if isinstance(e, ClickEvent))
    assert urls == Counter({"item": 75_693, "cart": 4_494, "favorites": 2_351})
    buys = [e for e in events if isinstance(e, PurchaseEvent)]
    assert len(buys) == 1_749
    assert len({e.order_id for e in buys}) == 1_749
    assert {e.amount for e in buys} == {TAOBAO_AMOUNT}

    # The 35 stray rows before the window (all views, of 32 users) are kept, first.
    early = [e for e in events if e.occurred_at.timestamp() < TAOBAO_WINDOW_START]
    assert len(early) == 35
    assert len({e.customer_id for e in early}) == 32
    assert all(isinstance(e, ClickEvent) for e in early)
    assert events[: len(early)] == early
    assert events[0].occurred_at == datetime(2017, 9, 11, 8, 16, 39, tzinfo=UTC)
    assert events[-1].occurred_at == datetime(2017, 12, 3, 15, 59, 23, tzinfo=UTC)

    # The first row of the file: 1,2268318,2520377,pv,1511544070 (line 2).
    first = next(e for e in events if e.event_id == "taobao-2")
    assert isinstance(first, ClickEvent)
    assert (first.customer_id, first.url, first.session_id) == ("1", "/item/2268318", None)
    assert first.properties == {"category_id": 2520377}
    assert first.occurred_at == datetime.fromtimestamp(1511544070, tz=UTC)

    # In file order: the same events, grouped by user as the file lists them.
    by_file = list(taobao(path, order="file"))
    assert [e.event_id for e in by_file] == [f"taobao-{line}" for line in range(2, 84_289)]
    assert sorted(by_file, key=lambda e: e.occurred_at) == events  # sorted() is stable
    assert [e.customer_id for e in by_file] == [row["user_id"] for row in rows]


def test_taobao_maps_each_behavior_type(tmp_path: Path) -> None:
    path = write_gz(
        tmp_path / "t.csv.gz",
        TAOBAO_HEADER,
        "7,100,5,pv,1511600000",
        "7,100,5,cart,1511600060",
        "7,101,6,fav,1511600120",
        "7,100,5,buy,1511600180",
    )
    stream = taobao(path)
    events = list(stream)
    assert [e.kind for e in events] == ["click", "click", "click", "purchase"]
    clicks = [e for e in events if isinstance(e, ClickEvent)]
    assert [e.url for e in clicks] == ["/item/100", "/cart/100", "/favorites/101"]
    assert all(e.session_id is None and e.referrer is None for e in clicks)
    buy = events[-1]
    assert isinstance(buy, PurchaseEvent)
    assert (buy.event_id, buy.order_id) == ("taobao-5", "taobao-7-100-1511600180")
    assert (buy.amount, buy.currency) == (1.0, None)
    assert [e.event_id for e in events] == ["taobao-2", "taobao-3", "taobao-4", "taobao-5"]
    assert [e.properties for e in events] == [{"category_id": c} for c in (5, 5, 6, 5)]
    assert {e.customer_id for e in events} == {"7"}
    assert events[0].occurred_at == datetime(2017, 11, 25, 8, 53, 20, tzinfo=UTC)  # Unix, UTC
    assert (stream.report.rows, stream.report.events) == (4, 4)
    # Deterministic ids: a second pass makes the same events.
    assert [encode_event(e) for e in taobao(path)] == [encode_event(e) for e in events]


def test_taobao_malformed_rows_are_reported_with_line_numbers(tmp_path: Path) -> None:
    path = write_gz(
        tmp_path / "t.csv.gz",
        TAOBAO_HEADER,
        "1,100,5,pv,1511600000",  # line 2: fine
        "1,10x,5,pv,1511600001",  # 3: item
        "1,100,,pv,1511600002",  # 4: category
        "1,100,5,click,1511600003",  # 5: behavior
        "1,100,5,pv,2017-11-25",  # 6: timestamp
        "1,100,5,pv",  # 7: 4 fields
        ",100,5,pv,1511600004",  # 8: no user
        "u1,100,5,pv,1511600005",  # 9: user
        "1,100,5,pv,99999999999999999999",  # 10: timestamp out of range
        "",  # a blank line is not a row
        "1,100,5,buy,1511600006",  # 12: fine
        newline="\r\n",
    )
    stream = taobao(path)
    events = list(stream)
    assert [e.event_id for e in events] == ["taobao-2", "taobao-12"]
    report = stream.report
    assert [(p.line, p.reason) for p in report.problems] == [
        (3, "bad_number"),
        (4, "bad_number"),
        (5, "bad_value"),
        (6, "bad_date"),
        (7, "wrong_field_count"),
        (8, "missing_value"),
        (9, "bad_value"),
        (10, "bad_date"),
    ]
    assert str(report.problems[0]) == "line 3: item_id: not an integer: '10x'"
    assert "category_id" in report.problems[1].message
    assert str(report.problems[4]) == "line 7: 4 fields, expected 5"
    assert report.malformed_rows == report.skipped_rows == 8
    assert (report.rows, report.events) == (10, 2)


def test_taobao_time_order_and_file_order(tmp_path: Path) -> None:
    # Grouped by user like the real file; user 2 is active before user 1 ends.
    path = write_gz(
        tmp_path / "t.csv.gz",
        TAOBAO_HEADER,
        "1,100,5,pv,1511600000",  # line 2
        "1,101,5,pv,1511600300",  # 3
        "1,101,5,buy,1511600900",  # 4
        "2,200,6,pv,1511600100",  # 5
        "2,201,6,cart,1511600300",  # 6: same second as line 3
        "2,201,6,buy,1511600600",  # 7
    )
    by_time = taobao(path)
    assert [e.event_id for e in by_time] == [f"taobao-{n}" for n in (2, 5, 3, 6, 7, 4)]
    assert by_time.report.out_of_order == 0
    by_file = taobao(path, order="file")
    assert [e.event_id for e in by_file] == [f"taobao-{n}" for n in (2, 3, 4, 5, 6, 7)]
    assert by_file.report.out_of_order == 3  # user 2's events all precede user 1's last
    assert {encode_event(e) for e in by_time} == {encode_event(e) for e in by_file}
    with pytest.raises(ValueError, match="order: expected 'time' or 'file'"):
        taobao(path, order="user")  # type: ignore[arg-type]


def test_taobao_keeps_stray_early_rows(tmp_path: Path) -> None:
    path = write_gz(
        tmp_path / "t.csv.gz",
        TAOBAO_HEADER,
        "1,100,5,pv,1511600000",
        "2,300,9,pv,1505117799",  # 2017-09-11 08:16:39 UTC, 2.5 months before the window
        "2,200,6,pv,1511600100",
    )
    stream = taobao(path)
    events = list(stream)
    assert [e.event_id for e in events] == ["taobao-3", "taobao-2", "taobao-4"]
    assert events[0].occurred_at == datetime(2017, 9, 11, 8, 16, 39, tzinfo=UTC)
    assert events[0].occurred_at.timestamp() < TAOBAO_WINDOW_START
    assert not stream.report.skipped
    assert [e.event_id for e in taobao(path, order="file", limit=2)] == ["taobao-2", "taobao-3"]


# -- registry ---------------------------------------------------------------------------


def test_registry_names_default_paths_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sorted(DATASETS) == ["cdnow", "hillstrom", "online-retail", "taobao"]
    assert default_path("cdnow", tmp_path) == tmp_path / "cdnow_master.csv.gz"
    assert default_path("taobao", "x").name == "taobao_userbehavior_sample.csv.gz"
    # The folder comes from the caller (the CLI reads the environment, never the adapters).
    monkeypatch.setenv(DATASETS_DIR_ENV, str(tmp_path))
    assert datasets_folder() == tmp_path
    monkeypatch.delenv(DATASETS_DIR_ENV)
    assert datasets_folder() == Path("..") / "shared" / "data"
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_dataset("cdnow", tmp_path / "cdnow_master.csv.gz")
    write_gz(tmp_path / "cdnow_master.csv.gz", CDNOW_HEADER, "00001,1997-01-01,1,11.77")
    stream = open_dataset("cdnow", default_path("cdnow", tmp_path), seed=4)
    assert [e.customer_id for e in stream] == ["00001"]
    write_gz(tmp_path / "taobao_userbehavior_sample.csv.gz", TAOBAO_HEADER, "1,2,3,fav,1511600000")
    taobao_file = default_path("taobao", tmp_path)
    assert [e.event_id for e in open_dataset("taobao", taobao_file, limit=5)] == ["taobao-2"]
    with pytest.raises(KeyError):
        open_dataset("nope", taobao_file)


def test_each_pass_reads_again_and_resets_the_report(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "cd.csv.gz", CDNOW_HEADER, "1,1997-01-01,1,1.0", "2,bad,1,1.0")
    stream = cdnow(path)
    assert len(list(stream)) == len(list(stream)) == 1
    assert stream.report.rows == 2
    assert stream.report.malformed_rows == 1


def test_events_round_trip_through_the_topic_encoding() -> None:
    from segflow.models.events import decode_event

    for name in DATASETS:
        real(name)
        path = default_path(name, datasets_folder())
        for event in list(open_dataset(name, path, limit=200))[:50]:
            assert decode_event(event.kind, encode_event(event)) == event
