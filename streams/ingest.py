"""Ingest and routing: each message decoded once against the input contract; an event
of the partition it arrived on is worked here, any other forwarded (keyed by its
customer) to the repartition topic, an invalid one dead-lettered with its origin."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from segflow.models.erasure import EraseCommand, decode_erase
from segflow.models.errors import InvalidEventError
from segflow.models.events import Event, check_event_time, decode_event
from segflow.models.profile import Profile
from segflow.models.timeutil import DAY

from .deadletters import INGEST, PROFILE
from .partitioning import partition_of
from .worker_base import WorkerBase

log = logging.getLogger("segflow.streams")

#: Least time between two requests for the input topics' partition counts.
PARTITION_COUNTS_EVERY_S = 10.0

#: Header on ``segflow-events``: the event type (the input topic it came from says it).
HEADER_TYPE = "segflow-type"
#: Header on ``segflow-events``: ``[topic, partition, offset]`` of the original message.
HEADER_ORIGIN = "segflow-origin"
#: Header on ``segflow-events``: when the profile agent first read it (epoch seconds, ASCII).
HEADER_INGESTED = "segflow-ingested-at"
#: Header on ``segflow-events``: the customer a known visitor's event belongs to.
HEADER_CUSTOMER = "segflow-customer"
#: ``HEADER_TYPE`` of a claim: an identify sent from the visitor's partition to the
#: customer's, which grants it if the customer has room for another anonymous id
#: (JSON ``{"identify": ...}``).
CLAIM = "claim"
#: ``HEADER_TYPE`` of the customer's answer to a claim, sent back to the visitor's
#: partition (JSON ``{"identify": ..., "granted": true|false}``).
ANSWER = "answer"
#: ``HEADER_TYPE`` of a merge: an identify with the visitor's profile, sent from the
#: visitor's partition to the customer's once granted (JSON ``{"identify": ...,
#: "visitor": ...}``).
MERGE = "merge"
#: The identity messages between partitions that carry an identify.
IDENTITY_MESSAGES = frozenset({CLAIM, ANSWER, MERGE})
#: ``HEADER_TYPE`` of the erasure of an anonymous id linked to an erased customer, sent
#: to the anonymous id's partition (JSON ``{"anonymous_id": ..., "erase": ...}``).
UNLINK = "unlink"


@dataclass(slots=True)
class Work:
    """A valid event the profile agent applies here, with where it came from."""

    #: The Faust event that carried it (made Faust's current event for table writes).
    item: Any
    #: Partition of the profile table (and of the message).
    partition: int
    customer: bytes
    event: Event | EraseCommand
    #: Where the event first arrived (input topic, partition, offset).
    origin: tuple[str, int, int]
    key: bytes | None
    raw: bytes | None
    ingested_at: float | None
    #: The topic it was read from here (an input topic or the repartition topic).
    source: str = ""
    #: An identity message (:data:`CLAIM`, :data:`ANSWER`, :data:`MERGE`), or "": the
    #: event as it arrived.
    control: str = ""
    #: A merge's visitor profile (if it had one).
    visitor: Profile | None = None
    #: An answer's verdict: the claim was granted.
    granted: bool = False
    #: The erasure of this anonymous id (an erased customer's linked visitor).
    unlink: str | None = None


class Ingest(WorkerBase):
    """Admission of input and repartitioned messages (a part of ``Pipeline``)."""

    #: Input topic -> event type.
    kinds: dict[str, str]
    #: Partition count of each input topic, once known.
    partition_counts: dict[str, int]
    #: The repartition topic.
    events: Any
    #: Topic names -> partition count of those that exist (blocking; run in a thread).
    count_partitions: Callable[[list[str]], dict[str, int]]
    _counts_task: asyncio.Future[None] | None = None
    _counts_asked: float = -math.inf

    async def admit(self, item: Any) -> Work | None:
        """Decode one message: the work it makes here, or None (dead-lettered or forwarded)."""
        message = item.message
        headers: Mapping[str, bytes] = item.headers or {}
        topic = str(message.topic)
        raw: bytes | None = message.value
        key: bytes | None = message.key
        kind = self.kinds.get(topic)
        ingested_at: float | None
        if kind is not None:
            origin = (topic, int(message.partition), int(message.offset))
            stage, ingested_at = INGEST, self.clock()
            sent_at = getattr(message, "timestamp", None)
            self.metrics.consumed(topic, kind, None if sent_at is None else ingested_at - sent_at)
        else:
            kind = headers.get(HEADER_TYPE, b"").decode("utf-8", "replace")
            origin = _origin(message, headers)
            stage, ingested_at = PROFILE, _ingested_at(headers)
        if kind in IDENTITY_MESSAGES and stage == PROFILE:
            return self.identity_work(kind, item, raw, origin, key, ingested_at, topic)
        if kind == UNLINK and stage == PROFILE:
            assert raw is not None
            body = orjson.loads(raw)
            command = decode_erase(orjson.dumps(body["erase"]))
            partition = int(item.message.partition)
            return Work(item, partition, key or b"", command, origin, key, raw, ingested_at,
                        topic, unlink=str(body["anonymous_id"]))  # fmt: skip
        try:
            event = await self.decode(kind, raw, key, origin, stage, ingested_at)
        except Exception as error:
            log.exception("decoding failed on %s:%s:%s", *origin)
            await self.send_dead_letter(
                origin=origin,
                key=key,
                raw=raw,
                error=repr(error),
                reason="internal_error",
                stage=stage,
            )
            return None
        if event is None:
            return None
        route = event.routing_key.encode()
        partition = int(message.partition)
        if stage == INGEST and not self.owns(topic, partition, route):
            await self.forward(kind, route, raw, origin, ingested_at)
            return None
        # A known visitor's event, sent on to its customer (see forward_to_customer).
        linked = headers.get(HEADER_CUSTOMER) if stage == PROFILE else None
        if linked is not None and not isinstance(event, EraseCommand):
            event = event.model_copy(update={"customer_id": linked.decode()})
        customer = event.profile_key.encode()
        return Work(item, partition, customer, event, origin, key, raw, ingested_at, topic)

    def identity_work(
        self,
        kind: str,
        item: Any,
        raw: bytes | None,
        origin: tuple[str, int, int],
        key: bytes | None,
        ingested_at: float | None,
        topic: str,
    ) -> Work:
        """A claim, an answer or a merge (what :meth:`send_identity` wrote: trusted,
        segflow's own message)."""
        assert raw is not None
        body = orjson.loads(raw)
        event = decode_event("identify", body["identify"])
        visitor = Profile.from_json(body["visitor"]) if body.get("visitor") else None
        partition = int(item.message.partition)
        # A claim and a merge are the customer's; an answer is the visitor's.
        customer = (key or b"") if kind == ANSWER else event.profile_key.encode()
        return Work(item, partition, customer, event, origin, key, raw, ingested_at, topic,
                    kind, visitor, bool(body.get("granted")))  # fmt: skip

    async def send_identity(
        self,
        kind: str,
        event: Event,
        origin: tuple[str, int, int],
        visitor: Profile | None = None,
        granted: bool = False,
    ) -> None:
        """Send an identify on as a claim or a merge (keyed by the customer) or an answer
        (keyed by the anonymous id), and wait for the broker's ack."""
        assert event.customer_id is not None and event.anonymous_id is not None
        body: dict[str, Any] = {"identify": event.model_dump(mode="json", exclude_none=True)}
        if kind == MERGE:
            body["visitor"] = visitor.to_json().decode() if visitor is not None else None
        if kind == ANSWER:
            body["granted"] = granted
        key = event.anonymous_id if kind == ANSWER else event.customer_id
        headers = {HEADER_TYPE: kind.encode(), HEADER_ORIGIN: orjson.dumps(list(origin))}
        sending = self.events.send(key=key.encode(), value=orjson.dumps(body), headers=headers)
        await self.send_or_stop(self.acked(sending))

    async def send_unlink(self, anonymous_id: str, command: EraseCommand) -> None:
        """Send the erasure of a linked anonymous id to its partition."""
        body = {"anonymous_id": anonymous_id, "erase": command.model_dump(mode="json")}
        headers = {HEADER_TYPE: UNLINK.encode()}
        key = anonymous_id.encode()
        sending = self.events.send(key=key, value=orjson.dumps(body), headers=headers)
        await self.send_or_stop(self.acked(sending))

    async def forward_to_customer(self, work: Work, customer: str) -> None:
        """Send a known visitor's event on to its customer's partition."""
        await self.forward(
            work.event.kind, customer.encode(), work.raw, work.origin, work.ingested_at, customer
        )

    def owns(self, topic: str, partition: int, customer: bytes) -> bool:
        """Whether ``customer``'s profile lives in ``partition`` of the table, which is
        read together with ``partition`` of ``topic`` (same partition count). While the
        topic's partition count is unknown, or differs, the event is forwarded."""
        n = self.settings.partitions
        if self.partition_counts.get(topic) != n:
            if topic not in self.partition_counts:
                self.refresh_partition_counts()
            return False
        return partition_of(customer, n) == partition

    def refresh_partition_counts(self) -> None:
        """Ask the cluster for the input topics' partition counts, in the background, at
        most every :data:`PARTITION_COUNTS_EVERY_S` seconds. Every worker asks: the
        consumer's own metadata has them only on the group leader."""
        now = time.monotonic()
        if self._counts_task is not None and not self._counts_task.done():
            return
        if now - self._counts_asked < PARTITION_COUNTS_EVERY_S:
            return
        self._counts_asked = now
        self._counts_task = asyncio.ensure_future(self.fetch_partition_counts())

    async def fetch_partition_counts(self) -> None:
        """Read the input topics' partition counts now (the profile agent does at start)."""
        try:
            found = await asyncio.to_thread(self.count_partitions, list(self.kinds))
        except Exception as error:
            log.warning("cannot read the input topics' partition counts: %r", error)
            return
        self.partition_counts.update(found)
        unequal = {t: n for t, n in found.items() if n != self.settings.partitions}
        if unequal:
            log.warning(
                "input topics with a partition count other than %d are repartitioned: %s",
                self.settings.partitions,
                unequal,
            )

    async def forward(
        self,
        kind: str,
        customer: bytes,
        raw: bytes | None,
        origin: tuple[str, int, int],
        ingested_at: float | None,
        linked_to: str | None = None,
    ) -> None:
        """Send a valid input event on to the repartition topic, keyed by customer
        (``linked_to``: the customer a known visitor's event belongs to)."""
        self.metrics.forwarded()
        headers = {
            HEADER_TYPE: kind.encode(),
            HEADER_ORIGIN: orjson.dumps(list(origin)),
            HEADER_INGESTED: repr(ingested_at).encode(),
        }
        if linked_to is not None:
            headers[HEADER_CUSTOMER] = linked_to.encode()
        await self.send_or_stop(self.events.send(key=customer, value=raw, headers=headers))

    async def decode(
        self,
        kind: str,
        raw: bytes | None,
        key: bytes | None,
        origin: tuple[str, int, int],
        stage: str,
        ingested_at: float | None = None,
    ) -> Event | EraseCommand | None:
        """The event in ``raw``, or None once an invalid one is dead-lettered. At ingest,
        an event time implausible against the ingest clock is invalid too
        (``out_of_range``)."""
        try:
            if raw is None:
                raise InvalidEventError("empty message (no value)", reason="empty")
            if kind == "erase":
                return decode_erase(raw)
            event = decode_event(kind, raw)
            if stage == INGEST:
                bounds = self.settings.event_time
                check_event_time(
                    event,
                    self.clock() if ingested_at is None else ingested_at,
                    bounds.max_future_s,
                    bounds.max_age_days * DAY,
                )
            return event
        except InvalidEventError as error:
            await self.send_dead_letter(
                origin=origin,
                key=key,
                raw=raw,
                error=str(error),
                reason=error.reason,
                field=error.field,
                stage=stage,
            )
            return None


def _ingested_at(headers: Mapping[str, bytes]) -> float | None:
    try:
        return float(headers[HEADER_INGESTED])
    except Exception:
        return None


def _origin(message: Any, headers: Mapping[str, bytes]) -> tuple[str, int, int]:
    """Where the event first arrived (input topic, partition, offset)."""
    try:
        topic, partition, offset = orjson.loads(headers[HEADER_ORIGIN])
        return str(topic), int(partition), int(offset)
    except Exception:
        return str(message.topic), int(message.partition), int(message.offset)
