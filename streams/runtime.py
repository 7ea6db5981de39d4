"""The worker's in-process state that is not a Faust table.

- :class:`ModelHolder`: the latest published model snapshot, which every worker
  uses to assign segments (replaced only by a snapshot with a higher ``seq``).
- snapshot envelopes: a published model is ``seq`` + metadata + the core's snapshot.
- :class:`TokenBucket`: the per-worker rate limit on training samples.
- :class:`SegmentSizes`: customers per segment among this worker's profiles.
- :class:`Stats`: counters, exported as Prometheus metrics and as JSON.

Nothing here talks to Kafka; it is unit-tested without a broker.
"""

from __future__ import annotations

import asyncio
import collections
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka.partitioner import murmur2  # type: ignore[import-untyped,unused-ignore]
from prometheus_client import CollectorRegistry

from segflow.models.changes import SegmentChange
from segflow.models.config import EngineConfig
from segflow.models.model import SegmentModel
from segflow.models.profile import Profile

from .metrics import Metrics

_MAGIC = b"SGF1"


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """What travels with a model snapshot."""

    #: Publication number: strictly increasing per deployment; workers keep the highest.
    seq: int
    #: The model's own version (samples learned).
    model_version: int
    #: Trainer clock at publication (epoch seconds).
    published_at: float
    #: Who published it (``host:pid``).
    publisher: str
    #: Fingerprint of the engine settings it was learned with (see :func:`config_key`).
    config: str = ""


def config_key(config: EngineConfig) -> str:
    """A short fingerprint of the engine settings a model depends on.

    Workers only take snapshots learned under the same settings (the rules file
    path may differ between hosts, so it is left out).

    >>> config_key(EngineConfig()) == config_key(EngineConfig(rules_file="/x.yaml"))
    True
    >>> config_key(EngineConfig()) == config_key(EngineConfig(n_segments=7))
    False
    """
    import hashlib

    text = config.model_dump_json(exclude={"rules_file"})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_snapshot(meta: SnapshotMeta, snapshot: bytes) -> bytes:
    """``SGF1`` + length-prefixed JSON metadata + the core's snapshot bytes.

    >>> meta = SnapshotMeta(3, 120, 0.0, "h:1")
    >>> decode_snapshot(encode_snapshot(meta, b"{}")) == (meta, b"{}")
    True
    """
    header = orjson.dumps(
        {
            "seq": meta.seq,
            "model_version": meta.model_version,
            "published_at": meta.published_at,
            "publisher": meta.publisher,
            "config": meta.config,
        }
    )
    return _MAGIC + struct.pack(">I", len(header)) + header + snapshot


def decode_snapshot(data: bytes) -> tuple[SnapshotMeta, bytes]:
    """Inverse of :func:`encode_snapshot`; raises ``ValueError`` on anything else."""
    if len(data) < 8 or data[:4] != _MAGIC:
        raise ValueError("not a segflow model snapshot")
    (size,) = struct.unpack(">I", data[4:8])
    header = orjson.loads(data[8 : 8 + size])
    meta = SnapshotMeta(
        seq=int(header["seq"]),
        model_version=int(header["model_version"]),
        published_at=float(header["published_at"]),
        publisher=str(header["publisher"]),
        config=str(header.get("config", "")),
    )
    return meta, data[8 + size :]


class ModelHolder:
    """The model this worker assigns with: the latest snapshot read from the topic.

    Before any snapshot exists it holds a fresh, unlearned model (which assigns no
    behavioral segment). ``ready`` is set once the snapshot topic has been read to
    its end at start-up, so a restarted worker never assigns with a blank model
    when a learned one exists.
    """

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.model = SegmentModel.create(config)
        self.meta: SnapshotMeta | None = None
        self.raw: bytes | None = None
        self.ready = asyncio.Event()
        self.rejected = 0
        self.config_key = config_key(config)

    @property
    def seq(self) -> int:
        """``seq`` of the held snapshot; 0 before any."""
        return self.meta.seq if self.meta is not None else 0

    def offer(self, data: bytes) -> bool:
        """Take this published snapshot if it is newer than the held one.

        Returns whether it was taken. A malformed snapshot is counted in
        ``rejected`` and ignored (the worker keeps the model it has).
        """
        try:
            meta, raw = decode_snapshot(data)
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            self.rejected += 1
            return False
        if meta.seq <= self.seq:
            return False
        if meta.config and meta.config != self.config_key:
            # Learned under other engine settings: taking it would make this worker
            # name segments differently from the others.
            self.rejected += 1
            return False
        try:
            model = SegmentModel.from_snapshot(raw, self.config)
        except Exception:
            self.rejected += 1
            return False
        self.model, self.meta, self.raw = model, meta, raw
        return True

    def fresh_copy(self) -> SegmentModel:
        """A private copy of the held model (for the trainer to learn on)."""
        if self.raw is None:
            return SegmentModel.create(self.config)
        return SegmentModel.from_snapshot(self.raw, self.config)

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until the start-up read of the snapshot topic is done (or ``timeout``)."""
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return False
        return True


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as Faust and the Java client
    use) gives ``key`` among ``partitions``.

    >>> partition_of(b"c00001", 4) in range(4)
    True
    """
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


class TokenBucket:
    """At most ``rate`` events per second on average, bursts up to ``burst``.

    ``rate`` 0 means no limit.

    >>> now = [0.0]
    >>> bucket = TokenBucket(rate=2.0, burst=2.0, clock=lambda: now[0])
    >>> [bucket.allow() for _ in range(3)]
    [True, True, False]
    >>> now[0] = 0.5
    >>> bucket.allow(), bucket.allow()
    (True, False)
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._tokens = self.burst
        self._last = clock()

    def allow(self) -> bool:
        """Take one token if there is one."""
        if self.rate <= 0:
            return True
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class ProfileCache:
    """The most recently used profiles, decoded, in front of the profile table.

    Only the worker that owns a partition writes its profiles, so a cached profile is
    the table's value as long as the partition stays here: the worker clears the
    cache on every rebalance. ``size`` 0 turns it off.

    >>> cache = ProfileCache(2)
    >>> for key in (b"a", b"b", b"c"):
    ...     cache.put(key, Profile.new(key.decode(), as_of=0.0))
    >>> cache.get(b"a") is None, cache.get(b"c").customer_id
    (True, 'c')
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._profiles: collections.OrderedDict[bytes, Profile] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._profiles)

    def get(self, key: bytes) -> Profile | None:
        profile = self._profiles.get(key)
        if profile is not None:
            self._profiles.move_to_end(key)
        return profile

    def put(self, key: bytes, profile: Profile) -> None:
        if self.size <= 0:
            return
        self._profiles[key] = profile
        self._profiles.move_to_end(key)
        if len(self._profiles) > self.size:
            self._profiles.popitem(last=False)

    def clear(self) -> None:
        self._profiles.clear()


class SegmentSizes:
    """Customers per segment among this worker's profiles, kept per partition.

    A partition is counted once loaded (from the table, when the worker first
    handles it after a rebalance) and then updated on every profile write.

    >>> sizes = SegmentSizes()
    >>> sizes.load(0, [])
    >>> a = Profile.new("c1", as_of=0.0); b = a.copy(); b.segment = "seg-1"
    >>> sizes.update(0, None, a); sizes.update(0, a, b)
    >>> sizes.totals()
    ({('behavioral', 'seg-1'): 1}, 1)
    """

    def __init__(self) -> None:
        self._parts: dict[int, dict[tuple[str, str], int]] = {}
        self._profiles: dict[int, int] = {}

    def reset(self) -> None:
        self._parts.clear()
        self._profiles.clear()

    def loaded(self, partition: int) -> bool:
        return partition in self._parts

    def load(self, partition: int, profiles: Iterable[Profile]) -> None:
        self._parts[partition] = {}
        self._profiles[partition] = 0
        for profile in profiles:
            self.update(partition, None, profile)

    @staticmethod
    def _keys(profile: Profile) -> list[tuple[str, str]]:
        keys = [("rule", segment) for segment in profile.rule_segments]
        if profile.segment is not None:
            keys.append(("behavioral", profile.segment))
        return keys

    def update(self, partition: int, before: Profile | None, after: Profile) -> None:
        """A profile of ``partition`` went from ``before`` (None: new) to ``after``."""
        counts = self._parts.get(partition)
        if counts is None:
            return  # not loaded yet: the load will count it
        if before is None:
            self._profiles[partition] += 1
        else:
            for key in self._keys(before):
                counts[key] = counts.get(key, 0) - 1
                if counts[key] <= 0:
                    del counts[key]
        for key in self._keys(after):
            counts[key] = counts.get(key, 0) + 1

    def totals(self) -> tuple[dict[tuple[str, str], int], int]:
        """(kind, segment) -> customers, and the number of profiles, over loaded partitions."""
        out: dict[tuple[str, str], int] = {}
        for counts in self._parts.values():
            for key, n in counts.items():
                out[key] = out.get(key, 0) + n
        return out, sum(self._profiles.values())


class Stats:
    """A worker's counters: Prometheus metrics (see :mod:`.metrics`) and a JSON view."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.metrics = Metrics(self.registry)
        self.started = time.time()
        self.counts: dict[str, int] = {}

    def _bump(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def count(self, key: str, n: int = 1) -> None:
        """A plain counter (JSON view only)."""
        self._bump(key, n)

    def input_message(self, topic: str, kind: str = "unknown") -> None:
        self.metrics.consumed(topic, kind)
        self._bump("input_messages")

    def event(self, outcome: str) -> None:
        self.metrics.events.labels(outcome=outcome).inc()
        self._bump(f"events_{outcome}")

    def dead_letter(self, source_topic: str, reason: str, stage: str = "ingest") -> None:
        self.metrics.dead_letters.labels(source_topic=source_topic, reason=reason).inc()
        self.metrics.invalid.labels(reason=reason, stage=stage).inc()
        self._bump("dead_letters")
        self._bump(f"dead_letters_{reason}")

    def change(
        self,
        change: SegmentChange,
        ingested_at: float | None = None,
    ) -> None:
        caused = change.cause_event_id is not None
        self.metrics.change(
            change.kind,
            change.from_segment,
            change.to_segment,
            emitted_at=change.emitted_at.timestamp(),
            occurred_at=change.occurred_at.timestamp() if caused else None,
            ingested_at=ingested_at if caused else None,
        )
        self._bump("changes")

    def swept(self) -> None:
        self.metrics.swept.inc()
        self._bump("swept")

    def drift(self, segment: str, statistic: str) -> None:
        self.metrics.drift_alerts.labels(segment=segment, statistic=statistic).inc()
        self._bump("drift_alerts")

    def sample(self, sent: bool) -> None:
        status = "sent" if sent else "throttled"
        self.metrics.samples.labels(status=status).inc()
        self._bump(f"samples_{status}")

    def learned(self, n: int) -> None:
        self.metrics.learned.inc(n)
        self._bump("trainer_learned", n)

    def published(self) -> None:
        self.metrics.published.inc()
        self._bump("trainer_published")

    def model(self, holder: ModelHolder, shifts: dict[str, float] | None = None) -> None:
        self.metrics.model_update(holder.seq, holder.model.version, shifts)

    def as_json(self, holder: ModelHolder) -> dict[str, Any]:
        """Counters, uptime and the model in use (seq, version, segment names)."""
        return {
            "uptime_s": round(time.time() - self.started, 3),
            "counts": dict(self.counts),
            "model": {
                "seq": holder.seq,
                "version": holder.model.version,
                "ready": holder.model.is_ready,
                "segments": holder.model.segment_names(),
            },
        }
