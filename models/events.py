"""The input contract: one pydantic model per event type.

Each Kafka message is one JSON object; the topic says which type it is. Unknown
extra fields are ignored; everything else that does not match is invalid and is
reported as one line naming the field.

>>> event = decode_event("click", b'{"event_id": "e1", "customer_id": "c1",'
...                      b' "occurred_at": "2026-11-22T10:15:00Z", "url": "/pricing"}')
>>> event.kind, event.customer_id, event.url
('click', 'c1', '/pricing')
>>> decode_event("click", b'{"event_id": "e1", "customer_id": "c1",'
...              b' "occurred_at": "2026-11-22T10:15:00", "url": "/pricing"}')
Traceback (most recent call last):
...
segflow.models.errors.InvalidEventError: occurred_at: Input should have timezone info
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from .errors import FirstError, InvalidEventError
from .timeutil import rfc3339

Id = Annotated[str, Field(min_length=1, max_length=128)]
#: In the JSON Schema: a customer id never starts with the visitors' key prefix.
NOT_ANONYMOUS: dict[str, Any] = {"not": {"pattern": "^~anon:"}}
#: In the JSON Schema: an RFC 3339 time with an offset (the format alone is not
#: checked by every validator).
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
EventTime = Annotated[AwareDatetime, Field(json_schema_extra={"pattern": TIME_PATTERN})]
CustomerId = Annotated[str, Field(min_length=1, max_length=128, json_schema_extra=NOT_ANONYMOUS)]
#: Largest order amount accepted, in absolute value.
MAX_AMOUNT = 1e12
PropertyValue = StrictStr | StrictBool | StrictInt | StrictFloat
FunnelStage = Literal["awareness", "consideration", "decision"]
EmailAction = Literal["sent", "delivered", "open", "click", "bounce", "unsubscribe", "complaint"]


#: Profile keys of anonymous visitors start with this (a customer id may not).
ANONYMOUS_PREFIX = "~anon:"


def anonymous_key(anonymous_id: str) -> str:
    """The profile key of an anonymous visitor: never equal to a customer id.

    >>> anonymous_key("ck-42")
    '~anon:ck-42'
    """
    return ANONYMOUS_PREFIX + anonymous_id


def anonymous_id_of(key: str) -> str | None:
    """The anonymous id a profile key stands for, or None for a customer's key."""
    return key[len(ANONYMOUS_PREFIX) :] if key.startswith(ANONYMOUS_PREFIX) else None


def routing_key_of(key: str) -> str:
    """The key a profile's events travel by (and so its partition): the anonymous id of
    a visitor's profile, the customer id of a customer's.

    >>> routing_key_of("~anon:ck-42"), routing_key_of("c00042")
    ('ck-42', 'c00042')
    """
    anonymous = anonymous_id_of(key)
    return key if anonymous is None else anonymous


class BaseEvent(BaseModel):
    """Fields common to every event type: who (a customer id, an anonymous id such as a
    cookie or device id, or both), what and when.

    An event with only ``anonymous_id`` belongs to an anonymous visitor until an
    :class:`IdentifyEvent` links that id to a customer; with ``customer_id`` it belongs
    to the customer (``anonymous_id`` beside it is kept for the record only).
    """

    # NaN and infinities (bare ``NaN`` / ``Infinity`` tokens, or ``1e999``) are invalid:
    # a profile holding one could not be stored as JSON, nor any score derived from it.
    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        frozen=True,
        allow_inf_nan=False,
        # The JSON Schema says what ``_someone`` checks (``schemas/``).
        json_schema_extra={
            "anyOf": [
                {"required": ["customer_id"], "properties": {"customer_id": {"type": "string"}}},
                {"required": ["anonymous_id"], "properties": {"anonymous_id": {"type": "string"}}},
            ]
        },
    )

    kind: ClassVar[str]
    event_id: Id
    customer_id: CustomerId | None = None
    anonymous_id: Id | None = None
    occurred_at: EventTime
    properties: dict[str, PropertyValue] | None = None

    @model_validator(mode="after")
    def _someone(self) -> BaseEvent:
        if self.customer_id is None and self.anonymous_id is None:
            raise ValueError("customer_id or anonymous_id is required")
        if self.customer_id is not None and self.customer_id.startswith(ANONYMOUS_PREFIX):
            raise ValueError(f"customer_id may not start with {ANONYMOUS_PREFIX!r}")
        return self

    @property
    def routing_key(self) -> str:
        """The Kafka key the event travels under: the customer id, else the anonymous id
        (an identify travels under its anonymous id, where the visitor's history is)."""
        if self.customer_id is not None and not isinstance(self, IdentifyEvent):
            return self.customer_id
        assert self.anonymous_id is not None
        return self.anonymous_id

    @property
    def profile_key(self) -> str:
        """Whose profile the event goes to: the customer's, else the anonymous visitor's
        (before any identity link is looked up)."""
        if self.customer_id is not None:
            return self.customer_id
        assert self.anonymous_id is not None
        return anonymous_key(self.anonymous_id)


class ClickEvent(BaseEvent):
    """A page view or link click on the web site (topic ``clicks``)."""

    kind: ClassVar[str] = "click"
    url: StrictStr
    referrer: StrictStr | None = None
    session_id: StrictStr | None = None


class DownloadEvent(BaseEvent):
    """A downloaded asset (white paper, price sheet, ...) (topic ``downloads``)."""

    kind: ClassVar[str] = "download"
    asset_id: StrictStr
    asset_type: StrictStr | None = None
    funnel_stage: FunnelStage | None = None


class EmailEvent(BaseEvent):
    """Something that happened to a marketing email (topic ``emails``)."""

    kind: ClassVar[str] = "email"
    campaign_id: StrictStr
    action: EmailAction


class PurchaseEvent(BaseEvent):
    """An order, or a refund when ``amount`` is negative (topic ``purchases``)."""

    kind: ClassVar[str] = "purchase"
    order_id: StrictStr
    #: No single order or refund is worth a trillion: beyond that a value is a unit or
    #: parsing error upstream, and sums of such values would overflow to infinity.
    amount: Annotated[float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None


class IdentifyEvent(BaseEvent):
    """An anonymous id is this customer (a sign-up, a login, a form fill, an e-mail click)
    (topic ``identifies``): the visitor's history is the customer's from now on."""

    kind: ClassVar[str] = "identify"
    customer_id: CustomerId
    anonymous_id: Id
    #: What the customer told about themselves (like ``properties``).
    traits: dict[str, PropertyValue] | None = None


Event = ClickEvent | DownloadEvent | EmailEvent | PurchaseEvent | IdentifyEvent

EVENT_TYPES: dict[str, type[BaseEvent]] = {
    "click": ClickEvent,
    "download": DownloadEvent,
    "email": EmailEvent,
    "purchase": PurchaseEvent,
    "identify": IdentifyEvent,
}

_UNION_TAGS = frozenset({"str", "bool", "int", "float"})


def describe_validation_error(error: ValidationError) -> tuple[str, str | None]:
    """One line naming the first failing field (and how many more failed), and that field."""
    # A non-finite number in a union (a property value) also fails every other member
    # ("should be a valid string"); the finite-number error is the one that says why.
    first = FirstError.of(error, prefer="finite_number")
    loc = list(first.loc)
    while len(loc) > 1 and loc[-1] in _UNION_TAGS:
        loc.pop()  # pydantic names the union member tried; the field is what people need
    field = ".".join(str(part) for part in loc) or None
    return first.line(field or "", first.message), field


def decode_event(event_type: str, payload: bytes | str | Mapping[str, Any]) -> Event:
    """Validate ``payload`` (JSON bytes or text, or a mapping) as an event of ``event_type``.

    Raises :class:`InvalidEventError` with a one-line message and a ``reason``:
    ``unknown_type``, ``not_json``, ``not_object`` or ``schema``.
    """
    model = EVENT_TYPES.get(event_type)
    if model is None:
        raise InvalidEventError(f"unknown event type {event_type!r}", reason="unknown_type")
    if isinstance(payload, bytes | str):
        try:
            return model.model_validate_json(payload)  # type: ignore[return-value]
        except ValidationError as error:
            first = error.errors(include_url=False)[0]
            if first["type"] == "json_invalid":
                raise InvalidEventError(
                    f"not valid JSON: {first['msg']}", reason="not_json"
                ) from None
            if first["type"] == "model_type" and not first["loc"]:
                raise InvalidEventError("not a JSON object", reason="not_object") from None
            message, field = describe_validation_error(error)
            raise InvalidEventError(message, reason="schema", field=field) from None
    if not isinstance(payload, Mapping):
        raise InvalidEventError("not a JSON object", reason="not_object")
    # Through JSON, so a mapping is judged exactly as the same message on Kafka.
    try:
        text = orjson.dumps(dict(payload))
    except TypeError as error:
        raise InvalidEventError(f"not JSON-serializable: {error}", reason="schema") from None
    return decode_event(event_type, text)


def check_event_time(
    event: BaseEvent, ingested_at: float, max_future_s: float, max_age_s: float
) -> None:
    """Refuse an event dated more than ``max_future_s`` after ``ingested_at`` (the ingest
    clock, epoch s) or more than ``max_age_s`` before it: ``9999-12-31`` and
    ``0001-01-01`` are bugs upstream, and one such event would move the customer's
    clock to an absurd time. Raises :class:`InvalidEventError` (reason ``out_of_range``).

    >>> e = decode_event("click", b'{"event_id": "e1", "customer_id": "c1",'
    ...                  b' "occurred_at": "9999-12-31T23:59:59Z", "url": "/"}')
    >>> check_event_time(e, ingested_at=1.8e9, max_future_s=3600, max_age_s=86_400 * 365)
    Traceback (most recent call last):
    ...
    segflow.models.errors.InvalidEventError: occurred_at: 9999-12-31T23:59:59Z is more than 1 h ...
    """
    t = event.occurred_at.timestamp()
    if t > ingested_at + max_future_s:
        beyond = f"more than {max_future_s / 3600:g} h after"
    elif t < ingested_at - max_age_s:
        beyond = f"more than {max_age_s / 86_400:g} days before"
    else:
        return
    raise InvalidEventError(
        f"occurred_at: {rfc3339(t)} is {beyond} the ingest clock",
        reason="out_of_range",
        field="occurred_at",
    )


def event_type_of(event: BaseEvent) -> str:
    """The type name (``click``, ``download``, ``email``, ``purchase``) of an event."""
    return event.kind


def encode_event(event: BaseEvent) -> bytes:
    """The JSON of an event as it travels on its topic (no type field: the topic says it)."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))
