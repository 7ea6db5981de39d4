"""The trainer's side of the value scores, without Kafka: the training messages a
worker sends (samples and purchases), checked on the way in, the value model fitted
off the event loop and published in the snapshot, the metrics it reports."""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest
from helpers import ENGINE
from prometheus_client import CollectorRegistry

from segflow.models.features import FEATURE_NAMES
from segflow.models.model import SegmentModel
from segflow.models.timeutil import DAY
from segflow.models.training import decode_training, encode_purchase, encode_sample
from segflow.models.value import PurchaseRecord, ValueConfig, customer_hash
from segflow.streams.metrics import Metrics
from segflow.streams.model_holder import ModelHolder
from segflow.streams.trainer import Trainer

T0 = 1_767_225_600.0  # 2026-01-01
CONFIG = ENGINE.model_copy(update={"value": ValueConfig(min_repeat_buyers=20, refit_days=7)})


def purchases_of(customers: int, seed: int) -> list[bytes]:
    """Every customer's purchase days over 30 weeks, as workers send them (in time
    order), with a sample of each customer now and then."""
    rng = random.Random(seed)
    timeline: list[tuple[float, bytes]] = []
    for i in range(customers):
        t = first = T0 + rng.uniform(0, 8 * 7 * DAY)
        days, spend = 0, 0.0
        while t < T0 + 30 * 7 * DAY:
            days, spend = days + 1, spend + rng.uniform(5, 50)
            record = PurchaseRecord(first, t, days, spend)
            timeline.append((t, encode_purchase(f"c{i}", record, t)))
            x = dict.fromkeys(FEATURE_NAMES, 0.0) | {"purchases": float(days)}
            timeline.append((t + 3_600, encode_sample(x, t + 3_600, f"c{i}", record)))
            if days > 1 and rng.random() < 0.3:
                break
            t += rng.expovariate(1 / (20 * DAY))
    return [message for _, message in sorted(timeline, key=lambda pair: pair[0])]


def test_the_trainer_fits_the_value_model_and_publishes_it() -> None:
    holder = ModelHolder(CONFIG)
    published: list[bytes] = []

    async def publish(value: bytes) -> None:
        published.append(value)

    registry = CollectorRegistry()
    trainer = Trainer(holder, Metrics(registry), lambda: 0.0, "t:1", publish)
    messages = purchases_of(400, seed=1)

    async def run() -> None:
        for start in range(0, len(messages), 200):
            await trainer.train(messages[start : start + 200])

    asyncio.run(run())
    follower = ModelHolder(CONFIG)
    for snapshot in published:
        assert follower.offer(snapshot)
    value = follower.model.value
    assert value is not None and value.customers == 400
    scores = follower.model.scores(
        dict.fromkeys(FEATURE_NAMES, 0.0),
        PurchaseRecord(T0, T0 + 20 * DAY, 3, 60.0),
        T0 + 200 * DAY,
    )
    assert 0 < scores["p_alive"] < 1 and scores["expected_purchases_90d"] > 0
    assert registry.get_sample_value("segflow_value_model", {"parameter": "r"}) == value.purchases.r
    assert registry.get_sample_value("segflow_value_model", {"parameter": "customers"}) == 400
    labelled = registry.get_sample_value("segflow_propensity_quality", {"statistic": "labelled"})
    assert labelled is not None and labelled > 0


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"t": 5.0, "c": 1}, "neither features nor a customer's purchase"),
        ({"t": 5.0, "c": -1, "p": [0, 0, 1, 5]}, "not a customer hash"),
        ({"t": 5.0, "c": 2**63, "p": [0, 0, 1, 5]}, "not a customer hash"),
        ({"t": 5.0, "c": True, "p": [0, 0, 1, 5]}, "not a customer hash"),
        ({"t": 5.0, "c": 1, "p": [9, 0, 1, 5]}, "out of order"),
        ({"t": 5.0, "c": 1, "p": [0, 0, 0, 5]}, "days or spend"),
        ({"t": 5.0, "c": 1, "p": [0, 0, 1.5, 5]}, "days or spend"),
        ({"t": 5.0, "c": 1, "p": [0, 0, 1, -5]}, "days or spend"),
        ({"t": 5.0, "c": 1, "p": [0, 0, 1]}, "four finite numbers"),
        ({"t": 5.0, "c": 1, "p": [0, 0, 1, "5"]}, "four finite numbers"),
        ({"t": 5.0, "c": 1, "p": [0, 0, 1, 5], "extra": 1}, "unknown fields"),
        ({"t": 1e300, "c": 1, "p": [0, 0, 1, 5]}, "out of range"),
    ],
)
def test_a_training_message_that_could_poison_the_value_model_is_refused(
    message: dict[str, object], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_training(orjson.dumps(message))


def test_training_messages_name_customers_by_hash_only() -> None:
    record = PurchaseRecord(T0, T0 + DAY, 2, 30.0)
    message = encode_purchase("alice@example.com", record, T0 + DAY)
    assert b"alice" not in message
    decoded = decode_training(message)
    assert decoded.customer == customer_hash("alice@example.com")
    assert decoded.purchases == record and decoded.x is None


def test_a_model_without_value_scores_reads_an_old_sample() -> None:
    # A sample as workers sent it before the value scores: still learned.
    old = orjson.dumps({"x": dict.fromkeys(FEATURE_NAMES, 1.0), "t": T0})
    decoded = decode_training(old)
    model = SegmentModel.create(CONFIG)
    model.learn_one(decoded.x or {}, decoded.t, decoded.customer, decoded.purchases)
    assert model.version == 1 and model.learning is None


def three_kinds(n: int) -> list[bytes]:
    """``n`` samples of three kinds of customer, ten minutes apart."""
    rng = random.Random(4)
    messages = []
    for i in range(n):
        kind = i % 3
        x = dict.fromkeys(FEATURE_NAMES, 0.0) | {
            "pages_awareness": rng.gauss(9.0 if kind == 0 else 1.0, 1.0) ** 2,
            "purchases": abs(rng.gauss(3.0 if kind == 1 else 0.2, 0.5)),
            "open_rate": min(1.0, abs(rng.gauss(0.8 if kind == 2 else 0.1, 0.1))),
        }
        messages.append(encode_sample(x, T0 + i * 600.0, f"c{i % 500}", None))
    return messages


def learned_in_place(messages: list[bytes]) -> SegmentModel:
    model = SegmentModel.create(ENGINE)
    for value in messages:
        message = decode_training(value)
        assert message.x is not None
        model.learn_one(message.x, message.t, message.customer, message.purchases)
    return model


def train_all(trainer: Trainer, messages: list[bytes]) -> None:
    async def run() -> None:
        for start in range(0, len(messages), 400):
            await trainer.train(messages[start : start + 400])

    asyncio.run(run())


async def _ignore(value: bytes) -> None:
    pass


def test_the_trainer_refits_segments_off_the_event_loop_with_the_same_result() -> None:
    # 2,600 samples: one refit of the segments falls due (every 2,500). The trainer runs
    # it in its fitting process; the model is the one that learning in place gives.
    messages = three_kinds(2_600)
    trainer = Trainer(
        ModelHolder(ENGINE), Metrics(CollectorRegistry()), lambda: 0.0, "t:1", _ignore
    )
    train_all(trainer, messages)
    in_place = learned_in_place(messages)
    learned = trainer.trainer_model.clusterer
    assert trainer.fitter is not None  # the refit ran in the fitting process
    assert in_place.clusterer.refits == learned.refits and not learned.refit_due
    assert learned.to_state() == in_place.clusterer.to_state()


def test_a_dead_fitting_process_costs_the_model_nothing() -> None:
    # The fitting process is killed before the refit falls due: the trainer fits in
    # the worker instead, counts the failure, and the model is still the right one.
    messages = three_kinds(2_600)
    registry = CollectorRegistry()
    trainer = Trainer(ModelHolder(ENGINE), Metrics(registry), lambda: 0.0, "t:1", _ignore)
    pool = trainer.pool()
    assert pool.submit(abs, -1).result(timeout=60) == 1  # its process is up
    for process in list(pool._processes.values()):  # killing it is the test
        process.kill()
    train_all(trainer, messages)
    learned = trainer.trainer_model.clusterer
    assert registry.get_sample_value("segflow_internal_errors_total", {"stage": "fitter"}) == 1
    assert learned.to_state() == learned_in_place(messages).clusterer.to_state()
