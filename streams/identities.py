"""Anonymous visitors who become known, across partitions (a part of ``Pipeline``).

A visitor's events travel keyed by its anonymous id, a customer's by its customer id:
they live in different partitions. An identify travels keyed by its anonymous id, so it
is handled where the visitor's history is:

1. **The visitor's partition** (:meth:`Identities.link`) checks the guards (junk ids,
   an id linked to another customer, an id that is a known customer's: each refusal is
   counted and dead-lettered with its reason), sends a *merge* (the identify and the
   visitor's profile) keyed by the customer to the repartition topic and waits for the
   broker's ack, and only then records the link in the ``identities`` table, removes
   the visitor's profile (a tombstone in its changelog) and publishes the visitor's
   exit changes (``reason`` ``merged``). Later events with only that anonymous id are
   sent on to the customer (:meth:`Ingest.forward_to_customer`).
2. **The customer's partition** (:meth:`Identities.join`) folds the visitor's history
   into the customer's profile (:func:`segflow.models.identity.fold`) and steps the
   identify, so the customer is re-assessed with it as cause. Each merge has a
   deterministic id, remembered by the profile: a merge sent again (a worker killed
   after the send, before its offset was committed) is recognised and skipped.

At least once, then, and nothing counted twice: the merge is sent before the visitor's
partition changes anything, and the customer's partition applies a merge id once. The
cap on anonymous ids per customer is the in-memory runner's only, for now.

An erase command (:meth:`Identities.erase`) is handled in the customer's partition: each
linked anonymous id's partition is told first (an *unlink*, acknowledged), then the
exits are published, the profile removed, and the id remembered as erased by its hash
for the window; the unlink does the same for the visitor and removes its link.
"""

from __future__ import annotations

import logging
from typing import Any

from segflow.models.erasure import EraseCommand, erased_key
from segflow.models.events import Event, IdentifyEvent, anonymous_key
from segflow.models.identity import fold, merge_id, refusal
from segflow.models.profile import Profile
from segflow.models.step import exit_all
from segflow.models.timeutil import DAY

from .deadletters import PROFILE
from .ingest import Ingest, Work
from .partitions import Dirty, PartitionWork

log = logging.getLogger("segflow.streams")

#: Key of an anonymous id's link in the ``identities`` table.
LINK = b"a:"


class Identities(Ingest, PartitionWork):
    """Identifies, merges and known visitors' events (see the module docstring)."""

    identities: Any

    async def process_work(self, partition: int, work: Work, dirty: Dirty) -> None:
        """An identify (the visitor's side, or a merge: the customer's), a known
        visitor's event (sent on to its customer), or any other event (stepped here)."""
        event = work.event
        if isinstance(event, EraseCommand):
            await self.erase(partition, work, event, dirty)
        elif self.erased(event, work.merge):
            self.metrics.identity("erased_dropped")
        elif isinstance(event, IdentifyEvent):
            if work.merge:
                await self.join(partition, work, dirty)
            else:
                await self.link(partition, work, dirty)
        elif not await self.route_known_visitor(work):
            await self.handle_event(partition, work, dirty)

    # -- erasure ------------------------------------------------------------------------

    def erased(self, event: Event, merge: bool) -> bool:
        """Whether the event names an id erased (in this partition) within the window: the
        id it was routed by (an identify's anonymous id; a merge's customer id)."""
        keys = [event.customer_id] if merge else [event.routing_key]
        window = self.holder.model.config.erasure.window_days * DAY
        t = event.occurred_at.timestamp()
        for key in keys:
            stored = self.identities.get(erased_key(key)) if key is not None else None
            if stored is not None and t <= float(stored) + window:
                return True
        return False

    async def erase(self, partition: int, work: Work, command: EraseCommand, dirty: Dirty) -> None:
        """Erase a customer here (``work.unlink`` None) or one of its linked anonymous
        ids: exit changes without reasons or scores, the profile and the link removed
        (tombstones), the id remembered as erased (by its hash) for the window. The
        linked anonymous ids are told first, in their partitions."""
        t = command.occurred_at.timestamp()
        if work.unlink is None:
            key, erased = command.customer_id.encode(), command.customer_id
            profile = self.profile_of(key, dirty)
            for anonymous in profile.aliases if profile is not None else []:
                await self.send_unlink(anonymous, command)
        else:
            key, erased = anonymous_key(work.unlink).encode(), work.unlink
            profile = self.profile_of(key, dirty)
            link = LINK + work.unlink.encode()
            if self.identities.get(link) is not None:
                del self.identities[link]
        if profile is not None:
            gone = exit_all(profile, self.holder.model, t, self.now(), "erased")
            self.forget(partition, key, profile, dirty)
            await self.publish_changes(key, gone.changes)
        self.identities[erased_key(erased)] = repr(t).encode()
        self.metrics.identity("erased" if work.unlink is None else "erased_link")

    def linked_customer(self, anonymous_id: str) -> str | None:
        """The customer ``anonymous_id`` is linked to (in this partition), or None."""
        stored = self.identities.get(LINK + anonymous_id.encode())
        return stored.decode() if stored is not None else None

    async def route_known_visitor(self, work: Work) -> bool:
        """Send an event of a linked visitor on to its customer; whether it was one."""
        event = work.event
        if event.customer_id is not None or event.anonymous_id is None or work.merge:
            return False
        customer = self.linked_customer(event.anonymous_id)
        if customer is None:
            return False
        await self.forward_to_customer(work, customer)
        return True

    async def link(self, partition: int, work: Work, dirty: Dirty) -> None:
        """The visitor's side of an identify (see the module docstring)."""
        event = work.event
        assert isinstance(event, IdentifyEvent)
        anonymous, customer = event.anonymous_id, event.customer_id
        linked = self.linked_customer(anonymous)
        visitor_key = anonymous_key(anonymous).encode()
        visitor = self.profile_of(visitor_key, dirty)
        config = self.holder.model.config.identity
        known = self.profile_of(anonymous.encode(), dirty) is not None
        why = refusal(anonymous, customer, linked, None, known, config)
        if why is not None:
            self.metrics.identity(f"refused_{why}")
            await self.send_dead_letter(
                origin=work.origin,
                key=work.key,
                raw=work.raw,
                error=f"identify refused: {why.replace('_', ' ')}",
                reason=f"identity_{why}",
                field="anonymous_id",
                stage=PROFILE,
            )
            return
        if linked == customer and visitor is None:
            self.metrics.identity("repeated")
            return
        await self.send_merge(event, visitor, work.origin)
        self.identities[LINK + anonymous.encode()] = customer.encode()
        self.metrics.identity("linked")
        if visitor is not None:
            t = event.occurred_at.timestamp()
            gone = exit_all(visitor, self.holder.model, t, self.now(), "merged", event.event_id)
            self.forget(partition, visitor_key, visitor, dirty)
            await self.publish_changes(visitor_key, gone.changes)

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
