"""What every part of a worker shares: its settings, clock and metrics, and the two
ways out of a message that cannot go on (a dead letter, or stopping the worker)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from .deadletters import INGEST, dead_letter, encode_dead_letter
from .metrics import Metrics
from .settings import Settings

log = logging.getLogger("segflow.streams")

Clock = Callable[[], float]


class WorkerBase:
    """The state every part of the worker reads (set by ``Pipeline.__init__``)."""

    app: Any
    settings: Settings
    clock: Clock
    metrics: Metrics
    dead_letters: Any

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), tz=UTC)

    # -- dead letters -----------------------------------------------------------------

    async def send_dead_letter(
        self,
        *,
        origin: tuple[str, int, int],
        key: bytes | None,
        raw: bytes | None,
        error: str,
        reason: str,
        field: str | None = None,
        stage: str = INGEST,
    ) -> None:
        topic, partition, offset = origin
        record = dead_letter(
            source_topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            raw=raw,
            error=error,
            reason=reason,
            field=field,
            received_at=self.clock(),
            stage=stage,
            redact=self.settings.dead_letters.redact,
        )
        await self.send_or_stop(self.dead_letters.send(key=key, value=encode_dead_letter(record)))
        self.metrics.dead_letter(topic, reason, stage)

    async def send_or_stop(self, sending: Awaitable[Any]) -> None:
        """Await ``sending`` (a send, or a coroutine of sends); if it fails, the producer
        is broken: stop the worker rather than lose input (see :meth:`fatal`)."""
        try:
            await sending
        except Exception as exc:
            await self.fatal(exc)

    @staticmethod
    async def acked(sending: Awaitable[Any]) -> Any:
        """The broker's ack of a Faust send (awaiting ``topic.send`` only queues it)."""
        return await (await sending)

    async def fatal(self, exc: BaseException) -> None:
        """Crash the worker without acknowledging the current message (at-least-once)."""
        log.critical("cannot publish, stopping the worker: %r", exc)
        await self.app.crash(exc)
        await asyncio.Event().wait()  # cancelled by the shutdown
