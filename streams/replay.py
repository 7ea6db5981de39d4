"""``segflow replay DATASET``: stream a real public dataset into segflow.

``DATASET`` is a named public dataset, or ``FILE.jsonl[.gz]``: a user's own export
(:mod:`segflow.sources.export`: events in the input contract with a ``type`` field, any
order, sorted by event time in bounded memory; invalid lines reported with their line
numbers, repeated events skipped as duplicates).

Two modes:

* ``--offline``: the events go through the in-memory runner
  (:func:`segflow.models.runner.replay`: step, learner and inactivity sweep, as a
  worker and the trainer do together) and the segment changes are written as JSON
  lines (as on ``segment-changes``) to ``--output`` (default: stdout). The engine
  settings come from ``SEGFLOW_ENGINE__*`` like a worker's.
* otherwise: the events are produced to the input topics (clicks, downloads, emails,
  purchases; the JSON of :func:`~segflow.models.events.encode_event`, keyed by
  customer id) on ``--broker`` (or ``SEGFLOW_BROKER``), for running workers.

``--speed X`` replays X seconds of event time per second of wall time (86400: a
day a second); 0, the default, is as fast as possible. ``--limit N`` reads only the
first N data rows. At the end a summary says how many rows, events and customers
there were, and which rows were skipped and why (malformed rows with their line
numbers). A bad argument is one line on stderr and exit code 2; an unreachable
broker or an unreadable file halfway through, one line and exit code 1.

The command lives here; ``streams/cli.py`` adds it with :func:`add_replay_parser`
and runs :func:`run_replay` with the plumbing every command shares
(:mod:`.cli_common`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from segflow.models.changes import SegmentChange
from segflow.models.errors import ConfigError
from segflow.models.events import Event
from segflow.sources.datasets import DATASETS, DatasetStream, default_path, open_dataset

from .argtypes import non_negative_float, positive_int
from .cli_common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    add_broker,
    require_broker,
    settings_from,
)
from .errors import CommandError

#: Environment variable naming the folder of the dataset files. (Not ``SEGFLOW_DATA_DIR``:
#: that one is the worker's RocksDB state directory.)
DATASETS_DIR_ENV = "SEGFLOW_DATASETS_DIR"
PROG = "segflow replay"
#: Malformed rows listed in the summary (all are counted).
SHOWN_PROBLEMS = 10
#: File names ``segflow replay`` reads as a JSON-lines export.
EXPORT_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")
#: Events between two progress lines of an offline replay.
TICK_EVENTS = 10_000


def _usage(message: str) -> UsageError:
    return UsageError(f"{PROG}: {message}")


def datasets_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the dataset files are: ``$SEGFLOW_DATASETS_DIR``, else ``../shared/data``
    from the current directory (a checkout's root, beside the shared folder)."""
    configured = environ.get(DATASETS_DIR_ENV)
    return Path(configured) if configured else Path("..") / "shared" / "data"


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the arguments of ``segflow replay`` to ``parser``."""
    parser.add_argument(
        "dataset",
        metavar="DATASET",
        help="one of: " + ", ".join(sorted(DATASETS)) + "; or FILE.jsonl[.gz], your own "
        "export (events in the input contract with a type field, any order)",
    )
    parser.add_argument(
        "--path",
        type=Path,
        help=f"the dataset's .csv.gz (default: its file in ${DATASETS_DIR_ENV}, "
        "else in ../shared/data from the current directory)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="run the in-memory engine here and write the segment changes (no Kafka)",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="with --offline: write the changes as JSON lines to FILE (default: stdout)",
    )
    add_broker(parser, "without --offline: ")
    parser.add_argument(
        "--speed",
        type=non_negative_float,
        default=0.0,
        help="seconds of event time per wall-clock second; 0: as fast as possible (%(default)s)",
    )
    parser.add_argument(
        "--limit", type=positive_int, metavar="N", help="read only the first N data rows"
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=7,
        help="seed of the synthetic times of cdnow and hillstrom (%(default)s)",
    )
    return parser


def add_replay_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``replay`` command to ``segflow``'s subparsers (``add_subparsers()``)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="replay a real dataset (online-retail, cdnow, hillstrom)",
        description="Stream a real public dataset into the input topics, or with --offline "
        "through the in-memory engine, writing the segment changes as JSON lines.",
        epilog="Datasets: online-retail (UCI Online Retail: a purchase per invoice, "
        "cancellations as refunds, rows without customer skipped), cdnow (CDNOW: a purchase "
        "per row, synthetic time of day), hillstrom (Hillstrom e-mail test: e-mail sent, "
        "visit click, conversion purchase; synthetic times in the 14-day window). "
        "Engine settings: SEGFLOW_ENGINE__* (e.g. SEGFLOW_ENGINE__HALF_LIFE_DAYS=30).",
    )
    parser.set_defaults(handler=run_replay)
    return configure_parser(parser)


def paced(
    events: Iterable[Event],
    speed: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Event]:
    """``events`` at ``speed`` seconds of event time per second of ``clock``; 0: no waiting.

    The first event goes at once; each next one when its event time, divided by
    ``speed``, has passed on the clock. An event earlier than one before it goes at once.

    >>> from datetime import datetime, UTC
    >>> from segflow.models.events import ClickEvent
    >>> def click(minute: int) -> ClickEvent:
    ...     at = datetime(2026, 1, 1, 0, minute, tzinfo=UTC)
    ...     return ClickEvent(event_id=str(minute), customer_id="c", occurred_at=at, url="/")
    >>> now = [0.0]
    >>> waits = []
    >>> def sleep(s: float) -> None:
    ...     waits.append(s); now[0] += s
    >>> _ = list(paced([click(0), click(1), click(3)], 60.0, clock=lambda: now[0], sleep=sleep))
    >>> waits
    [1.0, 2.0]
    """
    if speed <= 0:
        yield from events
        return
    origin: tuple[float, float] | None = None
    for event in events:
        t = event.occurred_at.timestamp()
        if origin is None:
            origin = (t, clock())
        wait = origin[1] + (t - origin[0]) / speed - clock()
        if wait > 0:
            sleep(wait)
        yield event


class _Tally:
    """Counts the events that pass through, by type and customer (``show``: a progress
    line on stderr every :data:`TICK_EVENTS`)."""

    def __init__(self, show: bool = False) -> None:
        self.kinds: Counter[str] = Counter()
        self.customers: set[str] = set()
        self.show = show

    def count(self, events: Iterable[Event]) -> Iterator[Event]:
        for n, event in enumerate(events, start=1):
            self.kinds[event.kind] += 1
            self.customers.add(event.profile_key)
            if self.show and n % TICK_EVENTS == 0:
                at = event.occurred_at.strftime("%Y-%m-%d %H:%M")
                sys.stderr.write(f"\r{n:,} events through the engine, event time {at} ")
                sys.stderr.flush()
            yield event

    @property
    def events(self) -> int:
        return sum(self.kinds.values())


def _open_stream(args: argparse.Namespace) -> DatasetStream:
    if args.dataset not in DATASETS:
        return _open_export(args)
    try:
        path = args.path or default_path(args.dataset, datasets_folder())
        stream = open_dataset(args.dataset, path, seed=args.seed, limit=args.limit)
    except FileNotFoundError as error:
        hint = "" if args.path else f" (give --path, or set {DATASETS_DIR_ENV})"
        raise _usage(f"{error}{hint}") from None
    try:
        stream.check()
    except ValueError as error:
        raise _usage(str(error)) from None
    return stream


def _open_export(args: argparse.Namespace) -> DatasetStream:
    """A user's JSON-lines export (``segflow.sources.export``), sorted by event time."""
    from segflow.sources.export import export_stream

    path = Path(args.dataset)
    if not any(path.name.endswith(end) for end in EXPORT_SUFFIXES):
        known = ", ".join(sorted(DATASETS))
        raise _usage(f"{args.dataset!r} is no dataset ({known}) nor a .jsonl[.gz] file")
    if args.path is not None:
        raise _usage("--path is for the named datasets (give the export file itself)")
    if not path.is_file():
        raise _usage(f"{path}: no such file")
    stream = export_stream(path, limit=args.limit)
    try:
        stream.check()
    except ValueError as error:
        raise _usage(str(error)) from None
    return stream


def _summary(
    stream: DatasetStream, tally: _Tally, seconds: float, out: IO[str], interrupted: bool = False
) -> None:
    report = stream.report
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(tally.kinds.items())) or "none"
    state = "interrupted after" if interrupted else "read"
    print(
        f"{stream.name}: {state} {report.rows:,} rows of {stream.path.name}; "
        f"{tally.events:,} events ({kinds}) for {len(tally.customers):,} customers "
        f"in {seconds:.1f} s",
        file=out,
    )
    if report.skipped:
        reasons = ", ".join(f"{reason} {n:,}" for reason, n in report.skipped.most_common())
        print(f"skipped {report.skipped_rows:,} rows: {reasons}", file=out)
    else:
        print("skipped 0 rows", file=out)
    for problem in report.problems[:SHOWN_PROBLEMS]:
        print(f"  {problem}", file=out)
    if report.malformed_rows > SHOWN_PROBLEMS:
        print(f"  ... and {report.malformed_rows - SHOWN_PROBLEMS:,} more malformed", file=out)
    if report.out_of_order:
        print(f"{report.out_of_order:,} events came earlier than one before them", file=out)


def _offline(args: argparse.Namespace, stream: DatasetStream) -> int:
    from segflow.models.runner import replay

    config = settings_from(args).engine
    changes: Counter[str] = Counter()
    tally = _Tally(show=sys.stderr.isatty())
    with ExitStack() as stack:
        if args.output in (None, "-"):
            sink, info = sys.stdout, sys.stderr
        else:
            try:
                sink = stack.enter_context(Path(args.output).open("w", encoding="utf-8"))
            except OSError as error:
                raise _usage(f"--output: cannot write {args.output}: {error.strerror}") from None
            info = sys.stdout

        def write(change: SegmentChange) -> None:
            sink.write(change.model_dump_json())
            sink.write("\n")
            changes[change.kind] += 1

        started = time.monotonic()
        interrupted = False
        try:
            replay(paced(tally.count(stream), args.speed), config, on_change=write)
        except KeyboardInterrupt:
            interrupted = True
        except (OSError, EOFError, UnicodeDecodeError, ValueError) as error:
            sink.flush()
            raise CommandError(f"reading {stream.path}: {error}") from None
        sink.flush()
    if tally.show:
        sys.stderr.write("\n")
    _summary(stream, tally, time.monotonic() - started, info, interrupted)
    where = "stdout" if args.output in (None, "-") else args.output
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(changes.items()))
    total = sum(changes.values())
    print(f"{total:,} segment changes{f' ({kinds})' if kinds else ''} -> {where}", file=info)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _online(settings: Any, args: argparse.Namespace, stream: DatasetStream) -> int:
    from .producer import ProduceProgress, produce_events
    from .worker import ensure_topics

    require_broker(settings)
    try:
        ensure_topics(settings)
    except ConfigError as error:
        raise CommandError(str(error)) from None
    tally = _Tally()
    progress = ProduceProgress()
    show = sys.stderr.isatty()

    def tick(p: ProduceProgress) -> None:
        at = p.last_event_at.strftime("%Y-%m-%d %H:%M") if p.last_event_at else "-"
        sys.stderr.write(f"\r{p.sent:,} events sent, event time {at}, {p.rate():,.0f}/s ")
        sys.stderr.flush()

    started = time.monotonic()
    interrupted = False
    try:
        produce_events(
            settings,
            paced(tally.count(stream), args.speed),
            progress=progress,
            on_tick=tick if show else None,
        )
    except KeyboardInterrupt:
        interrupted = True
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as error:
        raise CommandError(f"reading {stream.path}: {error}") from None
    except Exception as error:
        if type(error).__module__.startswith("kafka"):
            raise CommandError(f"producing to {settings.bootstrap_servers}: {error}") from None
        raise
    if show:
        sys.stderr.write("\n")
    _summary(stream, tally, time.monotonic() - started, sys.stdout, interrupted)
    topics = settings.topics.inputs()
    used = ", ".join(sorted(topics[kind] for kind in tally.kinds))
    print(
        f"{progress.sent:,} events sent to {settings.bootstrap_servers} ({used or 'no topic'})",
        file=sys.stdout,
    )
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def run_replay(args: argparse.Namespace) -> int:
    """Run ``segflow replay`` with parsed ``args``; its exit code. Bad arguments raise
    :class:`~.cli_common.UsageError`, what it cannot do a
    :class:`~.errors.CommandError` (one line each, see :func:`~.cli_common.run_command`)."""
    if args.offline and args.broker:
        raise _usage("--broker and --offline exclude each other")
    if args.output and not args.offline:
        raise _usage("--output needs --offline (changes are written by the workers)")
    if args.offline:
        return _offline(args, _open_stream(args))
    return _online(settings_from(args), args, _open_stream(args))
