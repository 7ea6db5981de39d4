"""Anonymous visitors who become known, across partitions (a part of ``Pipeline``).

A visitor's events travel keyed by its anonymous id, a customer's by its customer id:
they live in different partitions. An identify travels keyed by its anonymous id, so it
is handled where the visitor's history is:

1. **The visitor's partition** (:meth:`Identities.link`) checks the guards (junk ids,
   an id linked or claimed for another customer, an id that is a known customer's:
   each refusal is counted and dead-lettered with its reason), sends a *claim* keyed
   by the customer and remembers it as pending (``p:<id>``).
2. **The customer's partition** (:meth:`Identities.claim`) grants it while the
   customer has fewer than ``max_anonymous_ids`` granted ids (``g:<customer>``), or
   refuses it (counted and dead-lettered, reason ``identity_too_many_ids``), and sends
   its *answer* keyed by the anonymous id.
3. **The visitor's partition** (:meth:`Identities.answer`), on a grant, sends a *merge*
   (the identify and the visitor's profile, which has kept every event up to now)
   keyed by the customer and waits for the broker's ack, and only then records the
   link (``a:<id>``), removes the visitor's profile (a tombstone in its changelog) and
   publishes the visitor's exit changes (``reason`` ``merged``). Later events with
   only that anonymous id are sent on to the customer
   (:meth:`Ingest.forward_to_customer`).
4. **The customer's partition** (:meth:`Identities.join`) folds the visitor's history
   into the customer's profile (:func:`segflow.models.identity.fold`) and steps the
   identify, so the customer is re-assessed with it as cause. Each merge has a
   deterministic id, remembered by the profile: a merge sent again (a worker killed
   after the send, before its offset was committed) is recognised and skipped.

At least once, then, and nothing counted twice: every message is sent (and acked)
before the partition that sends it changes anything, each step is idempotent when
replayed (a claim granted again, an answer for a link already made resends the merge,
which the customer's partition skips by its id), and nothing moves before the grant.

An erase command (:meth:`Identities.erase`) is handled in the customer's partition: each
linked anonymous id's partition is told first (an *unlink*, acknowledged), then the
exits are published, the profile removed, and the id remembered as erased by its hash
for the window; the unlink does the same for the visitor and removes its link.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from segflow.models.erasure import EraseCommand, erased_key
from segflow.models.events import Event, IdentifyEvent, anonymous_key
from segflow.models.identity import fold, merge_id, over_cap, refusal
from segflow.models.profile import Profile
from segflow.models.step import exit_all
from segflow.models.timeutil import DAY

from .deadletters import PROFILE
from .identity_keys import GRANTED, LINK, PENDING
from .ingest import ANSWER, CLAIM, MERGE, Ingest, Work
from .partitions import Dirty, PartitionWork

log = logging.getLogger("segflow.streams")


class Identities(Ingest, PartitionWork):
    """Identifies, claims, merges and known visitors' events (see the module docstring)."""

    identities: Any

    async def process_work(self, partition: int, work: Work, dirty: Dirty) -> None:
        """An identify (the visitor's side, a claim or a merge: the customer's, an answer:
        the visitor's), a known visitor's event (sent on to its customer), or any other
        event (stepped here)."""
        event = work.event
        if isinstance(event, (EraseCommand, IdentifyEvent)):
            await self.look_first(partition, touched(event, work), dirty)
        if isinstance(event, EraseCommand):
            await self.erase(partition, work, event, dirty)
        elif self.erased(event, work.control):
            self.metrics.identity("erased_dropped")
        elif isinstance(event, IdentifyEvent):
            handlers = {"": self.link, CLAIM: self.claim, ANSWER: self.answer, MERGE: self.join}
            await handlers[work.control](partition, work, dirty)
        elif not await self.route_known_visitor(work):
            await self.handle_event(partition, work, dirty)

    def steps_plainly(self, work: Work) -> bool:
        """Whether :meth:`process_work` would only step the event: not an identify or an
        erasure, not of an erased id, not a known visitor's (sent on)."""
        event = work.event
        if isinstance(event, (EraseCommand, IdentifyEvent)) or work.control:
            return False
        if self.erased(event, work.control):
            return False
        return self.known_visitors_customer(work) is None

    # -- erasure ------------------------------------------------------------------------

    def erased(self, event: Event, control: str) -> bool:
        """Whether the event names an id erased (in this partition) within the window: the
        id it was routed by (an identify's or an answer's anonymous id; a claim's or a
        merge's customer id)."""
        key = event.customer_id if control in (CLAIM, MERGE) else event.routing_key
        stored = self.identities.get(erased_key(key)) if key is not None else None
        window = self.holder.model.config.erasure.window_days * DAY
        return stored is not None and event.occurred_at.timestamp() <= float(stored) + window

    async def erase(self, partition: int, work: Work, command: EraseCommand, dirty: Dirty) -> None:
        """Erase a customer here (``work.unlink`` None) or one of its linked anonymous
        ids: exit changes without reasons or scores, the profile and the identity keys
        removed (tombstones), the id remembered as erased (by its hash) for the window.
        The linked anonymous ids are told first, in their partitions."""
        t = command.occurred_at.timestamp()
        if work.unlink is None:
            key, erased = command.customer_id.encode(), command.customer_id
            profile = self.profile_of(key, dirty)
            for anonymous in profile.aliases if profile is not None else []:
                await self.send_unlink(anonymous, command)
            self.remove_identity(GRANTED + key)
        else:
            key, erased = anonymous_key(work.unlink).encode(), work.unlink
            profile = self.profile_of(key, dirty)
            self.remove_identity(LINK + work.unlink.encode())
            self.remove_identity(PENDING + work.unlink.encode())
        if profile is not None:
            gone = exit_all(profile, self.holder.model, t, self.now(), "erased")
            self.forget(partition, key, profile, dirty)
            await self.publish_changes(key, gone.changes, gone.profile)
        self.identities[erased_key(erased)] = repr(t).encode()
        self.metrics.identity("erased" if work.unlink is None else "erased_link")

    def remove_identity(self, key: bytes) -> None:
        if self.identities.get(key) is not None:
            del self.identities[key]

    def linked_customer(self, anonymous_id: str, prefix: bytes = b"") -> str | None:
        """The customer ``anonymous_id`` is linked to (with ``prefix`` :data:`PENDING`:
        claimed for) in this partition, or None."""
        stored = self.identities.get((prefix or LINK) + anonymous_id.encode())
        return stored.decode() if stored is not None else None

    async def route_known_visitor(self, work: Work) -> bool:
        """Send an event of a linked visitor on to its customer; whether it was one."""
        customer = self.known_visitors_customer(work)
        if customer is None:
            return False
        await self.forward_to_customer(work, customer)
        return True

    def known_visitors_customer(self, work: Work) -> str | None:
        """The customer an anonymous visitor's event (no customer id, not an identity
        message) belongs to, when the visitor is linked to one here; else None."""
        event = work.event
        if event.customer_id is not None or event.anonymous_id is None or work.control:
            return None
        return self.linked_customer(event.anonymous_id)

    # -- identifies ---------------------------------------------------------------------

    async def refuse(self, work: Work, why: str) -> None:
        """Count and dead-letter a refused identify (with its first origin)."""
        self.metrics.identity(f"refused_{why}")
        event = work.event
        raw = work.raw if not work.control else event.model_dump_json(exclude_none=True).encode()
        await self.send_dead_letter(
            origin=work.origin,
            key=event.routing_key.encode() if work.control else work.key,
            raw=raw,
            error=f"identify refused: {why.replace('_', ' ')}",
            reason=f"identity_{why}",
            field="anonymous_id",
            stage=PROFILE,
        )

    async def link(self, partition: int, work: Work, dirty: Dirty) -> None:
        """The visitor's side of an identify: the guards, then a claim to the customer
        (remembered as pending), unless the link is made already."""
        event = work.event
        assert isinstance(event, IdentifyEvent)
        anonymous, customer = event.anonymous_id, event.customer_id
        linked = self.linked_customer(anonymous)
        pending = self.linked_customer(anonymous, PENDING)
        config = self.holder.model.config.identity
        known = self.profile_of(anonymous.encode(), dirty) is not None
        why = refusal(anonymous, customer, linked or pending, None, known, config)
        if why is not None:
            await self.refuse(work, why)
        elif linked == customer:
            await self.complete_link(partition, work, dirty)  # (a repeat, or a replay)
        elif pending == customer:
            self.metrics.identity("repeated")  # its claim is on its way
        else:
            await self.send_identity(CLAIM, event, work.origin)
            self.identities[PENDING + anonymous.encode()] = customer.encode()

    async def claim(self, partition: int, work: Work, dirty: Dirty) -> None:
        """The customer's side of a claim: grant it while the customer has fewer than
        ``max_anonymous_ids`` (each granted id is remembered), refuse it beyond."""
        event = work.event
        assert isinstance(event, IdentifyEvent)
        key = GRANTED + event.customer_id.encode()
        stored = self.identities.get(key)
        granted: list[str] = orjson.loads(stored) if stored is not None else []
        config = self.holder.model.config.identity
        ok = not over_cap(event.anonymous_id, granted, config)
        if ok and event.anonymous_id not in granted:
            self.identities[key] = orjson.dumps([*granted, event.anonymous_id])
        elif not ok:
            await self.refuse(work, "too_many_ids")
        await self.send_identity(ANSWER, event, work.origin, granted=ok)

    async def answer(self, partition: int, work: Work, dirty: Dirty) -> None:
        """The visitor's side of a granted (or refused) claim: the link is made."""
        event = work.event
        assert isinstance(event, IdentifyEvent)
        anonymous, customer = event.anonymous_id, event.customer_id
        pending = self.linked_customer(anonymous, PENDING)
        if pending == customer:
            self.remove_identity(PENDING + anonymous.encode())
        elif self.linked_customer(anonymous) != customer:
            return  # a stale answer (its claim was overtaken: erased, or linked elsewhere)
        if work.granted:
            await self.complete_link(partition, work, dirty)

    async def complete_link(self, partition: int, work: Work, dirty: Dirty) -> None:
        """Send the merge (the identify and the visitor's profile) to the customer and
        wait for the ack; then link, remove the visitor's profile and publish its exits."""
        event = work.event
        assert isinstance(event, IdentifyEvent)
        anonymous, customer = event.anonymous_id, event.customer_id
        visitor_key = anonymous_key(anonymous).encode()
        visitor = self.profile_of(visitor_key, dirty)
        if self.linked_customer(anonymous) == customer and visitor is None:
            self.metrics.identity("repeated")
            return
        await self.send_identity(MERGE, event, work.origin, visitor=visitor)
        self.identities[LINK + anonymous.encode()] = customer.encode()
        self.metrics.identity("linked")
        if visitor is not None:
            t = event.occurred_at.timestamp()
            gone = exit_all(visitor, self.holder.model, t, self.now(), "merged", event.event_id)
            self.forget(partition, visitor_key, visitor, dirty)
            await self.publish_changes(visitor_key, gone.changes, gone.profile)

    async def join(self, partition: int, work: Work, dirty: Dirty) -> None:
        """The customer's side of an identify: fold, then step the identify."""
        event = work.event
        assert isinstance(event, IdentifyEvent)
        anonymous, customer_id = event.anonymous_id, event.customer_id
        key = customer_id.encode()
        customer = self.profile_of(key, dirty)
        if customer is not None and merge_id(anonymous, customer_id) in customer.merges:
            self.metrics.identity("merge_repeated")
            return
        half_life = self.holder.model.config.half_life_days * DAY
        if work.visitor is not None:
            folded = fold(customer, work.visitor, customer_id, anonymous, half_life)
            self.keep_profile(partition, key, customer, folded, dirty)
            self.metrics.identity("merged")
        await self.handle_event(partition, work, dirty)
        stepped = self.profile_of(key, dirty)
        if work.visitor is None and stepped is not None:  # None: the step failed (dead letter)
            folded = fold(stepped, None, customer_id, anonymous, half_life)
            self.keep_profile(partition, key, stepped, folded, dirty)

    def keep_profile(
        self, partition: int, key: bytes, before: Profile | None, after: Profile, dirty: Dirty
    ) -> None:
        self.sizes.update(partition, before, after)
        dirty[key] = after

    def forget(self, partition: int, key: bytes, profile: Profile, dirty: Dirty) -> None:
        """Remove a profile: a tombstone in the table's changelog at the batch's end."""
        self.sizes.remove(partition, profile)
        dirty[key] = None  # the sweep finds no profile for it, and passes


def touched(event: EraseCommand | IdentifyEvent, work: Work) -> list[str]:
    """The profiles an erasure or an identify may change in the partition it is in."""
    if isinstance(event, EraseCommand):
        return [event.customer_id if work.unlink is None else anonymous_key(work.unlink)]
    return [event.customer_id, anonymous_key(event.anonymous_id)]
