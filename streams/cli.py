"""The ``segflow`` command: worker, demo, simulate, tail, topics create, replay.

Settings come from ``SEGFLOW_*`` environment variables; options given on the
command line override them. Each command is added by a function here (replay by
:mod:`.replay`) and run through :func:`.cli_common.run_command`: a bad argument or
setting is answered with one line on stderr and exit code 2; an unreachable broker
with one line and exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from segflow.models.errors import ConfigError, FirstError

from .argtypes import non_negative_float, port, positive_float, positive_int
from .audience_cli import add_export_parser
from .cli_common import (
    EXIT_OK,
    EXIT_USAGE,
    WORKER_BROKER_TIMEOUT_S,
    BrokerUnavailable,
    Parser,
    UsageError,
    add_broker,
    check_rules,
    require_broker,
    run_command,
    settings_from,
)
from .contract import add_schemas_parser
from .erase import add_erase_parser
from .replay import add_replay_parser
from .validate import add_validate_parser
from .webhooks import add_webhooks_parser


def _add_simulation(parser: argparse.ArgumentParser, *, customers: int, rate: float) -> None:
    group = parser.add_argument_group("simulated traffic")
    group.add_argument("--customers", type=positive_int, default=customers, help="(%(default)s)")
    group.add_argument(
        "--days", type=positive_float, default=60.0, help="simulated days (%(default)s)"
    )
    group.add_argument(
        "--rate",
        type=non_negative_float,
        default=rate,
        help="events per second, 0 for as fast as possible (%(default)s)",
    )
    group.add_argument("--seed", type=int, default=7, help="(%(default)s)")
    group.add_argument(
        "--drift-fraction",
        type=non_negative_float,
        default=0.2,
        help="share of customers that switch persona once (%(default)s)",
    )
    group.add_argument(
        "--dormant-share",
        type=non_negative_float,
        default=0.3,
        help="share of the switchers that go dormant (%(default)s)",
    )
    group.add_argument(
        "--warmup-days",
        type=non_negative_float,
        default=7.0,
        help="no switch before this simulated day (%(default)s)",
    )
    group.add_argument(
        "--settle-days",
        type=non_negative_float,
        default=7.0,
        help="no switch in the last days (%(default)s)",
    )


def _add_worker(commands: Any) -> None:
    worker = commands.add_parser(
        "worker",
        help="run a worker (joins the consumer group; run several to scale out)",
        description="Run a segflow worker until Ctrl-C or SIGTERM. Creates missing topics.",
    )
    add_broker(worker)
    worker.add_argument("--store", choices=["rocksdb://", "memory://"], help="profile store")
    worker.add_argument(
        "--data-dir", help="state directory (one per worker on a host; env SEGFLOW_DATA_DIR)"
    )
    worker.add_argument("--web-port", type=port, help="web port for /metrics, 0 disables")
    worker.add_argument("--partitions", type=positive_int, help="partitions of new topics")
    worker.add_argument(
        "--log-level", choices=["debug", "info", "warn", "error", "critical"], help="(warn)"
    )
    worker.add_argument(
        "--no-create-topics", action="store_true", help="do not create missing topics"
    )
    worker.set_defaults(handler=cmd_worker)


def _add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="local broker + worker + simulator with a live view",
        description="Start a local Tansu broker (unless --broker or SEGFLOW_BROKER is set), "
        "create the topics, run a worker and the simulator, and show segment sizes, the "
        "latest changes and events/s until Ctrl-C or --duration. Stops all it started.",
    )
    add_broker(demo)
    demo.add_argument(
        "--duration", type=positive_float, help="stop after this many seconds (default: Ctrl-C)"
    )
    _add_simulation(demo, customers=300, rate=500.0)
    demo.set_defaults(handler=cmd_demo)


def _add_simulate(commands: Any) -> None:
    simulate = commands.add_parser(
        "simulate",
        help="produce simulated traffic to the input topics",
        description="Produce simulator traffic (events in time order, keyed by customer).",
    )
    add_broker(simulate)
    simulate.add_argument("--duration", type=positive_float, help="stop after this many seconds")
    simulate.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_simulation(simulate, customers=1000, rate=1000.0)
    simulate.set_defaults(handler=cmd_simulate)


def _add_tail(commands: Any) -> None:
    tail = commands.add_parser(
        "tail",
        help="print segment changes as they happen",
        description="Print the changes on segment-changes (from the beginning) readably.",
    )
    add_broker(tail)
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.add_argument("--customer", help="only this customer id")
    tail.add_argument("--segment", help="only changes from/to this segment id or name part")
    tail.add_argument(
        "--new", action="store_true", help="only changes from now on, not from the beginning"
    )
    tail.add_argument(
        "--from-start",
        action="store_true",
        help="with --segment ID: its current members first (segment-membership), then "
        "the changes from then on",
    )
    tail.add_argument(
        "--idle-timeout",
        type=positive_float,
        help="exit after this many seconds without a change (default: run until Ctrl-C)",
    )
    tail.add_argument("--max", type=positive_int, help="exit after printing this many")
    tail.set_defaults(handler=cmd_tail)


def _add_topics(commands: Any) -> None:
    topics = commands.add_parser(
        "topics", help="manage topics", description="Manage segflow's topics."
    )
    topic_commands = topics.add_subparsers(
        dest="topics_command", metavar="ACTION", parser_class=Parser
    )
    create = topic_commands.add_parser(
        "create",
        help="create all topics (idempotent)",
        description="Create every segflow topic with its partitions and configs.",
    )
    add_broker(create)
    create.add_argument("--partitions", type=positive_int, help="partitions (env; default 4)")
    create.set_defaults(handler=cmd_topics_create)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``segflow``: each command sets its ``handler``."""
    parser = Parser(
        prog="segflow",
        description="Live behavioral customer segmentation on Kafka.",
        epilog="Settings: SEGFLOW_* environment variables (e.g. SEGFLOW_BROKER, "
        "SEGFLOW_PARTITIONS, SEGFLOW_ENGINE__N_SEGMENTS); options override them.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for add in (_add_worker, _add_demo, _add_simulate, _add_tail, _add_topics):
        add(commands)
    add_replay_parser(commands)
    add_erase_parser(commands)
    add_export_parser(commands)
    add_webhooks_parser(commands)
    add_schemas_parser(commands)
    add_validate_parser(commands)
    return parser


def _simulation(args: argparse.Namespace) -> Any:
    from segflow.sources.simulator import SimulationConfig

    try:
        return SimulationConfig(
            customers=args.customers,
            days=args.days,
            seed=args.seed,
            drift_fraction=args.drift_fraction,
            dormant_share=args.dormant_share,
            warmup_days=args.warmup_days,
            settle_days=args.settle_days,
        )
    except ValidationError as error:
        first = FirstError.of(error)
        raise UsageError("segflow: " + first.line(first.path)) from None


def cmd_worker(args: argparse.Namespace) -> int:
    from .worker import run_worker

    settings = settings_from(
        args,
        store=args.store,
        data_dir=args.data_dir,
        web_port=args.web_port,
        partitions=args.partitions,
        log_level=args.log_level,
    )
    check_rules(settings)
    require_broker(settings, WORKER_BROKER_TIMEOUT_S)
    run_worker(settings, create=not args.no_create_topics)


def cmd_topics_create(args: argparse.Namespace) -> int:
    from .topics import check_copartitioned, create_topics

    settings = settings_from(args, partitions=args.partitions)
    require_broker(settings)
    try:
        statuses = create_topics(settings)
    except Exception as error:
        raise BrokerUnavailable(f"{settings.bootstrap_servers}: {error}") from None
    for status in statuses:
        state = "created" if status.created else "exists"
        config = ",".join(f"{k}={v}" for k, v in status.spec.config.items()) or "-"
        warning = f"  !! {status.problem}" if status.problem else ""
        print(
            f"{status.spec.name:<32} {status.partitions:>3} partitions  {state:<8} "
            f"{config:<24} {status.spec.purpose}{warning}"
        )
    problem = check_copartitioned(statuses, settings)
    if problem:
        raise ConfigError(problem)
    return EXIT_OK


def _progress_bar(total_days: float, start: Any) -> Callable[[Any], None]:
    def show(progress: Any) -> None:
        day = 0.0
        if progress.last_event_at is not None:
            day = (progress.last_event_at - start).total_seconds() / 86_400.0
        share = min(1.0, max(0.0, day / total_days))
        bar = "#" * int(30 * share) + "-" * (30 - int(30 * share))
        sys.stderr.write(
            f"\r[{bar}] day {day:5.1f}/{total_days:g}  {progress.sent:,} events  "
            f"{progress.rate():,.0f}/s "
        )
        sys.stderr.flush()

    return show


def cmd_simulate(args: argparse.Namespace) -> int:
    from segflow.sources.simulator import iter_events

    from .producer import produce_events
    from .worker import ensure_topics

    settings = settings_from(args)
    config = _simulation(args)
    require_broker(settings)
    ensure_topics(settings)
    show_progress = not args.no_progress and sys.stderr.isatty()
    tick = _progress_bar(config.days, config.start) if show_progress else None
    try:
        progress = produce_events(
            settings,
            iter_events(config),
            rate=args.rate,
            duration=args.duration,
            on_tick=tick,
        )
    except KeyboardInterrupt:
        if show_progress:
            sys.stderr.write("\n")
        print("segflow simulate: interrupted", file=sys.stderr)
        return 130
    if show_progress:
        sys.stderr.write("\n")
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(progress.by_kind.items()))
    print(f"sent {progress.sent:,} events ({kinds}) to {settings.bootstrap_servers}")
    return EXIT_OK


def cmd_tail(args: argparse.Namespace) -> int:
    from .audience_cli import from_start
    from .tail import change_json, format_change, iter_changes, matches

    settings = settings_from(args)
    require_broker(settings)
    printed = 0

    def invalid(raw: bytes) -> None:
        print(f"(not a segment change: {raw[:120]!r})", file=sys.stderr)

    if args.from_start and args.segment is None:
        raise UsageError("segflow tail: --from-start needs --segment ID")
    try:
        if args.from_start:
            changes = from_start(settings, args.segment, args.json, args.idle_timeout, invalid)
        else:
            changes = iter_changes(
                settings,
                from_beginning=not args.new,
                idle_timeout=args.idle_timeout,
                on_invalid=invalid,
            )
        for change in changes:
            if not matches(change, args.customer, args.segment):
                continue
            print(change_json(change) if args.json else format_change(change), flush=True)
            printed += 1
            if args.max is not None and printed >= args.max:
                break
    except KeyboardInterrupt:
        return EXIT_OK
    except Exception as error:
        if type(error).__module__.startswith("kafka"):
            raise BrokerUnavailable(f"{settings.bootstrap_servers}: {error}") from None
        raise
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from segflow.models.config import EngineConfig

    from .demo import DEMO_ENGINE, DemoOptions, run_demo

    local = args.broker is None and not os.environ.get("SEGFLOW_BROKER")
    settings = settings_from(
        args,
        store="memory://",
        session_timeout_s=6.0,
        heartbeat_interval_s=1.0,
        publish_interval_s=2.0,
    )
    engine_updates = {
        name: value
        for name, value in DEMO_ENGINE.items()
        if name in EngineConfig.model_fields and f"SEGFLOW_ENGINE__{name.upper()}" not in os.environ
    }
    settings = settings.model_copy(
        update={"engine": settings.engine.model_copy(update=engine_updates)}
    )
    check_rules(settings)
    if local:
        settings = settings.model_copy(update={"single_record_batches": True})
    else:
        require_broker(settings)
    options = DemoOptions(
        duration=args.duration,
        simulation=_simulation(args),
        rate=args.rate,
        local_broker=local,
    )
    return run_demo(options, settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``segflow`` console script."""
    parser = build_parser()

    def dispatch(args: argparse.Namespace) -> int:
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        if args.command == "topics" and args.topics_command is None:
            raise UsageError("segflow topics: an action is required: create (see --help)")
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)

    def parse_and_run(_: argparse.Namespace) -> int:
        return dispatch(parser.parse_args(argv))

    return run_command(parse_and_run, argparse.Namespace())


if __name__ == "__main__":
    sys.exit(main())
