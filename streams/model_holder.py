"""The model a worker assigns with, and the envelope a published model travels in.

- snapshot envelopes: a published model is ``seq`` + metadata + the core's snapshot
  (:func:`encode_snapshot`, :func:`decode_snapshot`), signed with HMAC-SHA256 when the
  deployment has a key (``SEGFLOW_MODEL_KEY``);
- :class:`ModelHolder`: the latest published snapshot, which every worker uses to
  assign segments (replaced only by a snapshot with a higher ``seq`` that passed every
  check: signature, envelope, engine settings, and the full schema of
  :mod:`segflow.models.snapshot_schema`).

Two envelopes, told apart by their first four bytes:

- ``SGF1`` + header length (4 bytes, big-endian) + header (JSON) + snapshot: unsigned;
- ``SGF2`` + tag (32 bytes) + the same: ``tag`` is HMAC-SHA256, under the key, of
  everything else (``SGF2``, length, header and snapshot), so neither the ``seq`` nor
  the model can be changed without the key.

A worker with a key takes only ``SGF2`` snapshots whose tag it verifies; a worker
without one takes both (it cannot check a tag) and says so once at start-up.

Nothing here talks to Kafka (:mod:`.snapshots` follows the topic).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import struct
from dataclasses import asdict, dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from segflow.models.config import EngineConfig
from segflow.models.errors import FirstError, SnapshotError
from segflow.models.model import SegmentModel
from segflow.models.snapshot_schema import MAX_COUNT, printable

_MAGIC = b"SGF1"
_SIGNED_MAGIC = b"SGF2"
#: Bytes of an HMAC-SHA256 tag.
TAG_BYTES = 32
#: Longest envelope header read.
MAX_HEADER_BYTES = 4096


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


class _Header(BaseModel):
    """The envelope's JSON header, read strictly (``config`` may be missing: older
    trainers did not write it)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    seq: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    model_version: Annotated[int, Field(ge=0, le=MAX_COUNT)]
    published_at: float
    publisher: Annotated[str, Field(max_length=256, pattern=r"^[\x20-\x7e]*$")]
    config: Annotated[str, Field(pattern=r"^([0-9a-f]{16})?$")] = ""


def config_key(config: EngineConfig) -> str:
    """A short fingerprint of the engine settings a model depends on.

    Workers only take snapshots learned under the same settings (the rules file
    path may differ between hosts, so it is left out).

    >>> config_key(EngineConfig()) == config_key(EngineConfig(rules_file="/x.yaml"))
    True
    >>> config_key(EngineConfig()) == config_key(EngineConfig(n_segments=7))
    False
    """
    text = config.model_dump_json(exclude={"rules_file"})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _tag(key: bytes, signed: bytes) -> bytes:
    return hmac.new(key, signed, hashlib.sha256).digest()


def encode_snapshot(meta: SnapshotMeta, snapshot: bytes, key: bytes | None = None) -> bytes:
    """``SGF1`` + length-prefixed JSON metadata + the core's snapshot bytes; with a
    ``key``, ``SGF2`` + its HMAC-SHA256 tag + the same.

    >>> meta = SnapshotMeta(3, 120, 0.0, "h:1")
    >>> decode_snapshot(encode_snapshot(meta, b"{}")) == (meta, b"{}")
    True
    >>> signed = encode_snapshot(meta, b"{}", key=b"k" * 32)
    >>> signed[:4], decode_snapshot(signed, key=b"k" * 32) == (meta, b"{}")
    (b'SGF2', True)
    >>> decode_snapshot(signed, key=b"x" * 32)
    Traceback (most recent call last):
    ...
    segflow.models.errors.SnapshotError: bad signature: not this worker's SEGFLOW_MODEL_KEY
    """
    header = _Header(**asdict(meta)).model_dump_json()
    body = struct.pack(">I", len(header)) + header.encode() + snapshot
    if key is None:
        return _MAGIC + body
    return _SIGNED_MAGIC + _tag(key, _SIGNED_MAGIC + body) + body


def decode_snapshot(data: bytes, key: bytes | None = None) -> tuple[SnapshotMeta, bytes]:
    """Inverse of :func:`encode_snapshot`. With a ``key``, only a snapshot signed with it
    is read. Raises :class:`SnapshotError` (a ``ValueError``; ``reason`` ``envelope`` or
    ``signature``) on anything else."""
    magic = data[:4]
    if magic == _SIGNED_MAGIC and len(data) >= 4 + TAG_BYTES:
        tag, body = data[4 : 4 + TAG_BYTES], data[4 + TAG_BYTES :]
        if key is not None and not hmac.compare_digest(tag, _tag(key, _SIGNED_MAGIC + body)):
            raise SnapshotError("bad signature: not this worker's SEGFLOW_MODEL_KEY", "signature")
    elif magic == _MAGIC:
        if key is not None:
            raise SnapshotError(
                "unsigned snapshot: this worker takes only snapshots signed with its "
                "SEGFLOW_MODEL_KEY",
                "signature",
            )
        body = data[4:]
    else:
        raise SnapshotError("not a segflow model snapshot", "envelope")
    if len(body) < 4:
        raise SnapshotError("not a segflow model snapshot", "envelope")
    (size,) = struct.unpack(">I", body[:4])
    if size > min(MAX_HEADER_BYTES, len(body) - 4):
        raise SnapshotError(f"not a segflow model snapshot: header of {size:,} bytes", "envelope")
    try:
        header = _Header.model_validate_json(body[4 : 4 + size])
    except ValidationError as error:
        first = FirstError.of(error)
        raise SnapshotError(printable("header: " + first.line(first.path)), "envelope") from None
    return SnapshotMeta(**header.model_dump()), body[4 + size :]


@dataclass(frozen=True, slots=True)
class Offer:
    """What became of an offered snapshot (true when it was taken).

    Not taken, it was either not newer than the held one (``reason`` None: nothing
    wrong with it) or rejected (``reason`` one of
    :data:`~segflow.models.snapshot_schema.REJECT_REASONS`, ``detail`` one line).
    """

    taken: bool
    reason: str | None = None
    detail: str = ""

    def __bool__(self) -> bool:
        return self.taken


class ModelHolder:
    """The model this worker assigns with: the latest snapshot read from the topic.

    Before any snapshot exists it holds a fresh, unlearned model (which assigns no
    behavioral segment). ``ready`` is set once the snapshot topic has been read to
    its end at start-up, so a restarted worker never assigns with a blank model
    when a learned one exists. With a ``key`` (``SEGFLOW_MODEL_KEY``) it takes only
    snapshots signed with it, and the trainer signs with it.
    """

    def __init__(self, config: EngineConfig, key: bytes | None = None) -> None:
        self.config = config
        self.key = key
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

    def offer(self, data: bytes) -> Offer:
        """Take this published snapshot if it is newer than the held one and passes
        every check (signature, envelope, engine settings, the full snapshot schema).

        The answer is true when it was taken. A rejected snapshot is counted in
        ``rejected`` and ignored: the worker keeps the model (and ``seq``) it has.
        """
        try:
            meta, raw = decode_snapshot(data, self.key)
        except SnapshotError as error:
            return self._reject(error)
        if meta.seq <= self.seq:
            return Offer(False)
        if meta.config and meta.config != self.config_key:
            # Learned under other engine settings: taking it would make this worker
            # name segments differently from the others.
            return self._reject(
                SnapshotError(
                    "learned under other engine settings (SEGFLOW_ENGINE__*) than this worker's",
                    "settings",
                )
            )
        try:
            model = SegmentModel.from_snapshot(raw, self.config, self.rules)
            if model.version != meta.model_version:
                raise SnapshotError(
                    f"header says model_version {meta.model_version}, the model is "
                    f"version {model.version}"
                )
            _exercise(model)
        except SnapshotError as error:
            return self._reject(error)
        except Exception as error:  # the schema should have caught it: refuse it all the same
            return self._reject(
                SnapshotError(printable(f"unusable model: {type(error).__name__}: {error}"))
            )
        self.model, self.meta, self.raw = model, meta, raw
        return Offer(True)

    def _reject(self, error: SnapshotError) -> Offer:
        self.rejected += 1
        return Offer(False, error.reason, str(error))

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


def _exercise(model: SegmentModel) -> None:
    """Read the model once the way a worker will (names, segments, an assignment, the
    scores), so a model that cannot be read is refused rather than failing every event."""
    model.segments()
    model.distances({})
    model.scores({})
