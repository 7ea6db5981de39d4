"""``GET /customers/{id}``: a customer id, an anonymous id, or a visitor's ``~anon:`` key.

The request is routed to the worker owning the id's partition (a visitor's by its
anonymous id, as its events are). There, a customer's profile answers; otherwise an
anonymous id linked to a customer is resolved by asking for that customer (routed in
turn to its owner); otherwise the anonymous visitor's own profile answers; else 404.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from pydantic import BaseModel

from segflow.models.events import anonymous_id_of, anonymous_key
from segflow.models.features import profile_features
from segflow.models.profile import Profile
from segflow.models.timeutil import DAY, from_epoch
from segflow.models.value import PurchaseRecord

from .identity_keys import LINK
from .model_holder import ModelHolder
from .settings import Settings
from .views import CUSTOMER_PATH, PEER_TIMEOUT_S, CustomerView, ErrorView, PurchasesView, SegmentRef
from .web_guard import bearer_headers

log = logging.getLogger("segflow.streams")


class Pipeline(Protocol):
    """What a lookup reads of the worker (``api.Pipeline`` is one)."""

    app: Any
    settings: Settings
    holder: ModelHolder
    profiles: Any
    identities: Any

    def segment_names(self) -> dict[str, str]: ...

    def current_profile(self, customer: bytes) -> Profile | None: ...


def segment_ref(pipeline: Pipeline, segment: str | None) -> SegmentRef | None:
    if segment is None:
        return None
    return SegmentRef(id=segment, name=pipeline.segment_names().get(segment))


def purchases_view(purchases: PurchaseRecord | None) -> PurchasesView | None:
    if purchases is None:
        return None
    return PurchasesView(
        first_purchase=from_epoch(purchases.first),
        last_purchase=from_epoch(purchases.last),
        purchase_days=purchases.days,
        spend=round(purchases.spend, 4),
    )


def customer_view(pipeline: Pipeline, profile: Profile, served_by: str) -> CustomerView:
    """A stored profile as the API shows it (features and scores at its newest event)."""
    model = pipeline.holder.model
    features = profile_features(profile, profile.as_of, model.config.half_life_days * DAY)
    rules = [segment_ref(pipeline, s) for s in profile.rule_segments]
    visitor = anonymous_id_of(profile.customer_id)
    purchases = PurchaseRecord.of(profile)
    return CustomerView(
        customer_id=profile.customer_id,
        anonymous=visitor is not None,
        anonymous_ids=[visitor] if visitor is not None else list(profile.aliases),
        as_of=from_epoch(profile.as_of),
        first_seen=from_epoch(profile.first_seen),
        features={k: round(v, 6) for k, v in features.items()},
        scores=model.scores(features, purchases, profile.as_of),
        purchases=purchases_view(purchases),
        segment=segment_ref(pipeline, profile.segment),
        pending_segment=segment_ref(pipeline, profile.pending),
        rule_segments=[r for r in rules if r is not None],
        event_counts=dict(profile.event_counts),
        properties=dict(profile.properties),
        model_version=model.version,
        served_by=served_by,
    )


async def lookup(pipeline: Pipeline, asked: str, own: str) -> tuple[int, BaseModel]:
    """The answer to ``GET /customers/{asked}`` on the worker owning its partition."""
    stored = pipeline.current_profile(asked.encode())
    if stored is not None:
        return 200, customer_view(pipeline, stored, own)
    anonymous = anonymous_id_of(asked) or asked
    linked = pipeline.identities.get(LINK + anonymous.encode())
    if linked is not None:
        status, body = await ask(pipeline, own, linked.decode())
        if isinstance(body, CustomerView):
            body = body.model_copy(update={"resolved_from": anonymous})
        return status, body
    stored = pipeline.current_profile(anonymous_key(anonymous).encode())
    if stored is not None:
        return 200, customer_view(pipeline, stored, own)
    return 404, ErrorView(detail=f"unknown customer or anonymous id {asked!r}")


async def ask(pipeline: Pipeline, own: str, customer_id: str) -> tuple[int, BaseModel]:
    """``GET /customers/{customer_id}`` through this worker (routed to the owner)."""
    url = own.rstrip("/") + CUSTOMER_PATH.format(customer_id=customer_id)
    headers = bearer_headers(pipeline.settings.web_token)
    client: Any = pipeline.app.http_client
    try:
        async with asyncio.timeout(PEER_TIMEOUT_S):
            async with client.get(url, headers=headers) as response:
                body = await response.read()
                if response.status == 200:
                    return 200, CustomerView.model_validate_json(body)
                return response.status, ErrorView.model_validate_json(body)
    except Exception as error:
        log.warning("asking for linked customer %s failed: %r", customer_id, error)
        return 502, ErrorView(detail=f"the owner of linked customer {customer_id!r} did not answer")
