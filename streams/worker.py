"""Run one segflow worker in this process (what ``segflow worker`` does)."""

from __future__ import annotations

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


def run_worker(settings: Settings, *, create: bool = True) -> NoReturn:
    """Start a worker and run it until SIGINT/SIGTERM; exits the process."""
    if create:
        ensure_topics(settings)
    app = create_app(settings)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level,
        quiet=True,
        stdout=sys.stdout,
        stderr=sys.stderr,
    )
    worker.spinner = None  # no terminal spinner (it writes escape codes to logs)
    worker.execute_from_commandline()
    raise SystemExit(0)  # pragma: no cover - execute_from_commandline exits
