"""Value scores in the engine: purchase statistics in the profile, the value model
fitted from a uniform sample of customers, the purchase propensity learned with
delayed labels, snapshots that carry both, and the value rule segments."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from segflow.models.config import EngineConfig
from segflow.models.errors import SnapshotError
from segflow.models.events import ClickEvent, Event, PurchaseEvent
from segflow.models.features import FEATURE_NAMES
from segflow.models.identity import fold
from segflow.models.model import SCORE_NAMES, SegmentModel, new_clusterer
from segflow.models.profile import Profile
from segflow.models.propensity import DelayedLabels, Prequential, PurchasePropensity
from segflow.models.rules import load_rules
from segflow.models.runner import replay
from segflow.models.snapshot_schema import check_snapshot
from segflow.models.timeutil import DAY
from segflow.models.value import CustomerSample, PurchaseRecord, ValueConfig, customer_hash

T0 = datetime(2026, 1, 1, tzinfo=UTC)
VALUE_RULES = Path(__file__).resolve().parents[2] / "examples" / "value_rules.yaml"


def test_the_profile_counts_purchase_days_spend_and_survives_json() -> None:
    profile = Profile.new("c1", as_of=0.0)
    assert PurchaseRecord.of(profile) is None
    new_days = [
        profile.record_purchase(t, amount)
        for t, amount in (
            (1 * DAY + 10, 20.0),
            (1 * DAY + 500, 5.0),  # same day: not a new purchase day
            (4 * DAY, 30.0),
            (5 * DAY, -10.0),  # a refund: spend only
            (3 * DAY, 7.0),  # late, on a day between the first and the latest
        )
    ]
    assert new_days == [True, False, True, False, True]
    assert PurchaseRecord.of(profile) == PurchaseRecord(1 * DAY + 10, 4 * DAY, 3, 52.0)
    x, t_x, age, mean = PurchaseRecord(0.0, 3 * DAY, 2, 45.0).statistics(10 * DAY)
    assert (x, t_x, age, mean) == (1.0, 3.0, 10.0, 22.5)
    again = Profile.from_json(profile.to_json())
    assert PurchaseRecord.of(again) == PurchaseRecord.of(profile)


def test_a_merge_adds_the_visitors_purchases() -> None:
    customer, visitor = Profile.new("c1", as_of=0.0), Profile.new("~anon:v1", as_of=0.0)
    customer.record_purchase(10 * DAY, 40.0)
    visitor.record_purchase(2 * DAY, 10.0)
    merged = fold(customer, visitor, "c1", "v1", half_life=7 * DAY)
    assert PurchaseRecord.of(merged) == PurchaseRecord(2 * DAY, 10 * DAY, 2, 50.0)


def test_the_customer_sample_keeps_the_lowest_hashes_with_their_newest_statistics() -> None:
    sample = CustomerSample(capacity=50)
    keys = [customer_hash(f"c{i}") for i in range(500)]
    for key in keys:
        sample.offer(key, PurchaseRecord(0.0, 0.0, 1, 1.0))
    assert set(sample.records) == set(sorted(keys)[:50])
    kept = min(keys)
    sample.offer(kept, PurchaseRecord(0.0, 5 * DAY, 2, 9.0))
    sample.offer(kept, PurchaseRecord(0.0, 2 * DAY, 2, 3.0))  # older: ignored
    assert sample.records[kept].spend == 9.0
    assert not sample.offer(max(keys), PurchaseRecord(0.0, 0.0, 1, 1.0))


def bgnbd_world(
    customers: int, weeks: float, seed: int, r: float, alpha: float, a: float, b: float
) -> list[Event]:
    """Purchases drawn from the BG/NBD process itself (``alpha`` in days): each customer
    is born in the first 12 weeks with a purchase, buys at a gamma-distributed Poisson
    rate and drops out after each repeat purchase with a beta-distributed probability."""
    rng = random.Random(seed)
    end = weeks * 7 * DAY
    events: list[Event] = []
    for i in range(customers):
        rate, drop = rng.gammavariate(r, 1 / alpha) / DAY, rng.betavariate(a, b)
        t, n = rng.uniform(0, 12 * 7 * DAY), 0
        while t < end:
            events.append(
                PurchaseEvent(
                    event_id=f"p{i}-{n}",
                    customer_id=f"c{i}",
                    order_id=f"o{i}-{n}",
                    occurred_at=T0 + timedelta(seconds=t),
                    amount=rng.uniform(10, 60),
                )
            )
            n += 1
            if n > 1 and rng.random() < drop:  # a drop-out follows a repeat purchase
                break
            t += rng.expovariate(rate)  # (two on one day count as one purchase day)
    return sorted(events, key=lambda e: e.occurred_at)


def test_the_value_model_is_fitted_from_the_customers_and_scores_their_changes() -> None:
    truth = {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 2.5}
    events = bgnbd_world(3000, 52, seed=3, **truth)
    config = EngineConfig(value=ValueConfig(customers=5000, refit_days=7, min_repeat_buyers=50))
    result = replay(events, config, sweep=False)
    value = result.model.value
    assert value is not None and value.customers > 2500
    assert math.isclose(value.purchases.r, truth["r"], rel_tol=0.3)
    assert math.isclose(value.purchases.alpha, truth["alpha"], rel_tol=0.35)
    assert value.spend is not None and 10 < value.spend.expected_spend(0, 0.0) < 60
    # The fit was on the customers' ages at the fit, not at their last purchase: a
    # population drawn to keep buying for a year is not read as one that lapses.
    assert 0.2 < value.purchases.a / (value.purchases.a + value.purchases.b) < 0.4


def test_a_sample_is_labelled_only_after_its_window_and_by_purchases_inside_it() -> None:
    labels = DelayedLabels(days=30.0, capacity=10)
    for key in (1, 2, 3):
        assert labels.offer(key, {"k": float(key)}, t=10 * DAY, predicted=0.5)
    assert not labels.offer(1, {"k": 9.0}, t=11 * DAY, predicted=0.5)  # one at a time
    labels.purchase(1, 10 * DAY)  # at the sample's own time: before it, not after
    labels.purchase(2, 39 * DAY)  # inside the 30 days
    labels.purchase(3, 41 * DAY)  # after them
    assert labels.matured(10 * DAY + 33 * DAY - 1) == []  # 30 days and a grace of 3
    done = labels.matured(43 * DAY)
    assert [(w.z["k"], w.bought) for w in done] == [(1.0, False), (2.0, True), (3.0, False)]


def test_the_propensity_learns_who_buys_and_is_measured_before_each_label() -> None:
    rng = random.Random(5)
    model, quality = PurchasePropensity(min_learned=50), Prequential()
    for _ in range(4000):
        recency = rng.uniform(0, 4)
        z = {"recency_log": recency, "noise": rng.gauss(0, 1)}
        bought = rng.random() < 1 / (1 + math.exp(2 * (recency - 2)))
        predicted = model.predict_one(z)
        if predicted is not None:
            quality.add(predicted, bought)
        model.learn_one(z, bought)
    auc, error = quality.auc(), quality.calibration_error()
    assert auc is not None and auc > 0.8
    assert error is not None and error < 0.08
    back = PurchasePropensity.from_state(orjson.loads(orjson.dumps(model.to_state())))
    z = {"recency_log": 1.0, "noise": 0.0}
    assert back.predict_one(z) == model.predict_one(z)


@pytest.fixture(scope="module")
def learned() -> SegmentModel:
    events = bgnbd_world(600, 30, seed=4, r=0.5, alpha=20.0, a=0.8, b=2.5)
    rng = random.Random(4)
    clicks: list[Event] = [
        ClickEvent(
            event_id=f"k{i}",
            customer_id=f"c{rng.randrange(600)}",
            url="/product/x",
            occurred_at=T0 + timedelta(seconds=rng.uniform(0, 30 * 7 * DAY)),
        )
        for i in range(5_000)
    ]
    config = EngineConfig(
        warmup_samples=100, value=ValueConfig(customers=3000, min_repeat_buyers=50)
    )
    return replay(sorted(events + clicks, key=lambda e: e.occurred_at), config).model


def test_snapshots_carry_the_value_model_and_the_propensity(learned: SegmentModel) -> None:
    assert learned.value is not None and learned.propensity.learned > 0
    back = SegmentModel.from_snapshot(learned.to_snapshot(), learned.config, rules=None)
    assert back.value == learned.value
    assert back.propensity.to_state() == learned.propensity.to_state()
    features = dict.fromkeys(FEATURE_NAMES, 1.0)
    record = PurchaseRecord(0.0, 20 * DAY, 3, 90.0)
    assert back.scores(features, record, 60 * DAY) == learned.scores(features, record, 60 * DAY)


@pytest.mark.parametrize(
    "forged",
    [
        {"bgnbd_r": -1.0},
        {"bgnbd_alpha": float("inf")},
        {"gg_p": None},  # the spend model half there
        {"spend_quantiles": [5.0, 1.0]},
        {"bogus": 1.0},
    ],
)
def test_a_forged_value_model_is_refused(learned: SegmentModel, forged: dict[str, object]) -> None:
    assert learned.value is not None
    state = orjson.loads(learned.to_snapshot())
    state["value"] = {**learned.value.to_state(), **forged}
    if forged == {"gg_p": None}:
        del state["value"]["gg_p"]
    data = orjson.dumps(state).replace(b"Infinity", b"1e999")
    with pytest.raises(SnapshotError):
        check_snapshot(data, new_clusterer(learned.config)._get_params())


def test_the_value_rules_load_and_put_lapsed_and_new_customers_in_segments() -> None:
    rules = load_rules(VALUE_RULES, feature_names=FEATURE_NAMES, score_names=SCORE_NAMES)
    assert set(rules.names) == {"at-risk-high-value", "upsell-ready", "lapsed", "new-customer"}
    events = bgnbd_world(700, 40, seed=6, r=0.5, alpha=20.0, a=0.8, b=2.5)
    config = EngineConfig(rules_file=VALUE_RULES, value=ValueConfig(min_repeat_buyers=50))
    changes = replay(events, config).changes
    entered = {c.to_segment: c for c in changes if c.kind == "rule" and c.to_segment}
    assert entered["lapsed"].scores["p_alive"] < 0.2
    assert entered["new-customer"].scores["customer_age_days"] <= 30
    risky = entered["at-risk-high-value"].scores
    assert risky["value_percentile"] >= 75 and risky["p_alive"] < 0.5
    # A customer leaves "new" by growing older, on the sweep's looks (no event).
    left_new = [c for c in changes if c.from_segment == "new-customer"]
    assert left_new and all(c.scores["customer_age_days"] > 30 for c in left_new)
