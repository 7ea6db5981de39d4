"""The schema of a model snapshot, checked in full before a snapshot becomes a model.

A snapshot (:meth:`~segflow.models.model.SegmentModel.to_snapshot`) crosses process
boundaries: one trainer writes it, every worker rebuilds a model from it. Whoever can
write where snapshots travel could hand a worker anything, so :func:`check_snapshot`
reads the bytes against strict pydantic models before anything else looks at them:

* **types**: ints are ints (not ``1.0``, ``true`` or ``"1"``), floats are numbers and
  finite (no ``NaN``, ``Infinity`` or ``1e999``), nothing is missing, nothing is extra;
* **shapes**: with ``d`` features and ``k`` segments the centres are ``k x d``, the
  weights and radii ``k``, the ids ``k`` unique positive ints below ``next_id``, the
  running mean and variance ``d``, every recent point and outlier ``d``, one stamp per
  recent point, and the engagement histogram :data:`~segflow.models.scoring.N_BINS`
  bins; weights, radii and histogram counts are not negative;
* **sizes**: at most :data:`MAX_SNAPSHOT_BYTES` bytes, :data:`MAX_SEGMENTS` segments,
  :data:`MAX_FEATURES` features, :data:`MAX_ROWS` recent points or outliers (and never
  more than the clusterer keeps), counters and ids up to :data:`MAX_COUNT`;
* **settings**: the clusterer's parameters (features, number of segments, half-life,
  reservoir size, ...) are exactly the ones the reader's engine settings give, and so
  is the engagement scorer's half-life.

Anything else raises :class:`~segflow.models.errors.SnapshotError` with one printable
line naming the first problem, and a ``reason``: ``size``, ``schema`` or ``settings``
(:data:`REJECT_REASONS` adds the envelope's ``envelope`` and ``signature``).

>>> from segflow.models.config import EngineConfig
>>> from segflow.models.model import SegmentModel, new_clusterer
>>> config = EngineConfig(warmup_samples=10, warmup_days=0)
>>> model = SegmentModel.create(config)
>>> for i in range(12):
...     model.learn_one({"clicks": float(i % 3)}, t=float(i))
>>> params = new_clusterer(config)._get_params()
>>> check_snapshot(model.to_snapshot(), params).clusterer.ids
[1, 2, 3, 4, 5, 6]
>>> forged = model.to_snapshot().replace(b'"ids":[1,', b'"ids":["1",')
>>> check_snapshot(forged, params)
Traceback (most recent call last):
...
segflow.models.errors.SnapshotError: clusterer.ids.0: Input should be a valid integer
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import FirstError, SnapshotError
from .scoring import N_BINS, EngagementScorer

#: Largest snapshot read (a default model's is ~150 KB, at most ~1.2 MB).
MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024
#: Most segments (``EngineConfig.n_segments`` allows up to 64).
MAX_SEGMENTS = 64
#: Most clustering features (the engine has 11).
MAX_FEATURES = 64
#: Most recent points, stamps or outliers (the clusterer keeps 2,000).
MAX_ROWS = 10_000
#: Largest counter, id or publication number: the integers JSON readers (JavaScript's
#: included) all read exactly.
MAX_COUNT = 2**53
#: Most refit restarts a snapshot may ask of the trainer.
MAX_N_INIT = 100
#: Longest error line.
MAX_DETAIL = 200

#: Why a snapshot is refused: not a snapshot envelope; unsigned or badly signed; too
#: big; not the schema; learned under other engine settings.
REJECT_REASONS: tuple[str, ...] = ("envelope", "signature", "size", "schema", "settings")

NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
#: A behavioral segment's id inside the model (its public id is ``seg-<id>``).
SegmentId = Annotated[int, Field(ge=1, le=MAX_COUNT)]
FeatureName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
Features = Annotated[list[FeatureName], Field(min_length=1, max_length=MAX_FEATURES)]
Vector = Annotated[list[float], Field(max_length=MAX_FEATURES)]
Rows = Annotated[list[Vector], Field(max_length=MAX_ROWS)]


class _Strict(BaseModel):
    """Strict JSON: exact types, finite numbers, every field present, none extra."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class ClustererParams(_Strict):
    """The clusterer's constructor arguments (see :class:`~.clustering.SegmentClusterer`)."""

    n_clusters: Annotated[int, Field(ge=2, le=MAX_SEGMENTS)]
    halflife: Positive
    time_based: bool
    warmup: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    warmup_time: NonNegative
    recent: Annotated[int, Field(ge=1, le=MAX_ROWS)]
    recent_time: NonNegative
    death_share: NonNegative
    merge_distance: NonNegative
    outlier_factor: Positive
    maintain_every: Annotated[int, Field(ge=1, le=MAX_COUNT)]
    refit_every: Count
    refit_gain: float
    match_distance: NonNegative
    n_init: Annotated[int, Field(ge=1, le=MAX_N_INIT)]
    features: Features
    seed: Annotated[int, Field(ge=-MAX_COUNT, le=MAX_COUNT)]


class ClustererState(_Strict):
    """:meth:`~.clustering.SegmentClusterer.to_state` of a model's clusterer."""

    params: ClustererParams
    features: Features
    n_updates: Count
    last_t: float | None
    next_id: SegmentId
    outlier_weight: NonNegative
    scale_weight: NonNegative
    first_t: float | None
    span_count: NonNegative
    births: Count
    deaths: Count
    refits: Count
    warm_start: float | None = None
    ids: Annotated[list[SegmentId], Field(max_length=MAX_SEGMENTS)]
    stamps: Annotated[list[float], Field(max_length=MAX_ROWS)]
    outliers: Rows
    ring: Rows
    centers: Annotated[list[Vector], Field(max_length=MAX_SEGMENTS)] | None
    weights: Annotated[list[NonNegative], Field(max_length=MAX_SEGMENTS)] | None
    r2: Annotated[list[NonNegative], Field(max_length=MAX_SEGMENTS)] | None
    mean: Vector | None
    m2: Vector | None

    @model_validator(mode="after")
    def _shapes(self) -> ClustererState:
        d = len(self.features)
        if len(set(self.features)) != d:
            raise ValueError("features are repeated")
        if self.params.features != self.features:
            raise ValueError("params.features and features differ")
        if (self.mean is None) != (self.n_updates == 0) or (self.m2 is None) != (self.mean is None):
            raise ValueError("mean and m2 are set once the clusterer has learned, and only then")
        for name, vector in (("mean", self.mean), ("m2", self.m2)):
            _expect_length(name, vector, d, "features")
        _check_centres(self, d)
        if len(set(self.ids)) != len(self.ids):
            raise ValueError("ids are repeated")
        if self.ids and max(self.ids) >= self.next_id:
            raise ValueError(f"ids must be below next_id ({self.next_id})")
        recent = self.params.recent
        for name, rows in (("ring", self.ring), ("outliers", self.outliers)):
            if len(rows) > recent:
                raise ValueError(f"{name} has {len(rows)} points, the clusterer keeps {recent}")
            for i, row in enumerate(rows):
                _expect_length(f"{name}.{i}", row, d, "features")
        _expect_length("stamps", self.stamps, len(self.ring), "recent points")
        return self


def _expect_length(name: str, values: list[Any] | None, n: int, of: str) -> None:
    if values is not None and len(values) != n:
        raise ValueError(f"{name} has {len(values)} values for {n} {of}")


def _check_centres(state: ClustererState, d: int) -> None:
    """Centres, weights and radii: all absent before seeding (and no ids), else one per
    segment, each centre with ``d`` values."""
    arrays = {"centers": state.centers, "weights": state.weights, "r2": state.r2}
    if all(value is None for value in arrays.values()):
        if state.ids:
            raise ValueError("ids without centres")
        return
    if any(value is None for value in arrays.values()):
        raise ValueError("centers, weights and r2 are all set or all null")
    if state.mean is None:
        raise ValueError("centres without a running mean")
    k = state.params.n_clusters
    _expect_length("ids", state.ids, k, "segments")
    for name, values in arrays.items():
        _expect_length(name, values, k, "segments")
    for j, row in enumerate(state.centers or []):
        _expect_length(f"centers.{j}", row, d, "features")


class EngagementState(_Strict):
    """:meth:`~.scoring.EngagementScorer.to_state`."""

    halflife: Positive
    counts: Annotated[list[NonNegative], Field(min_length=N_BINS, max_length=N_BINS)]
    total: NonNegative


Finite = float  # _Strict refuses NaN and infinities
InputName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
Weights = Annotated[dict[InputName, Finite], Field(max_length=2 * MAX_FEATURES)]


class ValueState(_Strict):
    """:meth:`~.value.ValueModel.to_state`: BG/NBD, and Gamma-Gamma when fitted."""

    bgnbd_r: Positive
    bgnbd_alpha: Positive
    bgnbd_a: Positive
    bgnbd_b: Positive
    gg_p: Positive | None = None
    gg_q: Positive | None = None
    gg_v: Positive | None = None
    spend_quantiles: Annotated[list[NonNegative], Field(max_length=101)]
    customers: Count
    fitted_at: Finite

    @model_validator(mode="after")
    def _spend(self) -> ValueState:
        if len({self.gg_p is None, self.gg_q is None, self.gg_v is None}) > 1:
            raise ValueError("gg_p, gg_q and gg_v are all set or all missing")
        if self.spend_quantiles != sorted(self.spend_quantiles):
            raise ValueError("spend_quantiles are not in order")
        return self

    def model_dump_state(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class PropensityState(_Strict):
    """:meth:`~.propensity.PurchasePropensity.to_state`."""

    days: Positive
    lr: Positive
    l2: NonNegative
    min_learned: Count
    learned: Count
    intercept: Finite
    weights: Weights
    counts: Annotated[dict[InputName, NonNegative], Field(max_length=2 * MAX_FEATURES)]
    means: Weights
    vars: Annotated[dict[InputName, NonNegative], Field(max_length=2 * MAX_FEATURES)]


class ModelState(_Strict):
    """What :meth:`~segflow.models.model.SegmentModel.to_snapshot` writes."""

    version: Count
    clusterer: ClustererState
    engagement: EngagementState
    #: The value model (null until fitted) and the purchase propensity.
    value: ValueState | None
    propensity: PropensityState

    @model_validator(mode="after")
    def _version(self) -> ModelState:
        if self.version != self.clusterer.n_updates:
            raise ValueError(f"version {self.version} is not n_updates {self.clusterer.n_updates}")
        return self


def printable(text: str, limit: int = MAX_DETAIL) -> str:
    """``text`` on one line of printable characters (others escaped), cut at ``limit``.

    >>> printable("seg-1\\n' onmouseover='x")
    "seg-1\\\\n' onmouseover='x"
    """
    line = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return line if len(line) <= limit else line[: limit - 3] + "..."


def check_snapshot(
    data: bytes,
    clusterer_params: Mapping[str, Any],
    engagement_halflife: float = EngagementScorer().halflife,
) -> ModelState:
    """The state a snapshot describes, once it passed every check (see the module).

    ``clusterer_params`` are the parameters the reader's engine settings give its
    clusterer (``new_clusterer(config)._get_params()``). Raises
    :class:`~segflow.models.errors.SnapshotError`.
    """
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(
            f"snapshot of {len(data):,} bytes, more than {MAX_SNAPSHOT_BYTES:,}", "size"
        )
    try:
        state = ModelState.model_validate_json(data)
    except ValidationError as error:
        first = FirstError.of(error)
        raise SnapshotError(printable(first.line(first.path)), "schema") from None
    params = state.clusterer.params.model_dump()
    differ = sorted(
        name
        for name in params.keys() | clusterer_params.keys()
        if params.get(name) != clusterer_params.get(name)
    )
    if state.engagement.halflife != engagement_halflife:
        differ.append("engagement.halflife")
    if differ:
        raise SnapshotError(
            printable(f"learned under other engine settings: {', '.join(differ)} differ"),
            "settings",
        )
    return state
