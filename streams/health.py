"""Whether a worker is healthy: what ``/healthz`` (readiness) and ``/livez`` answer.

A worker is *ready* when it has joined its group (no rebalance under way), recovered
its tables and read the model, **and** the broker answered recently and still has the
worker's topics. The broker part comes from a probe the worker runs every
``probe_s`` seconds (:class:`BrokerProbe`): it asks the cluster for the partition
counts of the topics the worker needs. A broker that stopped answering makes the
worker unready after ``stale_s``; a broker that came back without the topics (a
broker whose storage was lost) makes it unready at once, and, when the topics stay
gone for ``topics_gone_s``, the worker stops with an error (exit code 1) instead of
spinning on a cluster that no longer has its data.

>>> now = [100.0]
>>> probe = BrokerProbe(HealthConfig(), ["clicks"], lambda names: {"clicks": 4},
...                     clock=lambda: now[0])
>>> probe.problems()
['the broker has not answered yet']
>>> probe.record(probe.ask())
>>> probe.problems()
[]
>>> now[0] = 200.0
>>> probe.problems()
['the broker has not answered for 100 s']
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger("segflow.streams")


class HealthConfig(BaseModel):
    """How a worker judges its broker (``SEGFLOW_HEALTH__*``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    probe_s: float = Field(5.0, gt=0, description="Seconds between two broker probes.")
    stale_s: float = Field(
        15.0, gt=0, description="A broker silent for this long makes the worker unready."
    )
    topics_gone_s: float = Field(
        30.0,
        gt=0,
        description="Topics missing from an answering broker for this long stop the worker.",
    )


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe: when, and either the topics missing or the error."""

    at: float
    missing: tuple[str, ...] = ()
    error: str | None = None


class BrokerProbe:
    """The broker as the worker last saw it (see the module docstring)."""

    def __init__(
        self,
        config: HealthConfig,
        topics: Sequence[str],
        count_partitions: Callable[[list[str]], dict[str, int]],
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self.topics = list(topics)
        self.count_partitions = count_partitions
        self.clock = clock
        #: When the broker last answered, and when the topics were first seen missing.
        self.answered_at: float | None = None
        self.missing: tuple[str, ...] = ()
        self.missing_since: float | None = None
        self.last_error: str | None = None

    def ask(self) -> ProbeResult:
        """Ask the cluster now (blocking: the worker runs it in a thread)."""
        try:
            found = self.count_partitions(self.topics)
        except Exception as error:
            return ProbeResult(self.clock(), error=" ".join(f"{error!r}".split())[:200])
        return ProbeResult(self.clock(), tuple(t for t in self.topics if t not in found))

    def record(self, result: ProbeResult) -> None:
        """Take a probe's result; log one line when the broker's state changes."""
        if result.error is not None:
            if self.last_error is None:
                log.warning("broker probe failed: %s", result.error)
            self.last_error = result.error
            return
        if self.last_error is not None:
            log.warning("broker answers again")
        self.last_error = None
        self.answered_at = result.at
        if result.missing and not self.missing:
            log.error("the broker no longer has the topics %s", ", ".join(result.missing))
            self.missing_since = result.at
        elif not result.missing:
            self.missing_since = None
        self.missing = result.missing

    def problems(self) -> list[str]:
        """What keeps the worker from being ready, as far as the broker goes."""
        now = self.clock()
        if self.answered_at is None:
            return ["the broker has not answered yet"]
        problems = []
        silent = now - self.answered_at
        if silent > self.config.stale_s:
            problems.append(f"the broker has not answered for {silent:.0f} s")
        if self.missing:
            problems.append("topics missing on the broker: " + ", ".join(self.missing))
        return problems

    def topics_gone(self) -> bool:
        """Whether the topics have been missing from an answering broker too long."""
        return (
            self.missing_since is not None
            and self.clock() - self.missing_since >= self.config.topics_gone_s
        )
