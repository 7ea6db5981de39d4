"""The dataset adapters: real slices of the shipped files, and tiny synthetic CSVs."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from segflow.models.datasets import (
    DATASETS,
    DATASETS_DIR_ENV,
    HILLSTROM_START,
    HILLSTROM_WINDOW,
    cdnow,
    default_path,
    hillstrom,
    online_retail,
    open_dataset,
)
from segflow.models.events import ClickEvent, EmailEvent, Event, PurchaseEvent, encode_event

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
CDNOW_HEADER = "customer_id,date,quantity,amount_usd"
HILLSTROM_HEADER = (
    "recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,"
    "visit,conversion,spend"
)


def write_gz(path: Path, header: str, *rows: str, newline: str = "\n") -> Path:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as out:
        out.write(newline.join([header, *rows]) + newline)
    return path


def real(name: str) -> Path:
    path = default_path(name)
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


# -- registry ---------------------------------------------------------------------------


def test_registry_names_default_paths_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sorted(DATASETS) == ["cdnow", "hillstrom", "online-retail"]
    assert default_path("cdnow").name == "cdnow_master.csv.gz"
    monkeypatch.setenv(DATASETS_DIR_ENV, str(tmp_path))
    assert default_path("hillstrom") == tmp_path / "hillstrom_email_campaign.csv.gz"
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_dataset("cdnow")
    write_gz(tmp_path / "cdnow_master.csv.gz", CDNOW_HEADER, "00001,1997-01-01,1,11.77")
    stream = open_dataset("cdnow", seed=4)
    assert [e.customer_id for e in stream] == ["00001"]
    with pytest.raises(KeyError):
        open_dataset("nope")


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
        for event in list(open_dataset(name, limit=200))[:50]:
            assert decode_event(event.kind, encode_event(event)) == event
