"""``bench.identity --broker``: the same world through two ``segflow worker`` processes.

The events are produced at once to the input topics of a Kafka broker (a local Tansu
unless one is named); two workers stitch the visitors across partitions. Once every
input message is consumed and the workers' counts stop moving, the profiles and the
links are read back from their changelog topics (the latest value per key) and judged
like the in-memory runner's (:func:`bench.identity.placement`, :func:`bench.identity.ari`).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from segflow.models.profile import Profile
from segflow.sources.simulator import Simulation
from segflow.streams.demo import WorkerProcess, fetch_stats
from segflow.streams.producer import produce_events
from segflow.streams.settings import Settings
from segflow.streams.topics import create_topics

from .common import bootstrap, read_topic, settings_for, start_worker, wait_until

#: Seconds the workers' counts must stay still before the changelogs are read.
QUIET_S = 5.0


def counts(ports: list[int]) -> Counter[str]:
    total: Counter[str] = Counter()
    for port in ports:
        total.update((fetch_stats(port) or {}).get("counts", {}))
    return total


def settle(ports: list[int], workers: list[WorkerProcess], messages: int) -> Counter[str]:
    """Wait until every input message is consumed and the counts stay still for
    :data:`QUIET_S`; the workers' summed counts."""
    wait_until(lambda: counts(ports)["input_messages"] >= messages, workers, "the input")
    last: list[Any] = [None, time.monotonic()]

    def quiet() -> bool:
        now = counts(ports)
        if now != last[0]:
            last[:] = [now, time.monotonic()]
        return time.monotonic() - last[1] >= QUIET_S

    wait_until(quiet, workers, "the workers to settle")
    return counts(ports)


@dataclass(frozen=True)
class ReadBack:
    """The profiles and links as the changelogs hold them (a :class:`.identity.Outcome`)."""

    profiles: dict[str, Profile]
    aliases: dict[str, str]


def read_back(settings: Settings) -> ReadBack:
    """The profiles and the links (anonymous id -> customer) as the changelogs hold them."""
    latest: dict[bytes, bytes | None] = {}
    for record in read_topic(settings, settings.profiles_changelog):
        latest[record.key] = record.value
    profiles = {k.decode(): Profile.from_json(v) for k, v in latest.items() if v is not None}
    links: dict[bytes, bytes | None] = {}
    for record in read_topic(settings, settings.identities_changelog):
        if record.key.startswith(b"a:"):
            links[record.key[2:]] = record.value
    aliases = {k.decode(): v.decode() for k, v in links.items() if v is not None}
    return ReadBack(profiles, aliases)


def refusals(settings: Settings) -> Counter[str]:
    """Dead letters of refused identifies, by reason (without ``identity_``)."""
    found: Counter[str] = Counter()
    for record in read_topic(settings, settings.topics.dead_letters):
        reason = str(orjson.loads(record.value).get("reason", ""))
        if reason.startswith("identity_"):
            found[reason.removeprefix("identity_")] += 1
    return found


def run_workers(sim: Simulation, broker: str | None) -> dict[str, Any]:
    """Stitch ``sim`` through two workers: their figures (see the module docstring)."""
    from .identity import ari, placement

    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-id-")))
        settings = settings_for(bootstrap(stack, broker), workdir, uuid.uuid4().hex[:6])
        create_topics(settings)
        started = time.monotonic()
        workers, ports = [], []
        for name in ("a", "b"):
            worker, port = start_worker(settings, workdir, name)
            stack.callback(worker.stop)
            workers.append(worker)
            ports.append(port)
        produce_events(settings, sim.events)
        totals = settle(ports, workers, len(sim.events))
        result = read_back(settings)
        return {
            **placement(sim, result),
            "refused": dict(refusals(settings)),
            "merged": totals["identity_merged"],
            "ari_on": ari(sim, result),
            "unlinked_visitors_on": sum(1 for k in result.profiles if k.startswith("~anon:")),
            "seconds": round(time.monotonic() - started, 1),
        }
