"""Run one segflow worker in this process (what ``segflow worker`` does)."""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
from typing import NoReturn

import faust

from segflow.models.errors import ConfigError

from . import log_limits
from .app import create_app
from .settings import Settings
from .topics import check_copartitioned, create_topics


def ensure_topics(settings: Settings) -> None:
    """Create missing topics; raise :class:`ConfigError` if existing ones cannot work."""
    try:
        statuses = create_topics(settings)
    except Exception as error:
        raise ConfigError(
            f"cannot create topics on {settings.bootstrap_servers}: {error}"
        ) from None
    problem = check_copartitioned(statuses, settings)
    if problem:
        raise ConfigError(problem)


#: Longest a worker may take to stop (on SIGTERM, SIGINT or a crash) before it exits
#: anyway: a worker whose broker is gone would otherwise wait on it for minutes.
STOP_DEADLINE_S = 12.0
#: Exit code of a worker that had to be stopped by the deadline.
EXIT_STOP_DEADLINE = 1

log = logging.getLogger("segflow.streams")


def _exit_after(deadline_s: float) -> threading.Timer:
    """A daemon timer that ends the process after ``deadline_s`` (cancel it to spare it)."""

    def hard_exit() -> None:
        log.critical("the worker did not stop within %.0f s; exiting", deadline_s)
        logging.shutdown()
        os._exit(EXIT_STOP_DEADLINE)

    timer = threading.Timer(deadline_s, hard_exit)
    timer.daemon = True
    timer.start()
    return timer


class _Worker(faust.Worker):
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        log_limits.install(logger, level)

    async def on_stop(self) -> None:
        # Stopping waits on the broker (commits, the producer's flush): bound it.
        _exit_after(STOP_DEADLINE_S)
        await super().on_stop()

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        # What start-up built (modules, Faust's services, recovered state) lives as long
        # as the worker: keep it out of the collector's full passes, which otherwise
        # walk it all and pause the event loop for tens of milliseconds each time.
        gc.collect()
        gc.freeze()


def run_worker(settings: Settings, *, create: bool = True) -> NoReturn:
    """Start a worker and run it until SIGINT/SIGTERM; exits the process."""
    if create:
        ensure_topics(settings)
    app = create_app(settings)
    worker = _Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )
    worker.spinner = None  # no terminal spinner (it writes escape codes to logs)
    worker.execute_from_commandline()
    raise SystemExit(0)  # pragma: no cover - execute_from_commandline exits
