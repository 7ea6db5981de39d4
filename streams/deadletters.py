"""Dead letters: an invalid message with its origin and the reason, as JSON.

>>> record = dead_letter(source_topic="clicks", partition=0, offset=3, key=b"c1",
...                      raw=b"\\xff{", error="not valid JSON", reason="not_json",
...                      received_at=0.0)
>>> record["raw"], record["raw_encoding"], record["key"], record["received_at"]
('/3s=', 'base64', 'c1', '1970-01-01T00:00:00Z')
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from segflow.models.timeutil import rfc3339

from .data_policy import redact_payload

#: Where in the pipeline a message was rejected.
INGEST = "ingest"
PROFILE = "profile"


def _text_or_base64(data: bytes | None) -> tuple[str | None, str]:
    if data is None:
        return None, "none"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


class DeadLetter(BaseModel):
    """The JSON value on ``segflow-dead-letters``: an invalid message, where it came
    from, and why it was refused."""

    model_config = ConfigDict(frozen=True)

    source_topic: str
    partition: int
    offset: int
    key: str | None = Field(description="The message key, as text or base64 (key_encoding).")
    key_encoding: Literal["utf-8", "base64", "none"]
    raw: str | None = Field(
        description="The message value, as text or base64 (raw_encoding); null when "
        "withheld (SEGFLOW_DEAD_LETTERS__REDACT) or empty."
    )
    raw_encoding: Literal["utf-8", "base64", "none", "withheld"]
    error: str = Field(description="One line naming the failing field.")
    reason: str = Field(description="A short code: schema, out_of_range, late, identity_...")
    field: str | None
    stage: str = Field(description="Where it was refused: ingest or profile.")
    received_at: datetime


def dead_letter(
    *,
    source_topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    raw: bytes | None,
    error: str,
    reason: str,
    received_at: float,
    field: str | None = None,
    stage: str = INGEST,
    redact: bool = False,
) -> dict[str, Any]:
    """The dead-letter record of one rejected message.

    ``raw`` is the original payload, as text if it is UTF-8, else base64
    (``raw_encoding`` says which; ``key_encoding`` likewise for the key). With
    ``redact``, property values are replaced by ``[redacted]``, and a payload that is
    not a JSON object is not copied (``raw`` null, ``raw_encoding`` ``withheld``).
    ``received_at`` is the worker's clock (epoch seconds) when it rejected it.
    """
    if redact and raw is not None:
        raw = redact_payload(raw)
        raw_text, raw_encoding = _text_or_base64(raw) if raw is not None else (None, "withheld")
    else:
        raw_text, raw_encoding = _text_or_base64(raw)
    key_text, key_encoding = _text_or_base64(key)
    return {
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "key": key_text,
        "key_encoding": key_encoding,
        "raw": raw_text,
        "raw_encoding": raw_encoding,
        "error": " ".join(error.split()),
        "reason": reason,
        "field": field,
        "stage": stage,
        "received_at": rfc3339(received_at),
    }


def encode_dead_letter(record: dict[str, Any]) -> bytes:
    """The JSON bytes of a dead-letter record."""
    return orjson.dumps(record)


def decode_raw(record: dict[str, Any]) -> bytes | None:
    """The original payload bytes of a dead-letter record."""
    raw = record.get("raw")
    if raw is None:
        return None
    if record.get("raw_encoding") == "base64":
        return base64.b64decode(raw)
    return str(raw).encode("utf-8")
