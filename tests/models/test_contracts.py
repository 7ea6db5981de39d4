"""One contract, every estimator: in the spirit of river/checks.

Each featurizer, clusterer and scorer is put through the same checks: pickle
round-trip, seeded determinism, inputs not mutated, predicting before learning,
missing and unknown features.
"""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Callable
from typing import Any

import pytest

from segflow.models.clustering import NO_CLUSTER, SegmentClusterer
from segflow.models.features import BehaviorTransform
from segflow.models.scoring import ContentIntent, EmailResponsiveness, EngagementScorer, Value

FEATURES = ("clicks", "downloads_decision", "email_opens", "open_rate", "spend", "activity")


def stream(seed: int, n: int = 300) -> list[dict[str, float]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        group = i % 3
        out.append(
            {
                "clicks": max(0.0, rng.gauss(10.0 * group, 1.0)),
                "downloads_decision": max(0.0, rng.gauss(2.0 * (group == 2), 0.3)),
                "email_opens": max(0.0, rng.gauss(3.0 * (group == 1), 0.5)),
                "open_rate": min(1.0, max(0.0, rng.gauss(0.2 + 0.5 * (group == 1), 0.05))),
                "spend": max(0.0, rng.gauss(50.0 * group, 5.0)),
                "activity": max(0.0, rng.gauss(5.0 + 10.0 * group, 2.0)),
            }
        )
    return out


def _predict(estimator: Any, x: dict[str, float]) -> Any:
    if hasattr(estimator, "transform_one"):
        return estimator.transform_one(x)
    return estimator.predict_one(x)


ESTIMATORS: dict[str, Callable[[], Any]] = {
    "BehaviorTransform": BehaviorTransform,
    "SegmentClusterer": lambda: SegmentClusterer(n_clusters=3, warmup=60, seed=5),
    "EngagementScorer": lambda: EngagementScorer(halflife=200),
    "EmailResponsiveness": EmailResponsiveness,
    "ContentIntent": ContentIntent,
    "Value": Value,
}

pytestmark = pytest.mark.parametrize("make", ESTIMATORS.values(), ids=ESTIMATORS.keys())


def learned(make: Callable[[], Any], seed: int = 1) -> Any:
    estimator = make()
    for x in stream(seed):
        estimator.learn_one(x)
    return estimator


def test_pickle_round_trip_predicts_the_same(make: Callable[[], Any]) -> None:
    estimator = learned(make)
    clone = pickle.loads(pickle.dumps(estimator))
    probes = stream(99, 30)
    assert [_predict(clone, x) for x in probes] == [_predict(estimator, x) for x in probes]
    # and both keep learning identically
    for x in stream(7, 50):
        estimator.learn_one(x)
        clone.learn_one(x)
    assert [_predict(clone, x) for x in probes] == [_predict(estimator, x) for x in probes]


def test_same_seed_same_answers(make: Callable[[], Any]) -> None:
    probes = stream(42, 40)
    first, second = learned(make), learned(make)
    assert [_predict(first, x) for x in probes] == [_predict(second, x) for x in probes]


def test_inputs_are_not_mutated(make: Callable[[], Any]) -> None:
    estimator = make()
    for x in stream(3, 120):
        before = copy.deepcopy(x)
        estimator.learn_one(x)
        _predict(estimator, x)
        assert x == before


def test_predict_before_learning(make: Callable[[], Any]) -> None:
    estimator = make()
    answer = _predict(estimator, stream(1, 1)[0])
    if isinstance(estimator, SegmentClusterer):
        assert answer == NO_CLUSTER
    elif isinstance(estimator, BehaviorTransform):
        assert isinstance(answer, dict)
        assert answer
    else:
        assert isinstance(answer, float)


def test_missing_and_unknown_features(make: Callable[[], Any]) -> None:
    estimator = learned(make)
    x = stream(11, 1)[0]
    with_unknown = {**x, "never_seen_before": 123.0}
    assert _predict(estimator, with_unknown) == _predict(estimator, x)
    partial = {k: v for k, v in x.items() if k in ("clicks", "spend")}
    answer = _predict(estimator, partial)  # must not raise
    assert answer is not None
    estimator.learn_one(partial)
    estimator.learn_one({})
