"""Why a change happened: the features that moved a customer, each with its value and
the population's mean."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .changes import Reason

if TYPE_CHECKING:
    from .model import SegmentModel


def _reason(model: SegmentModel, features: dict[str, float], name: str) -> Reason:
    return Reason(
        feature=name,
        value=round(features[name], 4),
        population_mean=round(model.population_mean(name), 4),
    )


def behavioral_reasons(
    model: SegmentModel,
    features: dict[str, float],
    x: dict[str, float],
    from_segment: str | None,
    to_segment: str | None,
) -> list[Reason]:
    """The features that pulled the customer from the old segment (or the mean) to the new one."""
    if to_segment is None:
        return []
    ids = model.cluster_ids()
    to_gaps = model.clusterer.contributions(x, ids[to_segment])
    if from_segment in ids:
        from_gaps = model.clusterer.contributions(x, ids[from_segment])
    else:
        from_gaps = {name: z * z for name, z in model.zscores(x).items()}
    evidence = model.evidence()
    pull = {name: from_gaps[name] - to_gaps[name] for name in to_gaps if name in evidence}
    top = sorted((n for n in pull if pull[n] > 0), key=lambda n: -pull[n])
    return [_reason(model, features, name) for name in top[: model.config.reasons]]


def standout_reasons(
    model: SegmentModel, features: dict[str, float], x: dict[str, float]
) -> list[Reason]:
    """The features in which the customer stands furthest from the population."""
    z = model.zscores(x)
    top = sorted(z, key=lambda n: -abs(z[n]))
    return [_reason(model, features, name) for name in top[: model.config.reasons]]
