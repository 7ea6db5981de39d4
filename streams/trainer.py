"""The one trainer: learns the sampled features in batches and publishes each version
of the shared model as a snapshot (it runs on the worker that owns the single
partition of the training topic)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from segflow.models.features import FEATURE_NAMES

from .metrics import Metrics
from .model_holder import ModelHolder, SnapshotMeta, encode_snapshot

log = logging.getLogger("segflow.streams")

#: How many samples the trainer learns between yields to the event loop.
TRAIN_CHUNK = 64


#: Event times a training sample may carry (epoch seconds: years 1 to 9999).
SAMPLE_TIMES = (-62_135_596_800.0, 253_402_300_799.0)
_FEATURES = frozenset(FEATURE_NAMES)


def decode_sample(value: bytes) -> tuple[dict[str, float], float]:
    """A training sample's features and event time, or ``ValueError``: anyone who can
    write to the training topic must not be able to put a value into the model that it
    cannot hold (every feature of the model, finite; a time within :data:`SAMPLE_TIMES`).

    >>> x, t = decode_sample(orjson.dumps({"x": dict.fromkeys(FEATURE_NAMES, 1), "t": 5}))
    >>> x["clicks"], t
    (1.0, 5.0)
    >>> decode_sample(b'{"x": {"clicks": 2}, "t": 5.0}')
    Traceback (most recent call last):
    ...
    ValueError: not a training sample: features missing or unknown
    """
    try:
        sample = orjson.loads(value)
        x, t = sample["x"], sample["t"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        raise ValueError("not a training sample: not a JSON object with x and t") from None
    if not isinstance(x, dict) or set(x) != _FEATURES:
        raise ValueError("not a training sample: features missing or unknown")
    numbers = [*x.values(), t]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
        raise ValueError("not a training sample: a value is not a number")
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError("not a training sample: a value is not finite")
    if not SAMPLE_TIMES[0] <= t <= SAMPLE_TIMES[1]:
        raise ValueError(f"not a training sample: time {t!r} out of range")
    return {str(name): float(value) for name, value in x.items()}, float(t)


class Trainer:
    """Learns batches of samples into the model and publishes it (``publish`` sends one
    snapshot, and stops the worker when it cannot)."""

    def __init__(
        self,
        holder: ModelHolder,
        metrics: Metrics,
        clock: Callable[[], float],
        publisher: str,
        publish: Callable[[bytes], Awaitable[None]],
    ) -> None:
        self.holder = holder
        self.metrics = metrics
        self.clock = clock
        self.publisher = publisher
        self.publish = publish
        self.trainer_model: Any = None
        self.trainer_seq = 0

    async def train(self, values: list[bytes]) -> None:
        """Learn a batch of samples and publish the model as the next snapshot."""
        if self.trainer_model is None or self.holder.seq > self.trainer_seq:
            # First batch here, or another worker published since: continue from the
            # latest published model (this is how the model survives a takeover). Only a
            # snapshot the holder took moves its seq: a rejected one (forged, unsigned,
            # malformed) never sets the sequence the trainer continues from.
            self.trainer_model = self.holder.fresh_copy()
            self.trainer_seq = self.holder.seq
        learned = 0
        for i, value in enumerate(values):
            if i % TRAIN_CHUNK == TRAIN_CHUNK - 1:
                await asyncio.sleep(0)  # the profile agent shares this loop: let it run
            try:
                x, t = decode_sample(value)
                self.trainer_model.learn_one(x, t)
            except Exception as error:
                log.error("bad training sample ignored: %s", error)
                self.metrics.error("training_sample")
                continue
            learned += 1
        if not learned:
            return
        self.metrics.learned.inc(learned)
        self.trainer_seq += 1
        meta = SnapshotMeta(
            seq=self.trainer_seq,
            model_version=int(self.trainer_model.version),
            published_at=self.clock(),
            publisher=self.publisher,
            config=self.holder.config_key,
        )
        snapshot = encode_snapshot(meta, self.trainer_model.to_snapshot(), self.holder.key)
        await self.publish(snapshot)
        self.metrics.published.inc()
