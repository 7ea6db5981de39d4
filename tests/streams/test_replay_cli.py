"""``segflow replay``: offline replays, the summary, bad arguments, and (broker) production."""

from __future__ import annotations

import argparse
import gzip
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from segflow.models.changes import SegmentChange
from segflow.models.events import ClickEvent, decode_event
from segflow.sources.datasets import default_path, open_dataset
from segflow.streams import cli_common
from segflow.streams.broker import LocalBroker
from segflow.streams.cli import main as segflow_main
from segflow.streams.replay import (
    DATASETS_DIR_ENV,
    add_replay_parser,
    datasets_folder,
    paced,
    run_replay,
)
from segflow.streams.setting_groups import TopicNames


def main(argv: list[str]) -> int:
    """``segflow replay ARGV...``."""
    return segflow_main(["replay", *argv])


RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
#: Small models so that a few hundred events give segment changes.
QUICK_ENGINE = {"SEGFLOW_ENGINE__WARMUP_SAMPLES": "20", "SEGFLOW_ENGINE__WARMUP_DAYS": "0"}


def real(name: str) -> Path:
    path = default_path(name, datasets_folder())
    if not path.is_file():
        pytest.skip(f"{path} is not here")
    return path


@pytest.fixture
def quick_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in QUICK_ENGINE.items():
        monkeypatch.setenv(name, value)


def retail_file(tmp_path: Path) -> Path:
    path = tmp_path / "retail.csv.gz"
    rows = [
        RETAIL_HEADER,
        "1001,A,Mug,2,2011-01-04 10:00:00,1.25,12345,United Kingdom",
        "1001,A,Mug,x,2011-01-04 10:00:00,1.25,12345,United Kingdom",
        "1002,A,Mug,2,2011-01-04 10:05:00,1.25,,United Kingdom",
        "C1003,A,Mug,-2,2011-01-05 10:00:00,1.25,12345,United Kingdom",
        "1004,A,Mug,2,2011-01-06 10:00:00,1.25,12346",
    ]
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write("\n".join(rows) + "\n")
    return path


def test_offline_replay_writes_changes_as_json_lines(
    tmp_path: Path, quick_engine: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "changes.jsonl"
    path = real("online-retail")
    code = main(["online-retail", "--path", str(path), "--offline", "--limit", "20000"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    stdout_changes = captured.out.splitlines()
    code = main(
        [
            "online-retail",
            "--path",
            str(path),
            "--offline",
            "--limit",
            "20000",
            "--output",
            str(out),
        ]
    )
    summary = capsys.readouterr().out
    assert code == 0
    lines = out.read_text().splitlines()
    assert lines == stdout_changes  # deterministic, and the same on stdout or in a file
    changes = [SegmentChange.model_validate_json(line) for line in lines]
    assert changes
    assert {c.kind for c in changes} == {"behavioral"}
    assert all(c.customer_id.isdigit() for c in changes)
    assert "online-retail: read 20,000 rows of online_retail_uci.csv.gz;" in summary
    assert "skipped" in summary
    assert "no_customer_id" in summary
    assert f"{len(changes):,} segment changes (behavioral {len(changes):,}) -> {out}" in summary
    # On stdout, the changes alone go to stdout and the summary to stderr.
    assert "segment changes" in captured.err
    assert all(line.startswith("{") for line in stdout_changes)


def test_summary_reports_skipped_rows_with_reasons_and_line_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "changes.jsonl"
    path = retail_file(tmp_path)
    code = main(["online-retail", "--path", str(path), "--offline", "--output", str(out)])
    summary = capsys.readouterr().out
    assert code == 0
    assert "read 5 rows of retail.csv.gz; 2 events (purchase 2) for 1 customers" in summary
    assert "skipped 3 rows: " in summary
    assert "bad_number 1" in summary
    assert "no_customer_id 1" in summary
    assert "wrong_field_count 1" in summary
    assert "  line 3: Quantity: not an integer: 'x'" in summary
    assert "  line 6: 7 fields, expected 8" in summary
    assert "0 segment changes" in summary  # two events do not seed a model
    assert out.read_text() == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nope", "--offline"], "'nope' is no dataset"),
        (["cdnow", "--output", "x.jsonl"], "--output needs --offline"),
        (["cdnow", "--offline", "--broker", "localhost:9092"], "exclude each other"),
        (["cdnow", "--offline", "--speed", "-1"], "--speed"),
        (["cdnow", "--offline", "--limit", "0"], "--limit"),
        (["cdnow", "--offline", "--path", "/no/such/file.csv.gz"], "no such file"),
        (["cdnow", "--offline", "--broker", "bad"], "exclude each other"),
        (["cdnow", "--broker", "not a broker"], "not host:port"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_wrong_file_for_the_dataset_is_a_bad_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = retail_file(tmp_path)
    assert main(["cdnow", "--offline", "--path", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 1: expected the header customer_id,date,quantity,amount_usd" in err
    assert len(err.strip().splitlines()) == 1
    plain = tmp_path / "plain.csv.gz"
    plain.write_text("not gzip\n")
    assert main(["cdnow", "--offline", "--path", str(plain)]) == 2
    assert "not a readable gzip CSV" in capsys.readouterr().err


def test_missing_default_file_names_the_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(DATASETS_DIR_ENV, str(tmp_path))
    assert main(["hillstrom", "--offline"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "hillstrom_email_campaign.csv.gz") in err
    assert DATASETS_DIR_ENV in err


def test_unreachable_broker_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real("cdnow")
    monkeypatch.setattr(cli_common, "BROKER_TIMEOUT_S", 0.3)
    assert main(["cdnow", "--limit", "5", "--broker", "127.0.0.1:1"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the broker at 127.0.0.1:1" in err
    assert len(err.strip().splitlines()) == 1


def test_the_command_plugs_into_a_subparsers_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="segflow")
    commands = parser.add_subparsers(dest="command")
    add_replay_parser(commands)
    path = retail_file(tmp_path)
    args = parser.parse_args(["replay", "online-retail", "--path", str(path), "--offline"])
    assert (args.command, args.dataset, args.speed, args.limit) == (
        "replay",
        "online-retail",
        0.0,
        None,
    )
    assert run_replay(args) == 0
    assert "2 events" in capsys.readouterr().err


def click(second: int) -> ClickEvent:
    at = datetime.fromtimestamp(1_700_000_000 + second, tz=UTC)
    return ClickEvent(event_id=str(second), customer_id="c", occurred_at=at, url="/")


def test_speed_compresses_event_time() -> None:
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    events = [click(0), click(3600), click(3600), click(1800), click(7200)]
    out = list(paced(events, 3600.0, clock=lambda: now[0], sleep=sleep))
    assert out == events
    assert waits == [pytest.approx(1.0), pytest.approx(1.0)]  # an hour a second; late: at once
    assert list(paced(events, 0.0, clock=lambda: 0.0, sleep=waits.append)) == events
    assert len(waits) == 2  # speed 0: no waiting


def test_speed_paces_an_offline_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = retail_file(tmp_path)  # events over two days: 1001, then C1003 a day later
    started = time.monotonic()
    code = main(["online-retail", "--path", str(path), "--offline", "--speed", "172800"])
    assert code == 0
    assert 0.4 <= time.monotonic() - started < 5.0  # one day of event time at two days/s
    capsys.readouterr()


# -- broker mode ---------------------------------------------------------------------------


@pytest.mark.kafka
def test_broker_mode_produces_to_the_input_topics(
    broker: LocalBroker, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kafka import KafkaConsumer, TopicPartition

    uid = uuid.uuid4().hex[:8]
    for field, name in TopicNames().model_dump().items():
        monkeypatch.setenv(f"SEGFLOW_TOPICS__{field.upper()}", f"t{uid}-{name}")
    monkeypatch.setenv("SEGFLOW_APP_ID", f"t{uid}")
    topics = {kind: f"t{uid}-{kind}" for kind in ("clicks", "emails", "purchases")}
    path = real("hillstrom")
    bootstrap = broker.bootstrap
    code = main(["hillstrom", "--path", str(path), "--limit", "400", "--broker", bootstrap])
    out = capsys.readouterr().out
    assert code == 0, out
    expected = list(open_dataset("hillstrom", path, seed=7, limit=400))
    assert f"{len(expected):,} events sent to {bootstrap}" in out

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        got: dict[str, list[tuple[bytes, bytes]]] = {}
        for kind in ("clicks", "emails", "purchases"):
            name = topics[kind]
            partitions = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name)]
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            end = sum(consumer.end_offsets(partitions).values())
            records: list[tuple[bytes, bytes]] = []
            deadline = time.monotonic() + 30
            while len(records) < end and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=500).values():
                    records.extend((r.key, r.value) for r in batch)
            got[kind] = records
    finally:
        consumer.close()
    by_topic = Counter({kind: len(records) for kind, records in got.items() if records})
    assert by_topic == Counter(f"{e.kind}s" for e in expected)
    decoded = [
        decode_event(kind.removesuffix("s"), value)
        for kind, records in got.items()
        for _, value in records
    ]
    assert sorted(e.event_id for e in decoded) == sorted(e.event_id for e in expected)
    for records in got.values():
        for key, value in records:
            assert orjson.loads(value)["customer_id"] == key.decode()


def export_lines(seed: int) -> list[bytes]:
    """A small simulated world as a user's export: one JSON event per line with its type."""
    from segflow.models.events import encode_event
    from segflow.sources.simulator import SimulationConfig, simulate

    sim = simulate(
        SimulationConfig(customers=40, days=30.0, warmup_days=7.0, settle_days=7.0, seed=seed)
    )
    return [orjson.dumps({"type": e.kind, **orjson.loads(encode_event(e))}) for e in sim.events]


def changes_without_emitted_at(path: Path) -> list[dict[str, object]]:
    return [
        {k: v for k, v in orjson.loads(line).items() if k != "emitted_at"}
        for line in path.read_text().splitlines()
    ]


def test_an_export_in_any_order_replays_like_the_time_ordered_one(
    tmp_path: Path,
    quick_engine: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import random

    from segflow.sources import export

    monkeypatch.setattr(export, "RUN_EVENTS", 500)  # several sorted runs to merge
    lines = export_lines(seed=3)
    ordered = tmp_path / "ordered.jsonl"
    ordered.write_bytes(b"\n".join(lines) + b"\n")
    shuffled = [*lines, lines[10], b'{"type": "click", "event_id": "x"}']  # a repeat, a bad one
    random.Random(5).shuffle(shuffled)
    mixed = tmp_path / "mixed.jsonl.gz"
    with gzip.open(mixed, "wb") as out:
        out.write(b"\n".join(shuffled) + b"\n")
    bad_line = shuffled.index(b'{"type": "click", "event_id": "x"}') + 1

    outputs = []
    for source in (ordered, mixed):
        output = tmp_path / f"{source.name}.changes"
        assert main([str(source), "--offline", "--output", str(output)]) == 0
        outputs.append(changes_without_emitted_at(output))
        summary = capsys.readouterr().out
    assert outputs[0] and outputs[0] == outputs[1]
    assert f"{len(lines):,} events" in summary
    assert "skipped 2 rows: invalid 1, duplicate 1" in summary
    assert f"line {bad_line}: occurred_at: Field required" in summary


def test_a_file_that_is_no_export_is_a_bad_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "events.csv"), "--offline"]) == 2
    assert "nor a .jsonl[.gz] file" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.jsonl"), "--offline"]) == 2
    assert "no such file" in capsys.readouterr().err
