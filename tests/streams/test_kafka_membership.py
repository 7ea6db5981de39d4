"""A new subscriber's audience, bootstrapped from ``segment-membership`` and followed on
``segment-changes``, is the membership the workers report, even after a kill -9."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from kafkatest import (
    ProfileReader,
    WorkerProc,
    get,
    isolated_settings,
    missing_and_extra,
    prepare,
    send_events,
    wait_for_split,
    wait_until,
)

from segflow.models.config import EngineConfig
from segflow.models.membership import Audience
from segflow.sources.simulator import SimulationConfig, simulate
from segflow.streams.audience import follow_changes, read_membership
from segflow.streams.broker import LocalBroker
from segflow.streams.settings import Settings

pytestmark = pytest.mark.kafka

RULES = """
segments:
  - id: clicker
    name: Clicker
    when: {field: features.clicks, op: gt, value: 2.0}
  - id: reader
    name: Reader
    when: {field: features.email_opens, op: gt, value: 1.0}
"""


def subscriber(settings: Settings) -> Audience:
    """What a subscriber starting now holds once it caught up."""
    audience, start = read_membership(settings)
    for change in follow_changes(settings, start, idle_s=2.0):
        audience.apply_change(change)
    return audience


def members(port: int, segment: str, limit: int = 7) -> tuple[list[str], int]:
    """Every member of ``segment`` by ``GET /segments/{id}/members`` pages, and the count."""
    found: list[str] = []
    cursor = ""
    while True:
        status, body = get(port, f"/segments/{segment}/members?limit={limit}&cursor={cursor}")
        assert status == 200, body
        page = orjson.loads(body)
        assert page["complete"]
        found += page["members"]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    status, body = get(port, f"/segments/{segment}/members/count")
    assert status == 200, body
    return found, orjson.loads(body)["count"]


def test_a_new_subscriber_holds_what_the_workers_report_after_a_kill_9(
    broker: LocalBroker, tmp_path: Path, workers: Callable[[Settings], WorkerProc]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    engine = EngineConfig(
        max_lateness_hours=24 * 365.0, warmup_samples=100, dedup_window=256, rules_file=rules
    )
    settings = isolated_settings(broker, tmp_path, engine=engine)
    prepare(settings)
    events_topic = settings.topics.events
    victim, survivor = workers(settings), workers(settings)

    wait_for_split(victim, survivor, events_topic)
    sim = simulate(
        SimulationConfig(customers=150, days=21.0, warmup_days=7.0, settle_days=7.0, seed=4)
    )
    expected: dict[str, Counter[str]] = {}
    producer = threading.Thread(
        target=lambda: expected.update(send_events(settings, sim.events, rate=700.0))
    )
    producer.start()
    try:

        def victim_busy() -> bool:
            counts = (victim.stats() or {}).get("counts", {})
            return counts.get("events_applied", 0) >= len(sim.events) // 5

        assert wait_until(victim_busy), victim.log_tail()
        victim.kill9()
    finally:
        producer.join()
    assert wait_until(lambda: survivor.assignment(events_topic) == {0, 1, 2, 3})
    profiles = ProfileReader(settings)
    assert profiles.wait_for_counts(expected), missing_and_extra(expected, profiles.counts())
    profiles.close()

    seen: dict[str, tuple[list[str], list[str], int]] = {}

    def agree() -> bool:
        audience = subscriber(settings)
        segments = audience.segments() | {"clicker", "reader"}
        status, body = get(survivor.port, "/segments")
        assert status == 200, body
        segments |= {s["id"] for s in orjson.loads(body)["segments"]}
        seen.clear()
        for segment in sorted(segments):
            listed, count = members(survivor.port, segment)
            seen[segment] = (audience.members(segment), listed, count)
        # The trainer's model may be published after the last event is applied: wait for
        # its segments too, not only for the two rule segments to agree.
        agreeing = all(a == listed and count == len(listed) for a, listed, count in seen.values())
        return agreeing and len(seen) >= 3

    assert wait_until(agree, timeout=60.0, every=1.0), {
        s: (len(a), len(listed), count) for s, (a, listed, count) in seen.items()
    }
    assert sum(len(a) for a, _, _ in seen.values()) > 0
    assert len(seen) >= 3  # behavioral segments and both rule segments
    print({segment: len(listed) for segment, (_, listed, _) in seen.items()})


def test_export_and_tail_from_start_give_the_segments_members(
    broker: LocalBroker,
    tmp_path: Path,
    workers: Callable[[Settings], WorkerProc],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import csv

    from segflow.streams.cli import main
    from segflow.streams.settings import settings_env

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    engine = EngineConfig(max_lateness_hours=24 * 365.0, rules_file=rules)
    settings = isolated_settings(broker, tmp_path, engine=engine)
    prepare(settings)
    worker = workers(settings)
    assert wait_until(lambda: bool(worker.assignment(settings.topics.events)))
    sim = simulate(SimulationConfig(customers=60, days=14.0, drift_fraction=0.0, seed=6))
    expected = send_events(settings, sim.events)
    profiles = ProfileReader(settings)
    assert profiles.wait_for_counts(expected), missing_and_extra(expected, profiles.counts())
    profiles.close()
    listed, count = members(worker.port, "clicker")
    assert 0 < count == len(listed)
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)

    out = tmp_path / "clicker.csv"
    capsys.readouterr()
    assert main(["export", "--segment", "clicker", "--output", str(out)]) == 0
    assert f"export clicker: {count} members" in capsys.readouterr().err
    with out.open() as f:
        exported = list(csv.DictReader(f))
    assert [row["customer_id"] for row in exported] == listed
    assert all(row["segment_id"] == "clicker" and row["since"] for row in exported)

    assert main(["tail", "--segment", "clicker", "--from-start", "--json", "--idle-timeout",
                 "2"]) == 0  # fmt: skip
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    snapshot = [line["membership"]["customer_id"] for line in lines if "membership" in line]
    assert snapshot == listed
    assert main(["tail", "--from-start"]) == 2
    assert "--from-start needs --segment" in capsys.readouterr().err

    # The standalone example subscriber (kafka-python only) holds the same audience.
    example = Path(__file__).resolve().parents[2] / "examples" / "audience_subscriber.py"
    ran = subprocess.run(
        [sys.executable, str(example), "--broker", settings.bootstrap_servers,
         "--changes", settings.topics.changes, "--membership", settings.topics.membership,
         "--idle-timeout", "2"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    held = orjson.loads(ran.stdout.splitlines()[-1])
    assert held["clicker"] == listed
    for segment, ids in held.items():
        assert members(worker.port, segment)[0] == ids, segment
