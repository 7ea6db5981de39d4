"""How long segflow's topics keep what they hold, and what a dead letter may copy.

Personal data reaches segflow in event properties (an e-mail address, a company
name). The topics ``segflow topics create`` makes get an explicit retention
(:class:`Retention`, ``SEGFLOW_RETENTION__*``) instead of the broker's default,
and dead letters can be told to redact property values (:class:`DeadLetterPolicy`,
``SEGFLOW_DEAD_LETTERS__REDACT``) before the raw payload is copied.

>>> redact_payload(b'{"event_id": "e1", "properties": {"email": "a@b.c", "n": 3}}')
b'{"event_id":"e1","properties":{"email":"[redacted]","n":"[redacted]"}}'
>>> redact_payload(b"not json") is None
True
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

#: What a redacted property value becomes.
REDACTED = "[redacted]"
DAY_MS = 86_400_000


class Retention(BaseModel):
    """Days each kind of topic keeps a message (Kafka ``retention.ms``). The profile
    changelog and the model topic are compacted (latest value per key) instead, the
    training topic keeps a day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_days: float = Field(7.0, gt=0, description="The four input topics.")
    events_days: float = Field(1.0, gt=0, description="The repartition topic.")
    changes_days: float = Field(30.0, gt=0, description="Segment changes.")
    drift_days: float = Field(30.0, gt=0, description="Drift alerts.")
    dead_letters_days: float = Field(7.0, gt=0, description="Dead letters.")

    @staticmethod
    def config(days: float) -> dict[str, str]:
        """The topic config for ``days`` of retention."""
        return {"retention.ms": str(round(days * DAY_MS))}


class DeadLetterPolicy(BaseModel):
    """What a dead letter copies of the message it rejects."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    redact: bool = Field(
        False,
        description="Replace every property value of the raw payload by [redacted]; a "
        "payload that is not a JSON object is not copied at all.",
    )


def redact_payload(raw: bytes) -> bytes | None:
    """``raw`` with every value under ``properties`` replaced by :data:`REDACTED`, or
    None when ``raw`` is not a JSON object (nothing in it can be told apart as safe)."""
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(value, dict):
        return None
    properties = value.get("properties")
    if isinstance(properties, dict):
        value["properties"] = {name: REDACTED for name in properties}
    elif properties is not None:
        value["properties"] = REDACTED
    return orjson.dumps(value)
