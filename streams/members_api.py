"""A segment's members over HTTP, across workers.

Each worker knows the members among its own partitions (:class:`.local_state.SegmentSizes`)
and answers ``GET /segflow/local/members/{segment_id}?after=..&limit=..`` for them. The
worker asked for ``GET /segments/{segment_id}/members?cursor=..&limit=..`` asks every
peer for its first ``limit`` ids after the cursor, merges them with its own in id order
and keeps the first ``limit``: the order is the ids', so it is stable across workers
and rebalances, and the next page starts after the last id of this one.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode

from .local_state import SegmentSizes
from .ops_pages import assignment
from .settings import Settings
from .views import (
    LOCAL_MEMBERS_PATH,
    MAX_PAGE,
    MEMBER_COUNT_PATH,
    MEMBERS_PATH,
    PEER_TIMEOUT_S,
    ErrorView,
    LocalMembersView,
    MemberCountView,
    MembersView,
)
from .web_guard import bearer_headers

log = logging.getLogger("segflow.streams")

#: Page size when the request names none.
DEFAULT_PAGE = 1000


class Pipeline(Protocol):
    """What the member lists read of the worker."""

    app: Any
    settings: Settings
    sizes: SegmentSizes


def page_size(raw: str | None) -> int | None:
    """The ``limit`` asked for, or None when it is no integer in 1..MAX_PAGE.

    >>> page_size(None), page_size("20"), page_size("0"), page_size("x")
    (1000, 20, None, None)
    """
    try:
        limit = DEFAULT_PAGE if raw is None else int(raw)
    except ValueError:
        return None
    return limit if 1 <= limit <= MAX_PAGE else None


def local_members(pipeline: Pipeline, segment: str, after: str, limit: int) -> LocalMembersView:
    """This worker's members; ``loaded`` false while a partition it owns has not been
    read since a rebalance (its first batch there reads it)."""
    sizes = pipeline.sizes
    found, count = sizes.page(segment, after, limit)
    owned = assignment(pipeline.app).get(pipeline.settings.topics.events, [])
    loaded = all(sizes.loaded(partition) for partition in owned)
    return LocalMembersView(members=found, count=count, loaded=loaded)


async def gather_members(
    pipeline: Pipeline, segment: str, after: str, limit: int
) -> tuple[list[LocalMembersView], bool]:
    """This worker's members and every peer's; whether every peer answered."""
    app = pipeline.app
    own = str(app.conf.canonical_url).rstrip("/")
    try:
        peers = {str(url).rstrip("/") for url in app.router.tables_metadata()} - {own}
    except Exception:
        peers = set()
    headers = bearer_headers(pipeline.settings.web_token)
    query = urlencode({"after": after, "limit": limit})
    path = LOCAL_MEMBERS_PATH.format(segment_id=segment)

    async def fetch(url: str) -> LocalMembersView | None:
        try:
            async with asyncio.timeout(PEER_TIMEOUT_S):
                async with app.http_client.get(f"{url}{path}?{query}", headers=headers) as r:
                    if r.status != 200:
                        return None
                    return LocalMembersView.model_validate_json(await r.read())
        except Exception:
            log.warning("peer %s did not answer for members of %s", url, segment)
            return None

    answers = await asyncio.gather(*(fetch(url) for url in sorted(peers)))
    parts = [local_members(pipeline, segment, after, limit)]
    parts += [a for a in answers if a is not None]
    complete = all(a is not None for a in answers) and all(part.loaded for part in parts)
    return parts, complete


def merge_page(
    segment: str, parts: list[LocalMembersView], limit: int, complete: bool
) -> MembersView:
    """The first ``limit`` ids of the parts, in id order, and the cursor after them."""
    merged = list(heapq.merge(*(part.members for part in parts)))
    more = len(merged) > limit or any(len(part.members) == limit for part in parts)
    page = merged[:limit]
    cursor = page[-1] if page and more else None
    return MembersView(segment_id=segment, members=page, next_cursor=cursor, complete=complete)


def register_members(app: Any, pipeline: Pipeline, reply: Callable[..., Any]) -> None:
    """Add the member routes to ``app`` (``reply(view, model, status)`` answers JSON)."""

    async def members(view: Any, request: Any, segment_id: str) -> Any:
        limit = page_size(request.query.get("limit"))
        if limit is None:
            return reply(view, ErrorView(detail=f"limit must be 1-{MAX_PAGE}"), 400)
        after = request.query.get("cursor", "")
        parts, complete = await gather_members(pipeline, segment_id, after, limit)
        return reply(view, merge_page(segment_id, parts, limit, complete))

    async def count(view: Any, request: Any, segment_id: str) -> Any:
        parts, complete = await gather_members(pipeline, segment_id, "", 1)
        total = sum(part.count for part in parts)
        return reply(view, MemberCountView(segment_id=segment_id, count=total, complete=complete))

    async def local(view: Any, request: Any, segment_id: str) -> Any:
        limit = page_size(request.query.get("limit")) or DEFAULT_PAGE
        after = request.query.get("after", "")
        return reply(view, local_members(pipeline, segment_id, after, limit))

    for path, page in (
        (MEMBERS_PATH, members),
        (MEMBER_COUNT_PATH, count),
        (LOCAL_MEMBERS_PATH, local),
    ):
        app.page(path)(page)
