"""Helpers for the broker tests: isolated settings, worker processes, topic readers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from segflow.models.config import EngineConfig
from segflow.models.events import BaseEvent, ClickEvent, EmailEvent
from segflow.models.profile import Profile
from segflow.streams.broker import LocalBroker, free_port
from segflow.streams.demo import WorkerProcess, assigned, fetch_stats
from segflow.streams.producer import produce_events
from segflow.streams.setting_groups import TopicNames
from segflow.streams.settings import Settings
from segflow.streams.topics import create_topics

#: Upper bound for anything a test waits for (a guard against hanging, not an assertion).
WAIT_S = 120.0
#: Debian's chromium, which renders the dashboard in the browser tests.
CHROMIUM = "/usr/bin/chromium"


def isolated_settings(
    broker: LocalBroker, tmp_path: Path, engine: EngineConfig | None = None, **overrides: Any
) -> Settings:
    """Settings with their own app id (consumer group) and topic names, fast timeouts."""
    uid = uuid.uuid4().hex[:8]
    defaults = TopicNames().model_dump()
    topics = TopicNames(**{field: f"t{uid}-{name}" for field, name in defaults.items()})
    values: dict[str, Any] = {
        "broker": broker.bootstrap,
        "app_id": f"t{uid}",
        "topics": topics,
        "store": "memory://",
        "data_dir": tmp_path / "data",
        "web_port": 0,
        "partitions": 4,
        # Tansu holds the first JoinGroup for half the session timeout.
        "session_timeout_s": 3.0,
        "heartbeat_interval_s": 0.5,
        "commit_interval_s": 0.5,
        "publish_interval_s": 1.0,
        "training_rate": 0.0,
        # Tansu's end offsets miss the tail of a partition's last batch (table recovery).
        "single_record_batches": True,
        "log_level": "info",
        "engine": engine or EngineConfig(max_lateness_hours=24 * 365.0),
    }
    values.update(overrides)
    return Settings(**values)


class WorkerProc(WorkerProcess):
    """``segflow worker`` in a child process, with its own web port and log file."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.port = free_port()
        super().__init__(settings.model_copy(update={"web_port": self.port}), log_path)

    def start(self) -> WorkerProc:  # type: ignore[override]
        super().start()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stats(self) -> dict[str, Any] | None:
        return fetch_stats(self.port, token=self.settings.web_token) if self.alive() else None

    def assignment(self, topic: str) -> set[int]:
        return assigned(self.stats(), topic)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S, every: float = 0.25) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def wait_for_split(
    a: WorkerProc, b: WorkerProc, topic: str, partitions: int = 4, disjoint: bool = True
) -> None:
    """Until both workers own partitions of ``topic`` and together all ``partitions``
    (``disjoint``: and none twice); AssertionError with their stats if that never comes."""

    def split() -> bool:
        mine, theirs = a.assignment(topic), b.assignment(topic)
        shared = disjoint and bool(mine & theirs)
        return bool(mine) and bool(theirs) and not shared and len(mine | theirs) == partitions

    assert wait_until(split), (a.stats(), b.stats())


def prepare(settings: Settings) -> None:
    """Create the test's topics."""
    create_topics(settings)


def producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)


def send_events(
    settings: Settings, events: Iterable[BaseEvent], rate: float = 0.0
) -> dict[str, Counter[str]]:
    """Produce ``events`` to their input topics (``rate`` per second, 0: at once);
    return the sent counts per customer and type."""
    events = list(events)
    produce_events(settings, events, rate=rate)
    sent: dict[str, Counter[str]] = {}
    for event in events:
        sent.setdefault(event.profile_key, Counter())[event.kind] += 1
    return sent


class TopicReader:
    """Reads every partition of a topic from the beginning, incrementally (no group)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        partitions = None
        deadline = time.monotonic() + 30
        while not partitions and time.monotonic() < deadline:
            partitions = self.consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.2)
        assert partitions, f"topic {topic} not found"
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.records: list[Any] = []

    def poll(self, timeout_ms: int = 200) -> int:
        """Read what is available; return how many new records."""
        batches = self.consumer.poll(timeout_ms=timeout_ms, max_records=10_000)
        new = 0
        for records in batches.values():
            self.records.extend(records)
            new += len(records)
        return new

    def drain(self, idle_s: float = 1.5) -> list[Any]:
        """Read until nothing new arrives for ``idle_s``."""
        last = time.monotonic()
        while time.monotonic() - last < idle_s:
            if self.poll():
                last = time.monotonic()
        return self.records

    def close(self) -> None:
        self.consumer.close()


class ProfileReader(TopicReader):
    """The profile table as its changelog says (the latest value per customer)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, settings.profiles_changelog)
        self.profiles: dict[str, Profile] = {}

    def poll(self, timeout_ms: int = 200) -> int:
        before = len(self.records)
        new = super().poll(timeout_ms)
        for record in self.records[before:]:
            if record.value is not None:
                self.profiles[record.key.decode()] = Profile.from_json(record.value)
            else:  # a tombstone: the profile was removed
                self.profiles.pop(record.key.decode(), None)
        return new

    def counts(self) -> dict[str, Counter[str]]:
        return {cid: Counter(p.event_counts) for cid, p in self.profiles.items()}

    def wait_for_counts(self, expected: dict[str, Counter[str]], timeout: float = WAIT_S) -> bool:
        """Until every customer's lifetime counts equal ``expected`` (or timeout)."""

        def done() -> bool:
            self.poll()
            return self.counts() == expected

        return wait_until(done, timeout=timeout, every=0.0)


def missing_and_extra(
    expected: dict[str, Counter[str]], got: dict[str, Counter[str]]
) -> tuple[int, int]:
    """Events missing from, and extra in, ``got`` (summed over customers and types)."""
    missing = extra = 0
    for cid in set(expected) | set(got):
        want, have = expected.get(cid, Counter()), got.get(cid, Counter())
        missing += sum((want - have).values())
        extra += sum((have - want).values())
    return missing, extra


def processes_with_marker(marker: str) -> list[int]:
    """PIDs of live processes whose environment contains ``marker`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            status = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in environ and status != "Z":
            found.append(int(entry.name))
    return found


def get(port: int, path: str) -> tuple[int, bytes]:
    """``GET path`` on a local web port: the status and body (0 when nobody answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return 0, b""


def render(where: int | str, profile: Path) -> str:
    """The DOM headless Chromium makes of a page after 5 s of virtual time (scripts run,
    polls answered): ``/`` on a local port, or a whole URL."""
    url = where if isinstance(where, str) else f"http://127.0.0.1:{where}/"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def traffic(prefix: str, customers: int, per_customer: int, first: int = 0) -> list[BaseEvent]:
    """Simple keyed traffic: odd customers click the pricing page, even ones open e-mails,
    ``per_customer`` events each, every five hours from 2026-03-02 (event ids from
    ``first``)."""
    start = datetime(2026, 3, 2, tzinfo=UTC)
    events: list[BaseEvent] = []
    for c in range(customers):
        cid = f"{prefix}-{c:03d}"
        for n in range(first, first + per_customer):
            at = start + timedelta(hours=c % 7 + 5 * n)
            if c % 2:
                events.append(ClickEvent(event_id=f"{cid}-{n}", customer_id=cid, occurred_at=at,
                                         url="https://x/pricing"))  # fmt: skip
            else:
                events.append(EmailEvent(event_id=f"{cid}-{n}", customer_id=cid, occurred_at=at,
                                         campaign_id="k", action="open"))  # fmt: skip
    return events
