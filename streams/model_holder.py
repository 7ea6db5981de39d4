"""The model a worker assigns with, and the envelope a published model travels in.

- snapshot envelopes: a published model is ``seq`` + metadata + the core's snapshot
  (:func:`encode_snapshot`, :func:`decode_snapshot`);
- :class:`ModelHolder`: the latest published snapshot, which every worker uses to
  assign segments (replaced only by a snapshot with a higher ``seq``).

Nothing here talks to Kafka (:mod:`.snapshots` follows the topic).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

import orjson

from segflow.models.config import EngineConfig
from segflow.models.model import SegmentModel

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
        #: The rule segments, read once from the file the settings name.
        self.rules = self.model.rules
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
            model = SegmentModel.from_snapshot(raw, self.config, self.rules)
        except Exception:
            self.rejected += 1
            return False
        self.model, self.meta, self.raw = model, meta, raw
        return True

    def fresh_copy(self) -> SegmentModel:
        """A private copy of the held model (for the trainer to learn on)."""
        if self.raw is None:
            return SegmentModel.create(self.config)
        return SegmentModel.from_snapshot(self.raw, self.config, self.rules)

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until the start-up read of the snapshot topic is done (or ``timeout``)."""
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return False
        return True
