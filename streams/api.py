"""The worker's HTTP API and drift dashboard, on the Faust web server.

- ``GET /customers/{customer_id}``: one customer, by customer id or anonymous id (routed
  to the worker owning its partition; see :mod:`.customer_lookup`; 404 for an unknown
  id);
- ``GET /segments``: every behavioral segment with its size over all workers;
- ``GET /healthz``: 200 once the worker joined its group, recovered and read the model;
- ``GET /``: the drift dashboard (static HTML, its script ``/dashboard.js`` and style
  ``/dashboard.css`` polling ``GET /dashboard/data``);
- ``GET /segflow/local/``: this worker's own part (what the others fan out to);
- ``GET /openapi.json``: the OpenAPI document of these routes.

Every request passes :mod:`.web_guard` first (allowed hosts, the token, security
headers). Responses are the JSON of the pydantic models below; ``streams/static/openapi.json``
is generated from them (:func:`openapi_document`) and checked by a test.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from importlib import resources
from typing import Any, Protocol

import orjson
from faust.exceptions import SameNode
from pydantic import BaseModel

from segflow.models.events import routing_key_of
from segflow.models.profile import Profile

from .customer_lookup import lookup
from .local_state import SegmentSizes
from .members_api import register_members
from .model_holder import ModelHolder
from .settings import Settings
from .views import (
    CUSTOMER_PATH,
    DASHBOARD_DATA_PATH,
    DASHBOARD_PATH,
    DASHBOARD_SCRIPT_PATH,
    DASHBOARD_STYLE_PATH,
    HEALTH_PATH,
    HISTORY_EVERY_S,
    HISTORY_KEEP_S,
    LIVE_PATH,
    LOCAL_PATH,
    OPENAPI_PATH,
    PEER_TIMEOUT_S,
    SEGMENTS_PATH,
    TRANSITION_WINDOW_S,
    DashboardView,
    ErrorView,
    HealthView,
    LivenessView,
    LocalView,
    SegmentsView,
    SegmentView,
    SizePoint,
    Transition,
    openapi_document,
)
from .web_guard import bearer_headers


class Pipeline(Protocol):
    """What the web layer reads of a worker (the worker's ``Pipeline`` is one): read
    only, so the pages never depend on how the worker is built."""

    app: Any
    settings: Settings
    holder: ModelHolder
    sizes: SegmentSizes
    profiles: Any
    identities: Any
    web_state: WebState
    recent_changes: collections.deque[dict[str, Any]]
    recent_drifts: collections.deque[dict[str, Any]]

    def clock(self) -> float: ...

    def current_profile(self, customer: bytes) -> Profile | None: ...

    def segment_names(self) -> dict[str, str]: ...

    def healthy(self) -> bool: ...

    def problems(self) -> list[str]: ...


log = logging.getLogger("segflow.streams")


class WebState:
    """What the pages need beyond the Pipeline: transitions and size history."""

    def __init__(self) -> None:
        self.transitions: collections.deque[tuple[float, str, str | None, str | None]] = (
            collections.deque()
        )
        self.history: collections.deque[SizePoint] = collections.deque()
        #: Whether ``/healthz`` has answered ready once (later problems are "unhealthy").
        self.was_ready = False

    def change(self, at: float, kind: str, from_segment: str | None, to: str | None) -> None:
        self.transitions.append((at, kind, from_segment, to))
        self._prune(at)

    def _prune(self, now: float) -> None:
        while self.transitions and self.transitions[0][0] < now - TRANSITION_WINDOW_S:
            self.transitions.popleft()
        while self.history and self.history[0].t < now - HISTORY_KEEP_S:
            self.history.popleft()

    def sample(self, now: float, sizes: dict[str, int]) -> None:
        self.history.append(SizePoint(t=round(now, 3), sizes=sizes))
        self._prune(now)

    def transition_counts(self, now: float) -> list[Transition]:
        self._prune(now)
        counts = collections.Counter((k, a, b) for _, k, a, b in self.transitions)
        return [
            Transition(kind=k, from_segment=a, to_segment=b, count=n)
            for (k, a, b), n in sorted(counts.items(), key=lambda kv: -kv[1])
        ]


def _json(view: Any, model: BaseModel, status: int = 200) -> Any:
    return view.bytes(
        model.model_dump_json().encode(), content_type="application/json", status=status
    )


def local_sizes(pipeline: Pipeline) -> dict[str, int]:
    sizes, _ = pipeline.sizes.totals()
    return {segment: n for (kind, segment), n in sizes.items() if kind == "behavioral"}


def local_view(pipeline: Pipeline, state: WebState) -> LocalView:
    now = pipeline.clock()
    return LocalView(
        worker=str(pipeline.app.conf.canonical_url),
        sizes=local_sizes(pipeline),
        history=list(state.history),
        transitions=state.transition_counts(now),
        changes=list(pipeline.recent_changes)[-50:],
        drifts=list(pipeline.recent_drifts)[-50:],
    )


async def gather_local(pipeline: Pipeline, state: WebState) -> tuple[list[LocalView], bool]:
    """This worker's part and every peer's (by the table's assignment metadata); the
    requests to peers carry the token."""
    app = pipeline.app
    own = str(app.conf.canonical_url).rstrip("/")
    headers = bearer_headers(pipeline.settings.web_token)
    parts = [local_view(pipeline, state)]
    complete = True
    try:
        peers = {str(url).rstrip("/") for url in app.router.tables_metadata()} - {own}
    except Exception:
        peers = set()

    async def fetch(url: str) -> LocalView | None:
        try:
            async with asyncio.timeout(PEER_TIMEOUT_S):
                async with app.http_client.get(url + LOCAL_PATH, headers=headers) as response:
                    if response.status != 200:
                        return None
                    return LocalView.model_validate_json(await response.read())
        except Exception:
            log.warning("peer %s did not answer", url)
            return None

    for result in await asyncio.gather(*(fetch(url) for url in sorted(peers))):
        if result is None:
            complete = False
        else:
            parts.append(result)
    return parts, complete


def merge_dashboard(
    pipeline: Pipeline, parts: list[LocalView], complete: bool, now: float
) -> DashboardView:
    sizes: collections.Counter[str] = collections.Counter()
    transitions: collections.Counter[tuple[str, str | None, str | None]] = collections.Counter()
    history: dict[float, collections.Counter[str]] = {}
    changes: list[dict[str, Any]] = []
    drifts: list[dict[str, Any]] = []
    for part in parts:
        sizes.update(part.sizes)
        for t in part.transitions:
            transitions[(t.kind, t.from_segment, t.to_segment)] += t.count
        for point in part.history:
            bucket = round(point.t / HISTORY_EVERY_S) * HISTORY_EVERY_S
            history.setdefault(bucket, collections.Counter()).update(point.sizes)
        changes += part.changes
        drifts += part.drifts
    changes.sort(key=lambda c: str(c.get("emitted_at", "")), reverse=True)
    drifts.sort(key=lambda d: str(d.get("detected_at", "")), reverse=True)
    return DashboardView(
        generated_at=now,
        model_version=pipeline.holder.model.version,
        names=pipeline.segment_names(),
        workers=len(parts),
        complete=complete,
        sizes=dict(sizes),
        history=[SizePoint(t=t, sizes=dict(c)) for t, c in sorted(history.items())],
        transitions=[
            Transition(kind=k, from_segment=a, to_segment=b, count=n)
            for (k, a, b), n in transitions.most_common()
        ],
        changes=changes[:50],
        drifts=drifts[:50],
    )


def segments_view(pipeline: Pipeline, parts: list[LocalView], complete: bool) -> SegmentsView:
    """``GET /segments``: the model's segments with their sizes summed over ``parts``."""
    sizes: collections.Counter[str] = collections.Counter()
    for part in parts:
        sizes.update(part.sizes)
    holder = pipeline.holder
    return SegmentsView(
        model_version=holder.model.version,
        model_seq=holder.seq,
        complete=complete,
        workers=len(parts),
        segments=[
            SegmentView(
                id=s.id,
                name=s.name,
                size=sizes.get(s.id, 0),
                share=round(s.share, 6),
                centroid=s.centroid,
            )
            for s in holder.model.segments()
        ],
    )


def health_view(pipeline: Pipeline) -> HealthView:
    """``GET /healthz``: ``status`` is ``ok`` when the worker is ready; else ``starting``
    (it has not been ready yet) or ``unhealthy``, with the ``problems``."""
    app = pipeline.app
    problems = pipeline.problems()
    state = pipeline.web_state
    state.was_ready = state.was_ready or not problems
    return HealthView(
        status="ok" if not problems else "unhealthy" if state.was_ready else "starting",
        model_ready=pipeline.holder.ready.is_set(),
        rebalancing=bool(getattr(app, "rebalancing", False)),
        recovering=bool(getattr(app, "in_recovery", False)),
        problems=problems,
    )


def liveness_view(pipeline: Pipeline) -> LivenessView:
    """``GET /livez``: alive unless the worker crashed (it is then stopping)."""
    return LivenessView(status="crashed" if getattr(pipeline.app, "crashed", False) else "alive")


def static_page(name: str, content_type: str) -> Any:
    """A view answering the file ``static/name`` of the package."""

    async def page(view: Any, request: Any) -> Any:
        body = resources.files("segflow.streams").joinpath("static", name).read_bytes()
        return view.bytes(body, content_type=content_type)

    page.__name__ = name.replace(".", "_")  # Faust names the view after the function
    return page


def _status_json(view: Any, body: HealthView | LivenessView) -> Any:
    """A health answer: 200 when ``ok``/``alive``, else 503."""
    return _json(view, body, 200 if body.status in ("ok", "alive") else 503)


def register_api(app: Any, pipeline: Pipeline) -> WebState:
    """Add the API routes, the dashboard and the size-history timer to ``app``."""
    state = pipeline.web_state
    own = str(app.conf.canonical_url)

    async def customer(view: Any, request: Any, customer_id: str) -> Any:
        """Routed by the id's partition (a visitor's: its anonymous id's)."""
        try:
            key = routing_key_of(customer_id)
            return await app.router.route_req(pipeline.profiles.name, key, view.web, request)
        except SameNode:
            pass
        try:
            status, body = await lookup(pipeline, customer_id, own)
            return _json(view, body, status)
        except Exception as error:
            log.exception("GET customer %s failed", customer_id)
            return _json(view, ErrorView(detail=repr(error)), 500)

    async def segments(view: Any, request: Any) -> Any:
        return _json(view, segments_view(pipeline, *await gather_local(pipeline, state)))

    async def healthz(view: Any, request: Any) -> Any:
        return _status_json(view, health_view(pipeline))

    async def livez(view: Any, request: Any) -> Any:
        return _status_json(view, liveness_view(pipeline))

    async def local(view: Any, request: Any) -> Any:
        return _json(view, local_view(pipeline, state))

    async def dashboard_data(view: Any, request: Any) -> Any:
        parts, complete = await gather_local(pipeline, state)
        return _json(view, merge_dashboard(pipeline, parts, complete, pipeline.clock()))

    async def openapi(view: Any, request: Any) -> Any:
        return view.bytes(orjson.dumps(openapi_document()), content_type="application/json")

    async def sample_sizes() -> None:
        try:
            state.sample(pipeline.clock(), local_sizes(pipeline))
        except Exception:
            log.exception("size sampling failed")

    for path, page in (
        (CUSTOMER_PATH, customer),
        (SEGMENTS_PATH, segments),
        (HEALTH_PATH, healthz),
        (LIVE_PATH, livez),
        (LOCAL_PATH, local),
        (DASHBOARD_DATA_PATH, dashboard_data),
        (DASHBOARD_PATH, static_page("dashboard.html", "text/html")),
        (DASHBOARD_SCRIPT_PATH, static_page("dashboard.js", "text/javascript")),
        (DASHBOARD_STYLE_PATH, static_page("dashboard.css", "text/css")),
        (OPENAPI_PATH, openapi),
    ):
        app.page(path)(page)
    register_members(app, pipeline, _json)
    app.timer(HISTORY_EVERY_S)(sample_sizes)
    return state
