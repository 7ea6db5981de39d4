"""The one trainer: learns the sampled features in batches and publishes each version
of the shared model as a snapshot (it runs on the worker that owns the single
partition of the training topic)."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from segflow.models.kmeans import best_of
from segflow.models.training import TrainingMessage, decode_training
from segflow.models.value import fit_value_model

from .metrics import Metrics
from .model_holder import ModelHolder, SnapshotMeta, encode_snapshot

log = logging.getLogger("segflow.streams")

_T = TypeVar("_T")

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
        #: The process value fits and segment refits run in (started on the first fit).
        self.fitter: ProcessPoolExecutor | None = None

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
                self.learn(decode_training(value))
            except Exception as error:
                log.error("bad training sample ignored: %s", error)
                self.metrics.error("training_sample")
                continue
            learned += 1
            if self.trainer_model.clusterer.refit_due:
                await self.refit_segments()
        if not learned:
            return
        await self.refit_value()
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

    def learn(self, message: TrainingMessage) -> None:
        """Learn one sample (its features, and its wait for a propensity label) or one
        customer's purchase."""
        model = self.trainer_model
        if message.x is not None:
            model.learn_one(
                message.x, message.t, message.customer, message.purchases, defer_refit=True
            )
        elif message.customer is not None and message.purchases is not None:
            model.learn_purchase(message.customer, message.purchases, message.t)

    async def refit_value(self) -> None:
        """Re-fit the value model when one is due, in a process of its own: a fit takes
        up to a second or so of Python, which in a thread would hold the interpreter
        lock the profile agent needs (measured: changes held up to a second, p99)."""
        model = self.trainer_model
        learning = model.learning
        if learning is None or not learning.refit_due():
            return
        inputs = learning.refit_inputs()
        fitted = await self.in_fitter(fit_value_model, *inputs)
        if fitted is not None:
            model.value = fitted
        self.metrics.value_fitted(model)

    async def refit_segments(self) -> None:
        """Run the clusterer's refit that fell due (k-means over its recent points: a
        tenth of a second or more) in the fitting process, and adopt it before the
        next sample: the model is the one learning in place would give, and the
        profile agent keeps the event loop meanwhile."""
        clusterer = self.trainer_model.clusterer
        job = clusterer.refit_job()
        fit = await self.in_fitter(best_of, *job)
        clusterer.adopt_refit(job, fit)

    async def in_fitter(self, fit: Callable[..., _T], *args: Any) -> _T:
        """``fit(*args)`` in the fitting process. Should that process die (killed for
        memory, say), the fit runs here instead, once, blocking the loop: the model
        must still learn what it would have; the next fit starts a new process."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool(), fit, *args)
        except BrokenProcessPool as error:
            log.error("the fitting process died (%s): fitting in the worker once", error)
            self.metrics.error("fitter")
            if self.fitter is not None:
                self.fitter.shutdown(wait=False, cancel_futures=True)
            self.fitter = None
            return fit(*args)

    def pool(self) -> ProcessPoolExecutor:
        """The process fits run in (started on first use)."""
        if self.fitter is None:
            spawn = multiprocessing.get_context("spawn")  # no fork of a threaded worker
            self.fitter = ProcessPoolExecutor(max_workers=1, mp_context=spawn)
        return self.fitter
