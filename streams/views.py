"""The worker's HTTP contract: its routes, the pydantic models of its responses and
the OpenAPI document generated from them (``streams/static/openapi.json``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

CUSTOMER_PATH = "/customers/{customer_id}"
SEGMENTS_PATH = "/segments"
MEMBERS_PATH = "/segments/{segment_id}/members"
MEMBER_COUNT_PATH = "/segments/{segment_id}/members/count"
#: One worker's own members of a segment (what the asked worker fans out to).
LOCAL_MEMBERS_PATH = "/segflow/local/members/{segment_id}"
#: Most members one page may hold.
MAX_PAGE = 10_000
HEALTH_PATH = "/healthz"
LIVE_PATH = "/livez"
DASHBOARD_PATH = "/"
DASHBOARD_DATA_PATH = "/dashboard/data"
DASHBOARD_SCRIPT_PATH = "/dashboard.js"
DASHBOARD_STYLE_PATH = "/dashboard.css"
LOCAL_PATH = "/segflow/local/"
OPENAPI_PATH = "/openapi.json"
#: How long a worker waits for a peer's part of a fan-out.
PEER_TIMEOUT_S = 3.0
#: Transitions are counted over this window.
TRANSITION_WINDOW_S = 3600.0
#: Segment sizes are sampled this often, and kept this long.
HISTORY_EVERY_S = 5.0
HISTORY_KEEP_S = 3600.0


class SegmentRef(BaseModel):
    """A segment's id and readable name."""

    id: str
    name: str | None


class PurchasesView(BaseModel):
    """A customer's purchase statistics, the inputs of its value scores."""

    first_purchase: datetime
    last_purchase: datetime
    purchase_days: int = Field(description="Days with a purchase (UTC days).")
    spend: float = Field(description="Lifetime spend, refunds taken off.")


class CustomerView(BaseModel):
    """``GET /customers/{customer_id}``."""

    customer_id: str = Field(
        description="The profile's key: the customer id, or `~anon:<id>` for an anonymous "
        "visitor who has not identified."
    )
    anonymous: bool = Field(False, description="Whether this is an anonymous visitor's profile.")
    anonymous_ids: list[str] = Field(
        default_factory=list,
        description="The anonymous ids whose history this profile holds: a customer's "
        "linked ids, or a visitor's own.",
    )
    resolved_from: str | None = Field(
        None, description="The anonymous id asked for, when it is linked to this customer."
    )
    as_of: datetime = Field(description="Event time of the customer's newest event.")
    first_seen: datetime
    features: dict[str, float] = Field(description="Readable features at as_of.")
    scores: dict[str, float] = Field(
        description="Scores at as_of: engagement, email_responsiveness, content_intent, "
        "value; once the customer bought, customer_age_days and (once the trainer fitted "
        "them) p_alive, expected_purchases_90d, expected_value_90d, value_percentile; "
        "purchase_propensity once learned."
    )
    purchases: PurchasesView | None = Field(
        None, description="The customer's purchase statistics (null: never bought)."
    )
    segment: SegmentRef | None = Field(description="Behavioral segment (null: none yet).")
    pending_segment: SegmentRef | None
    rule_segments: list[SegmentRef]
    event_counts: dict[str, int]
    properties: dict[str, str | int | float | bool]
    model_version: int
    served_by: str = Field(description="host:port of the worker that owns the customer.")


class SegmentView(BaseModel):
    id: str
    name: str
    size: int = Field(description="Customers currently assigned, over all workers answering.")
    share: float = Field(description="Share of the model's decayed weight.")
    centroid: dict[str, float] = Field(description="Centroid in readable feature units.")


class SegmentsView(BaseModel):
    """``GET /segments``."""

    model_version: int
    model_seq: int
    complete: bool = Field(description="Whether every worker answered (sizes are sums).")
    workers: int
    segments: list[SegmentView]


class HealthView(BaseModel):
    """``GET /healthz``, readiness (200 ready, 503 not: ``problems`` says why)."""

    status: Literal["ok", "starting", "unhealthy"]
    model_ready: bool
    rebalancing: bool
    recovering: bool
    #: What keeps the worker from being ready (empty when ``status`` is ``ok``).
    problems: list[str] = []


class LivenessView(BaseModel):
    """``GET /livez``, liveness (200 while the worker runs, 503 once it crashed)."""

    status: Literal["alive", "crashed"]


class ErrorView(BaseModel):
    detail: str


class MembersView(BaseModel):
    """``GET /segments/{segment_id}/members``: one page of a segment's members."""

    segment_id: str
    members: list[str] = Field(
        description="Customer ids (a visitor's `~anon:<id>`) in id order, after the cursor."
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
    complete: bool = Field(
        description="Whether every worker answered, each with all its partitions read "
        "since the last rebalance."
    )


class MemberCountView(BaseModel):
    """``GET /segments/{segment_id}/members/count``."""

    segment_id: str
    count: int
    complete: bool = Field(
        description="Whether every worker answered with all its partitions read (the count "
        "is a sum)."
    )


class LocalMembersView(BaseModel):
    """One worker's own members of a segment (``/segflow/local/members/{segment_id}``)."""

    members: list[str]
    count: int
    loaded: bool = Field(
        True, description="Whether every partition this worker owns is read since a rebalance."
    )


class Transition(BaseModel):
    kind: str
    from_segment: str | None
    to_segment: str | None
    count: int


class SizePoint(BaseModel):
    t: float = Field(description="Epoch seconds (processing time).")
    sizes: dict[str, int]


class LocalView(BaseModel):
    """``GET /segflow/local/``: one worker's own part of the deployment's state."""

    worker: str
    sizes: dict[str, int]
    history: list[SizePoint]
    transitions: list[Transition]
    changes: list[dict[str, Any]]
    drifts: list[dict[str, Any]]


class DashboardView(BaseModel):
    """``GET /dashboard/data``: every worker's part, merged."""

    generated_at: float
    model_version: int
    names: dict[str, str]
    workers: int
    complete: bool
    sizes: dict[str, int]
    history: list[SizePoint]
    transitions: list[Transition]
    changes: list[dict[str, Any]]
    drifts: list[dict[str, Any]]


#: The documented GET routes: path, summary, and the response model and text by status.
#: All but :data:`HEALTH_PATH` and :data:`LIVE_PATH` need the token when the worker has
#: one (``SEGFLOW_WEB_TOKEN``).
ROUTES: tuple[tuple[str, str, dict[str, tuple[type[BaseModel], str]]], ...] = (
    (
        CUSTOMER_PATH,
        "One customer's profile features, scores and segments, by customer id or by "
        "anonymous id (a linked one answers with its customer, `resolved_from` set; one "
        "not yet identified with the visitor's own profile). Answered by the worker "
        "owning the id's partition.",
        {
            "200": (CustomerView, "The customer (or the anonymous visitor)."),
            "404": (ErrorView, "Unknown customer or anonymous id."),
            "502": (ErrorView, "The worker owning a linked customer did not answer."),
        },
    ),
    (
        SEGMENTS_PATH,
        "Every behavioral segment: id, name, size, centroid, model.",
        {"200": (SegmentsView, "The segments.")},
    ),
    (
        MEMBERS_PATH,
        "A segment's members (behavioral or rule segment id), over all workers, in "
        "customer id order, a page at a time: `cursor` is the last id of the page before "
        "(none: from the start), `limit` the page size (1-10000, default 1000).",
        {
            "200": (MembersView, "One page."),
            "400": (ErrorView, "A limit out of range."),
        },
    ),
    (
        MEMBER_COUNT_PATH,
        "How many customers a segment has, over all workers.",
        {"200": (MemberCountView, "The count.")},
    ),
    (
        HEALTH_PATH,
        "Ready once the worker joined its group, recovered its tables and read the shared "
        "model, while the broker answers and has the worker's topics.",
        {"200": (HealthView, "Ready."), "503": (HealthView, "Not ready, and why.")},
    ),
    (
        LIVE_PATH,
        "Alive while the worker runs (the event loop answers and it has not crashed).",
        {"200": (LivenessView, "Alive."), "503": (LivenessView, "Crashed: restart it.")},
    ),
    (
        DASHBOARD_DATA_PATH,
        "What the dashboard at / shows, merged over all workers.",
        {"200": (DashboardView, "Dashboard data.")},
    ),
)


#: Example values of path parameters (the README's example customer).
PARAMETER_EXAMPLES = {"customer_id": "c01725", "segment_id": "seg-1"}
#: Query parameters of the routes that have some.
QUERY_PARAMETERS: dict[str, list[dict[str, Any]]] = {
    MEMBERS_PATH: [
        {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1000},
        },
    ]
}
#: The security scheme of the routes that need the token.
BEARER = "bearerToken"
UNAUTHORIZED = (ErrorView, "No token, or a wrong one (when the worker has SEGFLOW_WEB_TOKEN).")


def _operation(
    path: str, summary: str, responses: dict[str, tuple[type[BaseModel], str]]
) -> dict[str, Any]:
    """One route's OpenAPI ``get`` operation; ``{name}`` in the path is a string parameter.
    Every route but the health checks needs the bearer token (when the worker has one)."""
    operation: dict[str, Any] = {"summary": summary}
    if path in (HEALTH_PATH, LIVE_PATH):
        operation["security"] = []
    else:
        responses = {**responses, "401": UNAUTHORIZED}
    names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
    if names:
        operation["parameters"] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                **({"example": PARAMETER_EXAMPLES[name]} if name in PARAMETER_EXAMPLES else {}),
            }
            for name in names
        ]
    operation["parameters"] = operation.get("parameters", []) + QUERY_PARAMETERS.get(path, [])
    if not operation["parameters"]:
        del operation["parameters"]
    operation["responses"] = {
        status: {
            "description": text,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
        for status, (model, text) in responses.items()
    }
    return {"get": operation}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API routes (schemas from the pydantic models)."""
    from pydantic.json_schema import models_json_schema

    models: list[type[BaseModel]] = [
        CustomerView,
        SegmentsView,
        HealthView,
        LivenessView,
        ErrorView,
        DashboardView,
        MembersView,
        MemberCountView,
    ]
    _, defs = models_json_schema(
        [(m, "serialization") for m in models], ref_template="#/components/schemas/{model}"
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": "segflow worker API", "version": "1"},
        "paths": {path: _operation(path, text, answers) for path, text, answers in ROUTES},
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "SEGFLOW_WEB_TOKEN, when the worker has one (the "
                    "dashboard also takes it once as /?token=..., kept in a cookie).",
                }
            },
        },
        "security": [{BEARER: []}],
    }
