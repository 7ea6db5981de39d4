"""Groups of the worker's settings that stand on their own: topic names and event-time
bounds (``SEGFLOW_TOPICS__*``, ``SEGFLOW_EVENT_TIME__*``), and host names as the web
settings compare them. :mod:`.settings` puts them together.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from segflow.models.triggers import TriggerConfig

#: A valid Kafka topic name.
TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HOST_NAME = re.compile(r"^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?$")


def host_name(text: str) -> str | None:
    """``text`` as a comparable host (lower case, no final dot, IPv6 without brackets),
    or None if it is no host name or IP address (a port, a path or a user is not).

    >>> host_name("Segflow.Example.COM."), host_name("[::1]"), host_name("::1")
    ('segflow.example.com', '::1', '::1')
    >>> host_name("a.example:80"), host_name("user@a.example"), host_name("")
    (None, None, None)
    """
    value = text.strip().lower()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if ":" in value:
        try:
            return str(ipaddress.IPv6Address(value))
        except ValueError:
            return None
    value = value.removesuffix(".")
    return value if _HOST_NAME.match(value) else None


class TopicNames(BaseModel):
    """Names of every topic segflow reads or writes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clicks: str = "clicks"
    downloads: str = "downloads"
    emails: str = "emails"
    purchases: str = "purchases"
    #: Identifies: an anonymous id is a customer (keyed by the anonymous id).
    identifies: str = "identifies"
    #: Erase commands (keyed by customer id).
    erasures: str = "erasures"
    #: Valid events of all types, keyed and partitioned by ``customer_id``.
    events: str = "segflow-events"
    #: The output: segment changes keyed by ``customer_id``.
    changes: str = "segment-changes"
    #: The output's state: each customer's current memberships (compacted), keyed by
    #: ``customer_id``; a tombstone when it is in no segment.
    membership: str = "segment-membership"
    dead_letters: str = "segflow-dead-letters"
    #: Changes a webhook could not deliver (``segflow webhooks``), with the reason.
    webhook_dead_letters: str = "segflow-webhook-dead-letters"
    #: Feature vectors for the shared model (one partition: one trainer).
    training: str = "segflow-training"
    #: Versioned model snapshots (compacted, one key).
    snapshots: str = "segflow-model"
    #: Drift alerts (JSON :class:`segflow.models.drift.DriftEvent`), keyed by segment.
    drift: str = "segment-drift"

    @field_validator("*")
    @classmethod
    def _valid_topic_name(cls, value: str) -> str:
        if not TOPIC_NAME.match(value) or value in {".", ".."}:
            raise ValueError(f"{value!r} is not a valid Kafka topic name")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> TopicNames:
        names = list(self.model_dump().values())
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"topic names must be distinct, repeated: {', '.join(duplicates)}")
        return self

    def inputs(self) -> dict[str, str]:
        """Event type -> input topic."""
        return {
            "click": self.clicks,
            "download": self.downloads,
            "email": self.emails,
            "purchase": self.purchases,
            "identify": self.identifies,
            "erase": self.erasures,
        }


class EventTimeBounds(BaseModel):
    """Which event times a worker accepts, against its ingest clock, and how its
    inactivity sweep follows event time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_future_s: float = Field(
        3_600.0,
        ge=0,
        description="An event dated more than this after the ingest clock is out_of_range.",
    )
    max_age_days: float = Field(
        18_262.0,
        gt=0,
        description="An event dated more than this before the ingest clock is out_of_range "
        "(default 50 years: the public datasets replay, the epoch and year 1 do not).",
    )
    idle_s: float = Field(
        5.0,
        gt=0,
        description="A source (topic partition) that delivered nothing for this long no "
        "longer holds back the sweep's watermark.",
    )


class WebhookSettings(TriggerConfig):
    """``segflow webhooks`` (``SEGFLOW_WEBHOOKS__*``): where changes are POSTed, how
    they are signed, and which (the trigger settings)."""

    url: AnyHttpUrl | None = Field(None, description="The URL each change is POSTed to.")
    secret: SecretStr | None = Field(
        None,
        description="Key of the X-Segflow-Signature header (HMAC-SHA256 of "
        "`<X-Segflow-Timestamp>.<body>`); none: unsigned.",
    )
    timeout_s: float = Field(10.0, gt=0, description="Longest wait for one answer.")
