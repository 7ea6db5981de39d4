"""What every ``segflow`` subcommand shares: exit codes, one-line errors, the parser
class, the ``--broker`` option, settings from the environment and the broker check.

A command raises :class:`UsageError` (a bad argument: exit 2), a
:class:`~segflow.models.errors.ConfigError` or
:class:`~segflow.models.errors.RulesError` (a bad setting or rules file: exit 2),
:class:`BrokerUnavailable` (exit 1) or another
:class:`~segflow.streams.errors.CommandError` (exit 1); :func:`run_command` turns
each into one line on stderr and its exit code, so no traceback reaches the user.

>>> run_command(lambda args: 0, argparse.Namespace())
0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from segflow.models.errors import ConfigError, RulesError

from .errors import CommandError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: How long commands wait for the broker to answer (a worker waits longer).
BROKER_TIMEOUT_S = 5.0
WORKER_BROKER_TIMEOUT_S = 10.0

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """A bad command line or setting: reported as one line, exit code 2."""


class BrokerUnavailable(CommandError):
    """The broker cannot be reached: one line, exit code 1."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are a :class:`UsageError` (one line, exit 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def add_broker(parser: argparse.ArgumentParser, purpose: str = "") -> None:
    """The ``--broker HOST:PORT`` option (``purpose`` prefixes its help)."""
    parser.add_argument(
        "--broker",
        metavar="HOST:PORT",
        help=f"{purpose}Kafka bootstrap servers (env SEGFLOW_BROKER; default localhost:9092)",
    )


def settings_from(args: argparse.Namespace, **extra: Any) -> Any:
    """The worker settings: ``SEGFLOW_*`` from the environment, ``--broker`` and ``extra``
    (options given on the command line; None leaves a setting to the environment)."""
    from .settings import load_settings

    return load_settings(broker=getattr(args, "broker", None), **extra)


def check_rules(settings: Any) -> None:
    """Read the rules file the engine settings name (raises :class:`RulesError`, one
    line): a command that runs the engine checks it before it touches the broker."""
    from segflow.models.model import load_configured_rules

    load_configured_rules(settings.engine)


def require_broker(settings: Any, timeout: float | None = None) -> None:
    """Raise :class:`BrokerUnavailable` unless the broker answers within ``timeout`` s
    (default :data:`BROKER_TIMEOUT_S`, read at call time)."""
    from .broker import wait_for_broker

    timeout = BROKER_TIMEOUT_S if timeout is None else timeout
    if not wait_for_broker(settings.bootstrap_servers, timeout):
        raise BrokerUnavailable(f"{settings.bootstrap_servers} (no answer within {timeout:g} s)")


def run_command(handler: Handler, args: argparse.Namespace) -> int:
    """Run ``handler(args)``; every expected failure is one line on stderr and an exit code."""
    try:
        return handler(args)
    except UsageError as error:
        print(str(error), file=sys.stderr)
        return EXIT_USAGE
    except (ConfigError, RulesError) as error:
        print(f"segflow: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BrokerUnavailable as error:
        print(f"segflow: cannot reach the broker at {error}", file=sys.stderr)
        return EXIT_FAILURE
    except CommandError as error:
        print(f"segflow: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
