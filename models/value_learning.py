"""What the trainer keeps to learn the value scores, beside the model it publishes:
the sample of customers' purchase statistics the value model is fitted on, the
propensity samples waiting for their labels, and the prequential read-out of the
propensity (score first, label later).

The runner and the trainer feed it the same two kinds of message: a customer's
sample (its features at event time ``t``, with its purchase statistics) and a
customer's purchase (its statistics after the purchase). Customers are known by
:func:`~.value.customer_hash` only.

>>> from .config import EngineConfig
>>> from .model import SegmentModel
>>> model = SegmentModel.create(EngineConfig())
>>> learning = ValueLearning(model.config.value)
>>> record = PurchaseRecord(first=0.0, last=0.0, days=1, spend=20.0)
>>> learning.purchase(7, record, t=0.0)
>>> learning.refit_due()
False
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from .propensity import DelayedLabels, Pending, Prequential, PurchasePropensity
from .timeutil import DAY
from .value import CustomerSample, PurchaseRecord, ValueConfig, ValueModel, fit_value_model


class ValueLearning:
    """The trainer's side of the value scores (not carried in snapshots: after a
    takeover the sample refills from the next purchases and sweeps, and the labels of
    samples taken before it are lost)."""

    def __init__(self, config: ValueConfig) -> None:
        self.config = config
        self.customers = CustomerSample(config.customers)
        self.labels = DelayedLabels(config.propensity_days, config.customers)
        self.quality = Prequential()
        #: The newest event time seen, and that of the latest fit (or of the first
        #: purchase seen, before any).
        self.clock = -math.inf
        self.fitted_clock: float | None = None
        #: When a list: every labelled sample is also appended to it (benchmarks).
        self.record: list[Pending] | None = None

    def _tick(self, t: float) -> None:
        self.clock = max(self.clock, t)
        if self.fitted_clock is None:
            self.fitted_clock = t

    def purchase(self, key: int, record: PurchaseRecord, t: float) -> None:
        """Customer ``key`` bought at ``t``; ``record`` is its statistics since."""
        self._tick(t)
        self.customers.offer(key, record)
        self.labels.purchase(key, t)

    def sample(
        self, key: int, record: PurchaseRecord | None, z: dict[str, float], t: float,
        predicted: float | None,
    ) -> None:  # fmt: skip
        """Customer ``key``'s sample at ``t``: its statistics (if it bought) and its
        propensity inputs ``z`` with the prediction made from them now."""
        self._tick(t)
        if record is not None:
            self.customers.offer(key, record)
        self.labels.offer(key, z, t, predicted)

    def learn_labelled(self, propensity: PurchasePropensity) -> int:
        """Learn every sample whose label is known by now; how many."""
        done: list[Pending] = self.labels.matured(self.clock)
        for waiting in done:
            if waiting.predicted is not None:
                self.quality.add(waiting.predicted, waiting.bought)
            propensity.learn_one(waiting.z, waiting.bought)
        if self.record is not None:
            self.record.extend(done)
        return len(done)

    def refit_due(self) -> bool:
        """Whether ``refit_days`` of event time passed since the latest fit (or since
        the first purchase seen)."""
        if self.fitted_clock is None:
            return False
        return self.clock - self.fitted_clock >= self.config.refit_days * DAY

    def refit_inputs(self) -> tuple[tuple[NDArray[np.float64], ...], float, int]:
        """What a fit takes (:func:`~.value.fit_value_model`'s arguments), read now;
        the next fit is due ``refit_days`` later whatever this one gives."""
        self.fitted_clock = self.clock
        return self.customers.arrays(self.clock), self.clock, self.config.min_repeat_buyers

    def refit(self) -> ValueModel | None:
        """Fit the value model on the sample now (None: not enough repeat buyers yet)."""
        return fit_value_model(*self.refit_inputs())
