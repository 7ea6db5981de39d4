"""``segflow demo``: broker (unless given), topics, a worker, the simulator and a live view.

Everything the demo starts it stops, in reverse order, on Ctrl-C, at ``--duration``
and on errors: the simulator and view threads, the worker process (SIGTERM, then
SIGKILL) and the local broker. Child processes run in their own session (a Ctrl-C
reaches only the demo, which then stops them in order) and get SIGTERM from the
kernel if the demo itself dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
from pydantic import SecretStr

from segflow.models.changes import SegmentChange
from segflow.sources.simulator import SimulationConfig, iter_events

from .broker import LocalBroker, free_port
from .errors import CommandError
from .ops_pages import STATS_PATH
from .procs import parent_death_signal, stop_process
from .producer import ProduceProgress, produce_events
from .settings import Settings, child_env
from .tail import iter_changes
from .web_guard import bearer_headers
from .worker import ensure_topics

#: Engine settings that make segments appear within seconds of simulated traffic
#: (applied unless the environment sets them).
DEMO_ENGINE = {"warmup_samples": 200, "warmup_days": 2.0}
WORKER_START_TIMEOUT_S = 90.0


class DemoError(CommandError):
    """The demo could not run (its worker died or did not start): one line, exit 1."""


@dataclass(frozen=True)
class DemoOptions:
    """What ``segflow demo`` was asked for."""

    duration: float | None
    simulation: SimulationConfig
    rate: float
    local_broker: bool
    refresh_s: float = 1.0


class ChangeBoard:
    """Segment sizes and the latest changes, from the ``segment-changes`` stream."""

    def __init__(self, keep: int = 8) -> None:
        self._lock = threading.Lock()
        self.segment_of: dict[str, str | None] = {}
        self.names: dict[str, str] = {}
        self.latest: deque[SegmentChange] = deque(maxlen=keep)
        self.total = 0

    def add(self, change: SegmentChange) -> None:
        with self._lock:
            self.total += 1
            self.latest.append(change)
            if change.kind == "behavioral":
                self.segment_of[change.customer_id] = change.to_segment
                if change.to_segment and change.to_name:
                    self.names[change.to_segment] = change.to_name

    def sizes(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for segment in self.segment_of.values():
                if segment is not None:
                    counts[segment] = counts.get(segment, 0) + 1
            return counts

    def recent(self) -> list[SegmentChange]:
        with self._lock:
            return list(self.latest)


def fetch_stats(
    port: int, timeout: float = 1.0, token: SecretStr | None = None
) -> dict[str, Any] | None:
    """A worker's ``/segflow/stats/`` JSON, or None if it does not answer (``token``: the
    worker's ``SEGFLOW_WEB_TOKEN``)."""
    url = f"http://127.0.0.1:{port}{STATS_PATH}"
    request = urllib.request.Request(url, headers=bearer_headers(token))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            data: dict[str, Any] = orjson.loads(r.read())
            return data
    except Exception:
        return None


def processed(stats: dict[str, Any] | None) -> int:
    """Events the worker took through the step (any outcome)."""
    if not stats:
        return 0
    counts = stats.get("counts", {})
    return sum(v for k, v in counts.items() if k.startswith("events_"))


def assigned(stats: dict[str, Any] | None, topic: str) -> set[int]:
    """The partitions of ``topic`` the worker owns (none when it does not answer)."""
    if not stats:
        return set()
    return set((stats.get("assignment") or {}).get(topic, []))


class WorkerProcess:
    """``segflow worker`` as a child process with its own settings and log file."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self._log: IO[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "segflow.streams.cli", "worker"],
            env=child_env(self.settings),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=parent_death_signal if sys.platform == "linux" else None,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc, grace=15.0)
        if self._log is not None:
            self._log.close()
            self._log = None


def wait_for_worker(worker: WorkerProcess, port: int, timeout: float) -> None:
    """Until the worker has partitions assigned; DemoError if it dies or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive():
            raise DemoError(f"the worker exited: {worker.log_tail()}")
        stats = fetch_stats(port, token=worker.settings.web_token)
        if stats and stats.get("assigned_partitions", 0) > 0:
            return
        time.sleep(0.25)
    raise DemoError(f"the worker did not start within {timeout:g} s: {worker.log_tail()}")


def render(
    *,
    board: ChangeBoard,
    stats: dict[str, Any] | None,
    progress: ProduceProgress,
    rates: tuple[float, float],
    header: str,
) -> str:
    """The live view as text."""
    sent_rate, done_rate = rates
    counts = (stats or {}).get("counts", {})
    model = (stats or {}).get("model", {})
    current: dict[str, str] = model.get("segments") or {}
    names: dict[str, str] = {**board.names, **current}
    sizes = board.sizes()
    lines = [header]
    sim_day = progress.last_event_at.strftime("%Y-%m-%d %H:%M") if progress.last_event_at else "-"
    lines.append(
        f"events  sent {progress.sent:,} ({sent_rate:,.0f}/s)   processed {processed(stats):,} "
        f"({done_rate:,.0f}/s)   dead letters {counts.get('dead_letters', 0):,}   "
        f"changes {board.total:,}   simulated time {sim_day}"
    )
    if model.get("ready"):
        lines.append(
            f"model   snapshot #{model.get('seq', 0)}, learned {model.get('version', 0):,} samples"
        )
    else:
        lines.append(
            f"model   warming up (learned {model.get('version', 0):,} samples, "
            f"snapshot #{model.get('seq', 0)})"
        )
    lines.append("")
    lines.append("segments (customers by their latest behavioral segment)")
    total = sum(sizes.values()) or 1
    shown = set(current) | {segment for segment, count in sizes.items() if count}
    if not shown:
        lines.append("  (none yet)")
    for segment in sorted(shown, key=lambda s: (-sizes.get(s, 0), s)):
        count = sizes.get(segment, 0)
        bar = "#" * round(30 * count / total)
        name = names.get(segment, "")
        lines.append(f"  {segment:<8} {name[:44]:<44} {count:>6,}  {bar}")
    lines.append("")
    lines.append("latest changes")
    recent = board.recent()
    if not recent:
        lines.append("  (none yet)")
    for change in reversed(recent):
        to = _label(change.to_segment, change.to_name, names)[:40]
        was = _label(change.from_segment, change.from_name, names)[:40]
        lines.append(f"  {change.customer_id[:12]:<12} {was} -> {to}  ({change.kind})")
    return "\n".join(lines)


def _label(segment: str | None, name: str | None, names: dict[str, str]) -> str:
    if segment is None:
        return "(none)"
    return name or names.get(segment) or segment


class RateMeter:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._points: deque[tuple[float, int]] = deque()

    def add(self, now: float, total: int) -> float:
        self._points.append((now, total))
        while len(self._points) > 2 and now - self._points[1][0] >= self.window:
            self._points.popleft()
        start, first = self._points[0]
        return (total - first) / (now - start) if now > start else 0.0


class _DemoRun:
    """One run of the demo: what it started (broker, worker, threads) and what it saw."""

    def __init__(self, options: DemoOptions, settings: Settings, out: IO[str]) -> None:
        self.options = options
        self.settings = settings
        self.out = out
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.broker: LocalBroker | None = None
        self.worker: WorkerProcess | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="segflow-demo-"))
        self.board = ChangeBoard()
        self.progress = ProduceProgress()
        self.stats: dict[str, Any] | None = None
        self.started_at: float | None = None

    def start(self, note: Callable[[str], None]) -> WorkerProcess:
        """Start the broker (if local), create the topics, start a worker and wait for it."""
        if self.options.local_broker:
            note("starting a local Tansu broker ...")
            self.broker = LocalBroker(log_path=self.workdir / "tansu.log").start()
            self.settings = self.settings.model_copy(update={"broker": self.broker.url})
        port = free_port()
        # Faust creates its data directory even with the memory store: keep it in ours.
        self.settings = self.settings.model_copy(
            update={"web_port": port, "data_dir": self.workdir / "data"}
        )
        ensure_topics(self.settings)
        note(
            f"broker {self.settings.bootstrap_servers}; starting a worker (log: {self.workdir}) ..."
        )
        worker = self.worker = WorkerProcess(self.settings, self.workdir / "worker.log")
        worker.start()
        wait_for_worker(worker, port, WORKER_START_TIMEOUT_S)
        return worker

    def start_threads(self) -> None:
        """The simulator producing events, and a reader of the changes for the board."""
        settings, options = self.settings, self.options

        def simulate() -> None:
            produce_events(
                settings,
                iter_events(options.simulation),
                rate=options.rate,
                stop=self.stop,
                progress=self.progress,
            )

        def watch() -> None:
            for change in iter_changes(settings, stop=self.stop):
                self.board.add(change)

        for target in (simulate, watch):
            thread = threading.Thread(target=target, name=f"demo-{target.__name__}", daemon=True)
            thread.start()
            self.threads.append(thread)

    def show(self, worker: WorkerProcess) -> None:
        """Redraw the view until the duration is over (or Ctrl-C); the worker must live."""
        started = self.started_at = time.monotonic()
        sent_meter, done_meter = RateMeter(), RateMeter()
        next_print = started
        duration = self.options.duration
        interactive = self.out.isatty()
        while duration is None or time.monotonic() - started < duration:
            now = time.monotonic()
            if not worker.alive():
                raise DemoError(f"the worker exited: {worker.log_tail()}")
            self.stats = self.fetch_stats() or self.stats
            rates = (
                sent_meter.add(now, self.progress.sent),
                done_meter.add(now, processed(self.stats)),
            )
            elapsed = f"{now - started:.0f} s" + (
                f" of {duration:g} s" if duration else " (Ctrl-C to stop)"
            )
            header = f"segflow demo   broker {self.settings.bootstrap_servers}   {elapsed}"
            frame = self.frame(rates, header)
            if interactive:
                self.out.write("\x1b[H\x1b[2J" + frame + "\n")
            elif now >= next_print:
                self.out.write(frame + "\n\n")
                next_print = now + 5.0
            self.out.flush()
            time.sleep(self.options.refresh_s)

    def fetch_stats(self) -> dict[str, Any] | None:
        return fetch_stats(self.settings.web_port, token=self.settings.web_token)

    def frame(self, rates: tuple[float, float], header: str) -> str:
        return render(
            board=self.board, stats=self.stats, progress=self.progress, rates=rates, header=header
        )

    def shut_down(self) -> None:
        """Stop the threads, read the worker's last stats, stop what was started."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)
        worker = self.worker
        final = self.fetch_stats() if worker and worker.alive() else None
        self.stats = final or self.stats
        if worker is not None:
            worker.stop()
        if self.broker is not None:
            self.broker.stop()

    def summary(self, interrupted: bool) -> None:
        """The final view, with average rates over the run; removes the work folder."""
        header = "segflow demo: final state" + (" (interrupted)" if interrupted else "")
        ran = max(time.monotonic() - (self.started_at or time.monotonic()), 1e-6)
        averages = (self.progress.sent / ran, processed(self.stats) / ran)
        self.out.write(self.frame(averages, header) + "\n")
        self.out.flush()
        shutil.rmtree(self.workdir, ignore_errors=True)


def run_demo(
    options: DemoOptions,
    settings: Settings,
    *,
    out: IO[str] = sys.stdout,
    say: Callable[[str], None] | None = None,
) -> int:
    """Run the demo until ``options.duration`` or Ctrl-C; return the exit code."""
    note = say or (lambda text: print(text, file=sys.stderr, flush=True))
    run = _DemoRun(options, settings, out)
    interrupted = False
    try:
        worker = run.start(note)
        note("worker ready; starting the simulator")
        run.start_threads()
        run.show(worker)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        run.shut_down()
    run.summary(interrupted)
    return 0
