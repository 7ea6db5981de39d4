"""Run one segflow worker in this process (what ``segflow worker`` does)."""

from __future__ import annotations

import gc
import sys
from typing import NoReturn

import faust

from segflow.models.errors import ConfigError

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


class _Worker(faust.Worker):
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
