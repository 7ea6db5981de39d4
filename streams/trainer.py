"""The one trainer: learns the sampled features in batches and publishes each version
of the shared model as a snapshot (it runs on the worker that owns the single
partition of the training topic)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from .metrics import Metrics
from .model_holder import ModelHolder, SnapshotMeta, encode_snapshot

log = logging.getLogger("segflow.streams")

#: How many samples the trainer learns between yields to the event loop.
TRAIN_CHUNK = 64


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
                sample = orjson.loads(value)
                x = {str(name): float(v) for name, v in sample["x"].items()}
                self.trainer_model.learn_one(x, float(sample["t"]))
            except Exception:
                log.exception("bad training sample ignored")
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
