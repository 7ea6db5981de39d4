"""The messages workers send the trainer, encoded and checked.

Two kinds travel on the training topic:

* a **sample**, ``{"x": features, "t": time, "c": customer, "p": purchases}``: a
  customer's readable features at event time ``t`` (rate-limited); ``c`` and ``p``
  (its purchase statistics, absent before a first purchase) feed the value scores;
* a **purchase**, ``{"t": time, "c": customer, "p": purchases}``: a customer's first
  purchase of a day, with its statistics after it.

``c`` is :func:`~.value.customer_hash` of the customer's key, never the key itself.
``p`` is ``[first, last, days, spend]`` (:class:`~.value.PurchaseRecord`).

Anyone who can write to the training topic must not be able to put a value into the
model that it cannot hold, so :func:`decode_training` checks everything: every feature
of the model and nothing else, finite numbers, times within :data:`SAMPLE_TIMES`, a
hash in 0..2^63, statistics in order.

>>> from .features import FEATURE_NAMES
>>> sample = decode_training(encode_sample(dict.fromkeys(FEATURE_NAMES, 1.0), 5.0, "c1", None))
>>> sample.x["clicks"], sample.t, sample.customer == customer_hash("c1")
(1.0, 5.0, True)
>>> decode_training(b'{"x": {"clicks": 2}, "t": 5.0}')
Traceback (most recent call last):
...
ValueError: not a training sample: features missing or unknown
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson

from .features import FEATURE_NAMES
from .timeutil import MAX_EPOCH, MIN_EPOCH
from .value import PurchaseRecord, customer_hash

#: Event times a training message may carry (epoch seconds: years 1 to 9999).
SAMPLE_TIMES = (MIN_EPOCH, MAX_EPOCH)
_FEATURES = frozenset(FEATURE_NAMES)
_HASHES = 2**63


@dataclass(frozen=True, slots=True)
class TrainingMessage:
    """A decoded message: ``x`` is None for a purchase."""

    x: dict[str, float] | None
    t: float
    customer: int | None
    purchases: PurchaseRecord | None


def encode_sample(
    x: dict[str, float], t: float, customer: str, purchases: PurchaseRecord | None
) -> bytes:
    message: dict[str, Any] = {"x": x, "t": t, "c": customer_hash(customer)}
    if purchases is not None:
        message["p"] = _record(purchases)
    return orjson.dumps(message)


def encode_purchase(customer: str, purchases: PurchaseRecord, t: float) -> bytes:
    return orjson.dumps({"t": t, "c": customer_hash(customer), "p": _record(purchases)})


def _record(purchases: PurchaseRecord) -> list[float]:
    return [purchases.first, purchases.last, purchases.days, purchases.spend]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _time(value: Any) -> bool:
    return _number(value) and SAMPLE_TIMES[0] <= value <= SAMPLE_TIMES[1]


def decode_training(value: bytes) -> TrainingMessage:
    """A training message, or ``ValueError`` saying what is wrong with it."""
    try:
        message = orjson.loads(value)
        t = message["t"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        raise ValueError("not a training sample: not a JSON object with t") from None
    if not isinstance(message, dict) or not set(message) <= {"x", "t", "c", "p"}:
        raise ValueError("not a training sample: unknown fields")
    if not _time(t):
        raise ValueError(f"not a training sample: time {t!r} out of range")
    x = message.get("x")
    if x is not None:
        if not isinstance(x, dict) or set(x) != _FEATURES:
            raise ValueError("not a training sample: features missing or unknown")
        if not all(_number(v) for v in x.values()):
            raise ValueError("not a training sample: a feature is not a finite number")
        x = {str(name): float(v) for name, v in x.items()}
    customer = message.get("c")
    if customer is not None and not (
        isinstance(customer, int) and not isinstance(customer, bool) and 0 <= customer < _HASHES
    ):
        raise ValueError("not a training sample: c is not a customer hash")
    purchases = _decode_purchases(message.get("p"))
    if x is None and (customer is None or purchases is None):
        raise ValueError("not a training sample: neither features nor a customer's purchase")
    return TrainingMessage(x, float(t), customer, purchases)


def _decode_purchases(p: Any) -> PurchaseRecord | None:
    if p is None:
        return None
    if not (isinstance(p, list) and len(p) == 4 and all(_number(v) for v in p)):
        raise ValueError("not a training sample: p is not four finite numbers")
    first, last, days, spend = p
    if not (_time(first) and _time(last) and first <= last):
        raise ValueError("not a training sample: p's purchase times are out of order")
    if days != int(days) or not 1 <= days <= 2**31 or spend < 0:
        raise ValueError("not a training sample: p's days or spend out of range")
    return PurchaseRecord(float(first), float(last), int(days), float(spend))
