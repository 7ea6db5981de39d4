"""The engine's configuration: one frozen object, built once and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .erasure import ErasureConfig
from .identity import IdentityConfig
from .pages import DEFAULT_PAGE_STAGES, PageStage
from .value import ValueConfig


class EngineConfig(BaseModel):
    """Everything the pure step and the model need to know.

    Examples
    --------
    >>> EngineConfig().half_life_days
    7.0
    >>> EngineConfig(n_segments=1)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for EngineConfig
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    half_life_days: float = Field(7.0, gt=0, description="Half-life of profile decay, event time.")
    max_lateness_hours: float = Field(
        24.0 * 365,
        ge=0,
        description="Events older than the profile's newest event by more are late (refused). "
        "Within it a late event counts exactly as an in-order one would have.",
    )
    n_segments: int = Field(6, ge=2, le=64, description="Number of behavioral segments.")
    model_halflife_days: float = Field(
        7.0, gt=0, description="Half-life of the clustering model's evidence, event time."
    )
    hysteresis_margin: float = Field(
        0.075,
        ge=0,
        lt=1,
        description="A customer moves only when the new centroid is closer by this fraction.",
    )
    move_z: float = Field(
        0.0,
        ge=0,
        description="A customer moves only once it is this many standard deviations of "
        "its own features' chance variation past the boundary (0.6745: odds of 3 to 1 "
        "that it is past it; 0, the default: off). Fewer moves on noise, slower on "
        "real ones: see bench/README.md.",
    )
    dwell: int = Field(
        1, ge=1, description="Consecutive evaluations a new segment must win before a move."
    )
    dwell_hours: float = Field(
        9.0, ge=0, description="Event time a new segment must keep winning before a move."
    )
    lapse_gate: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A customer is in a dormant segment only while it has lapsed: its "
        "presence on the site or its email presence is below this.",
    )
    learn_after_hours: float | None = Field(
        None,
        ge=0,
        description="A customer feeds the model only once it has been seen this long (event "
        "time since its first event): a first click says little about a customer. Default: "
        "the sweep's look interval, a seventh of a half-life.",
    )
    learn_interval_hours: float = Field(
        168.0,
        ge=0,
        description="A customer feeds the model at most once per this event time, so every "
        "customer weighs about the same in it, however active.",
    )
    warmup_samples: int = Field(
        600, ge=10, description="Samples collected before the model seeds with k-means++."
    )
    warmup_days: float = Field(
        7.0, ge=0, description="Event time from the first sample before the model seeds."
    )
    dedup_window: int = Field(32, ge=1, description="Recent event ids remembered per customer.")
    reasons: int = Field(3, ge=1, description="Features listed as the reasons of a change.")
    page_stages: dict[str, PageStage] = Field(
        default_factory=lambda: dict(DEFAULT_PAGE_STAGES),
        description="First URL path segment -> the journey stage its clicks count toward.",
    )
    vocabulary: Literal["b2b", "ecommerce"] = Field(
        "b2b",
        description="The words segment names use: a B2B marketing site's (downloads, "
        "pricing and demo pages) or a shop's (product views, cart adds).",
    )
    seed: int = 42
    rules_file: Path | None = None
    #: The guards on identifies (anonymous visitors who become known).
    identity: IdentityConfig = IdentityConfig()
    #: How long erased people stay erased.
    erasure: ErasureConfig = ErasureConfig()
    #: How the value scores (buy-till-you-die, purchase propensity) are learned.
    value: ValueConfig = ValueConfig()
