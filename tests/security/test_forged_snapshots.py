"""Forged model snapshots, offered to a worker's ModelHolder without a broker.

Whoever can write to the model topic used to own every worker: a snapshot with a higher
``seq`` was taken as it came. Every forgery here must be refused (and counted), the
worker must keep the model it had, and the trainer must not continue from a forged
``seq``; a genuine snapshot is still taken afterwards.

The names new with the fix are imported inside the tests, so that against the code before
it each test fails on what it checks rather than on an import.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from helpers import ENGINE, learned_model
from prometheus_client import CollectorRegistry, generate_latest

from segflow.models.features import FEATURE_NAMES
from segflow.models.model import SegmentModel
from segflow.streams.metrics import Metrics
from segflow.streams.model_holder import ModelHolder, SnapshotMeta, config_key, encode_snapshot

KEY = b"trainer-lineage-key-0123456789ab"
OTHER_KEY = b"someone-elses-key-0123456789abcd"
#: A seq far above anything the trainer published: what a forger uses to win.
FORGED_SEQ = 1_000_000
HOSTILE_ID = "1' onmouseover='alert(7)' style='position:fixed;inset:0"

MODEL = learned_model()
GENUINE = MODEL.to_snapshot()


def state() -> dict[str, Any]:
    """The genuine snapshot's state, to forge from."""
    return orjson.loads(GENUINE)  # type: ignore[no-any-return]


def forged(mutate: Callable[[dict[str, Any]], object]) -> bytes:
    data = state()
    mutate(data)
    return orjson.dumps(data)


def envelope(
    body: bytes, seq: int = FORGED_SEQ, key: bytes | None = None, version: int | None = None
) -> bytes:
    meta = SnapshotMeta(
        seq, MODEL.version if version is None else version, 0.0, "forger:1", config_key(ENGINE)
    )
    if key is None:
        return encode_snapshot(meta, body)
    return encode_snapshot(meta, body, key)  # type: ignore[call-arg,unused-ignore]


def holder_with_genuine_model(key: bytes | None = None) -> ModelHolder:
    holder = ModelHolder(ENGINE) if key is None else ModelHolder(ENGINE, key)  # type: ignore[call-arg,unused-ignore]
    assert holder.offer(envelope(GENUINE, seq=3, key=key))
    assert holder.seq == 3 and holder.rejected == 0
    return holder


def assert_refused(holder: ModelHolder, data: bytes) -> None:
    """The holder refuses ``data``, counts it, and keeps serving with its model."""
    names = holder.model.segment_names()
    before = holder.rejected
    assert not holder.offer(data)
    assert holder.rejected == before + 1
    assert holder.seq == 3
    assert holder.model.segment_names() == names
    assert [s.id for s in holder.model.segments()] == sorted(names)
    assert holder.model.distances({})  # still assigns


def set_in(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """A mutation setting ``clusterer.centers.0.1``-style ``path`` to ``value``."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


# -- the two forgeries of the issue ------------------------------------------------------


def test_a_hostile_segment_id_string_is_refused() -> None:
    holder = holder_with_genuine_model()

    def hostile(data: dict[str, Any]) -> None:
        data["clusterer"]["ids"] = [HOSTILE_ID, *map(str, data["clusterer"]["ids"][1:])]

    assert_refused(holder, envelope(forged(hostile)))
    assert not any("onmouseover" in s for s in holder.model.segment_names())


def test_mixed_segment_id_types_are_refused() -> None:
    holder = holder_with_genuine_model()
    assert_refused(holder, envelope(forged(set_in("clusterer.ids.0", "7"))))
    assert holder.model.segment_names()  # naming sorts the ids: it must not raise


# -- types, values and shapes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("clusterer.ids.0", 1.0),  # a float id
        ("clusterer.ids.0", True),  # a boolean id
        ("clusterer.ids.0", 0),  # ids are positive
        ("clusterer.ids.0", -3),
        ("clusterer.ids.0", 2),  # repeated (2 is the next one's)
        ("clusterer.ids.0", 99),  # not below next_id
        ("clusterer.ids.0", 2**60),  # beyond the integers every JSON reader keeps exact
        ("clusterer.next_id", 7.0),  # ints are ints
        ("clusterer.n_updates", "60"),
        ("version", 61),  # not the clusterer's n_updates
        ("clusterer.deaths", -1),
        ("clusterer.params.n_clusters", 10**6),  # other settings / a denial of service
        ("clusterer.params.recent", 10**9),
        ("clusterer.params.halflife", 0.0),
        ("clusterer.params.n_init", 10**6),
        ("clusterer.params.features", ["clicks"]),
        ("clusterer.features.0", "pages_everything"),
        ("clusterer.weights.0", -1.0),  # the model divides by the weights' sum
        ("engagement.halflife", 0.0),
        ("engagement.total", "1e3"),  # a number in a string
        ("clusterer.surprise", 1),  # no unknown fields
    ],
)
def test_wrong_types_and_values_are_refused(path: str, value: object) -> None:
    holder = holder_with_genuine_model()
    assert_refused(holder, envelope(forged(set_in(path, value))))


@pytest.mark.parametrize(
    "mutate",
    [
        # centres k x (d - 1): one feature short on every row
        lambda s: s["clusterer"].update(centers=[row[:-1] for row in s["clusterer"]["centers"]]),
        lambda s: s["clusterer"].update(centers=s["clusterer"]["centers"][:-1]),  # k - 1 rows
        lambda s: s["clusterer"].update(weights=s["clusterer"]["weights"][:-1]),
        lambda s: s["clusterer"].update(r2=[*s["clusterer"]["r2"], 1.0]),
        lambda s: s["clusterer"].update(ids=[*s["clusterer"]["ids"], 7], next_id=8),  # k + 1
        lambda s: s["clusterer"].update(mean=[*s["clusterer"]["mean"], 0.0]),
        lambda s: s["clusterer"].update(m2=None),
        lambda s: s["clusterer"].update(weights=None),  # centres without weights
        lambda s: s["clusterer"].update(centers=None, weights=None, r2=None),  # ids, no centres
        lambda s: s["clusterer"]["ring"][0].pop(),
        lambda s: s["clusterer"]["stamps"].pop(),
        lambda s: s["clusterer"]["outliers"].append([0.0]),
        lambda s: s["engagement"]["counts"].pop(),
    ],
    ids=[
        "centres-k-x-d-1",
        "centres-k-1",
        "weights-k-1",
        "r2-k+1",
        "ids-k+1",
        "mean-d+1",
        "m2-missing",
        "weights-missing",
        "ids-without-centres",
        "ring-row-short",
        "stamps-short",
        "outlier-row-short",
        "histogram-short",
    ],
)
def test_wrong_shapes_are_refused(mutate: Callable[[dict[str, Any]], object]) -> None:
    holder = holder_with_genuine_model()
    assert_refused(holder, envelope(forged(mutate)))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("clusterer.centers.0.0", None),  # orjson writes NaN as null; numpy reads null as NaN
        ("clusterer.weights.1", "NaN"),  # numpy reads these strings as numbers
        ("clusterer.mean.2", "inf"),
        ("clusterer.r2.0", "-Infinity"),
        ("clusterer.ring.0.0", None),
        ("clusterer.m2.0", "nan"),
    ],
)
def test_non_finite_numbers_are_refused(path: str, value: object) -> None:
    holder = holder_with_genuine_model()
    assert_refused(holder, envelope(forged(set_in(path, value))))


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_json_tokens_are_refused(token: bytes) -> None:
    """Guard: strict JSON already refused these tokens; they stay refused."""
    holder = holder_with_genuine_model()
    body = forged(set_in("clusterer.centers.0.0", 123456.789)).replace(b"123456.789", token, 1)
    assert token in body
    assert_refused(holder, envelope(body))


def test_oversize_snapshots_are_refused() -> None:
    holder = holder_with_genuine_model()
    width = len(state()["clusterer"]["features"])
    # More recent points than the clusterer keeps, and over the byte limit (~5 MB).
    rows = [[1.2345678901234567] * width for _ in range(25_000)]
    big = forged(lambda s: s["clusterer"].update(ring=rows, stamps=[1.0] * len(rows)))
    assert len(big) > 4 * 1024 * 1024
    assert_refused(holder, envelope(big))
    # Under the byte limit, still more recent points than the clusterer keeps.
    assert_refused(holder, envelope(forged(lambda s: s["clusterer"].update(
        ring=rows[:2_001], stamps=[1.0] * 2_001))))  # fmt: skip
    # More outliers than the clusterer keeps.
    assert_refused(holder, envelope(forged(lambda s: s["clusterer"].update(
        outliers=rows[:2_001]))))  # fmt: skip


def test_a_header_that_disagrees_with_the_model_is_refused() -> None:
    holder = holder_with_genuine_model()
    assert_refused(holder, envelope(GENUINE, version=MODEL.version + 1))


def test_every_check_protects_from_snapshot_itself() -> None:
    from segflow.models.errors import SnapshotError

    for data, reason in (
        (forged(set_in("clusterer.ids.0", HOSTILE_ID)), "schema"),
        (forged(set_in("clusterer.centers.0.0", None)), "schema"),
        (forged(set_in("clusterer.params.n_clusters", 9)), "schema"),  # 9 ids expected
        (forged(set_in("clusterer.params.seed", 7)), "settings"),
        (forged(lambda s: s["clusterer"].pop("r2")), "schema"),  # nothing missing
        (b"{" * 100_000, "schema"),  # deep nesting
        (b" " * (5 * 1024 * 1024), "size"),
    ):
        with pytest.raises(SnapshotError) as caught:
            SegmentModel.from_snapshot(data, ENGINE, rules=None)
        assert caught.value.reason == reason, caught.value
        assert "\n" not in str(caught.value) and len(str(caught.value)) <= 200


def test_a_genuine_snapshot_round_trips_exactly() -> None:
    """Guard: the checks change nothing for a genuine snapshot, at every stage of a model."""
    model = SegmentModel.create(ENGINE)
    for i in range(3_000):
        snapshot = model.to_snapshot()
        if i in (0, 1, 9, 10, 11, 500, 2_500, 2_999):
            assert SegmentModel.from_snapshot(snapshot, ENGINE).to_snapshot() == snapshot, i
        model.learn_one(
            {"pages_decision": float(i % 7) * 1.37, "purchases": float(i % 2)}, t=3_600.0 * i
        )
    assert model.is_ready


# -- lineage: signatures -------------------------------------------------------------------


def test_with_a_key_unsigned_snapshots_are_refused() -> None:
    holder = holder_with_genuine_model(KEY)
    assert_refused(holder, envelope(GENUINE, key=None))


def test_with_a_key_snapshots_signed_with_another_key_are_refused() -> None:
    holder = holder_with_genuine_model(KEY)
    assert_refused(holder, envelope(GENUINE, key=OTHER_KEY))
    assert holder.offer(envelope(GENUINE, seq=4, key=KEY))  # the trainer's next one


def test_a_replayed_snapshot_with_a_raised_seq_is_refused() -> None:
    """A genuine signed snapshot whose header was edited to a higher seq (the tag kept)."""
    holder = holder_with_genuine_model(KEY)
    genuine = envelope(GENUINE, seq=3, key=KEY)
    replayed = genuine.replace(b'"seq":3,', f'"seq":{FORGED_SEQ},'.encode())
    assert replayed != genuine
    # Header lengths differ: fix the length prefix as a forger would (after the tag).
    tagged = 4 + 32
    header = len(replayed) - tagged - 4 - len(GENUINE)
    replayed = replayed[:tagged] + header.to_bytes(4, "big") + replayed[tagged + 4 :]
    assert_refused(holder, replayed)
    # And a tampered model under the genuine header.
    assert_refused(holder, genuine[:-10] + b"9" + genuine[-9:])


def test_without_a_key_signed_and_unsigned_snapshots_are_taken() -> None:
    holder = holder_with_genuine_model()
    assert holder.offer(envelope(GENUINE, seq=4, key=KEY))
    assert holder.offer(envelope(GENUINE, seq=5))


def test_the_trainer_never_continues_from_a_refused_seq() -> None:
    from segflow.streams.trainer import Trainer

    holder = holder_with_genuine_model(KEY)
    published: list[bytes] = []

    async def publish(value: bytes) -> None:
        published.append(value)

    trainer = Trainer(holder, Metrics(CollectorRegistry()), lambda: 0.0, "t:1", publish)
    sample = orjson.dumps(
        {"x": {**dict.fromkeys(FEATURE_NAMES, 0.0), "purchases": 1.0}, "t": 100.0}
    )
    asyncio.run(trainer.train([sample]))
    # A forged snapshot with a far higher seq arrives: unsigned, then with another key.
    holder.offer(envelope(GENUINE, seq=FORGED_SEQ))
    holder.offer(envelope(GENUINE, seq=FORGED_SEQ + 1, key=OTHER_KEY))
    asyncio.run(trainer.train([sample]))
    follower = ModelHolder(ENGINE, KEY)  # type: ignore[call-arg,unused-ignore]
    for value in published:
        assert follower.offer(value)  # signed with the key, each the next seq
    assert follower.seq == trainer.trainer_seq == 5 and holder.seq == 3


# -- counted by reason, logged in one line, warned about when unsigned -------------------


def test_a_refused_snapshot_is_counted_by_reason_and_logged_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from segflow.streams.snapshots import take_snapshot

    registry = CollectorRegistry()
    metrics = Metrics(registry)
    holder = holder_with_genuine_model(KEY)
    with caplog.at_level(logging.ERROR, logger="segflow.streams"):
        take_snapshot(holder, metrics, envelope(GENUINE, key=OTHER_KEY), 41)
        take_snapshot(
            holder, metrics, envelope(forged(set_in("clusterer.ids.0", "\n7")), key=KEY), 42
        )
        take_snapshot(holder, metrics, b"SGF9 garbage", 43)
        assert take_snapshot(holder, metrics, envelope(GENUINE, seq=4, key=KEY), 44)
    text = generate_latest(registry).decode()
    for reason, count in (("signature", 1), ("schema", 1), ("envelope", 1), ("size", 0)):
        assert f'segflow_model_snapshots_rejected_total{{reason="{reason}"}} {count}.0' in text
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(lines) == 3 and all("\n" not in line for line in lines), lines
    assert "offset 41 rejected (signature)" in lines[0]
    assert "offset 42 rejected (schema)" in lines[1] and "clusterer.ids.0" in lines[1]
    assert holder.seq == 4


def test_the_worker_warns_once_when_snapshots_are_not_authenticated(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pydantic import SecretStr

    from segflow.streams.settings import Settings
    from segflow.streams.snapshots import warn_if_unauthenticated

    with caplog.at_level(logging.WARNING, logger="segflow.streams"):
        assert warn_if_unauthenticated(Settings())
        assert not warn_if_unauthenticated(Settings(model_key=SecretStr(KEY.decode())))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "not authenticated" in lines[0] and "SEGFLOW_MODEL_KEY" in lines[0]


def test_the_key_setting_is_secret_long_enough_and_reaches_child_workers() -> None:
    from segflow.models.errors import ConfigError
    from segflow.streams.settings import Settings, load_settings, settings_env

    settings = Settings(model_key=KEY.decode())
    assert KEY.decode() not in repr(settings)
    assert settings_env(settings)["SEGFLOW_MODEL_KEY"] == KEY.decode()
    assert settings.model_key_bytes == KEY
    assert "SEGFLOW_MODEL_KEY" not in settings_env(Settings())
    with pytest.raises(ConfigError, match="SEGFLOW_MODEL_KEY: must be at least 16"):
        load_settings(model_key="short")


@pytest.mark.parametrize(
    "poison",
    [
        {"t": "inf"},
        {"t": 1e300},
        {"x": {"clicks": 1.0}},
        {"x_extra": True},
        {"x_value": "NaN"},
        {"x_value": True},
    ],
    ids=str,
)
def test_a_poisoned_training_sample_never_reaches_the_model(poison: dict[str, object]) -> None:
    from segflow.streams.trainer import Trainer

    holder = ModelHolder(ENGINE)
    published: list[bytes] = []

    async def publish(value: bytes) -> None:
        published.append(value)

    registry = CollectorRegistry()
    trainer = Trainer(holder, Metrics(registry), lambda: 0.0, "t:1", publish)
    x: dict[str, object] = {**dict.fromkeys(FEATURE_NAMES, 0.0), "purchases": 1.0}
    bad: dict[str, object] = {"x": dict(x), "t": 100.0}
    if "t" in poison:
        bad["t"] = poison["t"]
    if "x" in poison:
        bad["x"] = poison["x"]
    if "x_extra" in poison:
        bad["x"] = {**x, "no_such_feature": 1.0}
    if "x_value" in poison:
        bad["x"] = {**x, "clicks": poison["x_value"]}
    good = orjson.dumps({"x": x, "t": 100.0})
    asyncio.run(trainer.train([orjson.dumps(bad), good]))
    assert (
        registry.get_sample_value("segflow_internal_errors_total", {"stage": "training_sample"})
        == 1.0
    )
    (snapshot,) = published
    assert ModelHolder(ENGINE).offer(snapshot)  # every worker takes what the trainer made
