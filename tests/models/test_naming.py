"""Segment names: distinct, readable, and telling apart segments the phrases cannot."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from segflow.models.config import EngineConfig
from segflow.models.model import SegmentModel
from segflow.models.name_truth import phrase_truth
from segflow.models.naming import THRESHOLD, Truth, level_text, name_segments


def test_phrases_come_from_the_strongest_groups() -> None:
    names = name_segments(
        {
            1: {"open_rate": 1.8, "clicks_per_session": -0.9, "purchases": -0.2},
            2: {"downloads_decision": 2.5, "pages_decision": 1.2, "open_rate": 0.1},
        }
    )
    assert names == {
        1: "email-responsive, brief visits",
        2: "decision-stage downloader, pricing and demo pages",
    }


def test_segments_alike_in_phrases_are_told_apart_by_their_levels() -> None:
    zscores = {
        1: {"purchases": 0.1, "open_rate": 0.2},
        2: {"purchases": 0.4, "open_rate": 0.25},
        3: {"purchases": -0.3, "open_rate": 0.1},
        4: {"pages_customer": 2.0, "purchases": 0.0},
    }
    levels = {
        cid: {
            "purchases": level_text("purchases", 0.5 + z.get("purchases", 0.0), 7.0) or "",
            "open_rate": level_text("open_rate", 0.3 + z.get("open_rate", 0.0), 7.0) or "",
        }
        for cid, z in zscores.items()
    }
    names = name_segments(zscores, levels)
    # The three alike differ most in orders: named by their order rate; the fourth
    # stands out on its own and keeps its plain name.
    assert names[1] == f"average activity, {levels[1]['purchases']}"
    assert names[2] == f"average activity, {levels[2]['purchases']}"
    assert names[3] == f"average activity, {levels[3]['purchases']}"
    assert names[4] == "account and support pages"
    assert len(set(names.values())) == 4
    # Without levels they are numbered, still distinct.
    plain = name_segments(zscores)
    assert len(set(plain.values())) == 4
    assert sorted(plain.values())[1:] == [
        "average activity",
        "average activity (2)",
        "average activity (3)",
    ]


def test_equal_levels_still_give_distinct_names() -> None:
    zscores = {1: {"purchases": 0.1}, 2: {"purchases": 0.1}}
    levels = {1: {"purchases": "1.0 orders/month"}, 2: {"purchases": "1.0 orders/month"}}
    names = name_segments(zscores, levels)
    assert names == {
        1: "average activity, 1.0 orders/month",
        2: "average activity, 1.0 orders/month (2)",
    }


@pytest.mark.parametrize(
    ("feature", "value", "text"),
    [
        ("purchases", 0.0, "no orders"),
        ("purchases", 0.001, "no orders"),  # 0.04 a year
        ("pages_decision", 0.01, "0.4 decision pages/year"),
        ("pages_decision", 0.033, "0.1 decision pages/month"),
        ("purchases", 10.0, "6.9 orders/week"),  # steady state of ~1/day at h=7 d
        ("downloads_decision", 1.2, "3.6 decision downloads/month"),
        ("open_rate", 0.9, "opens 90%"),
        ("clicks_per_session", 1.0, "1.0 clicks/visit"),
        ("bounced", 1.0, None),
    ],
)
def test_levels_read_in_marketer_units(feature: str, value: float, text: str | None) -> None:
    assert level_text(feature, value, 7.0) == text


def test_a_decayed_count_reads_as_its_steady_rate() -> None:
    # One order a day, decayed with a 7-day half-life, settles at 7 / ln 2 orders.
    assert level_text("purchases", 7 / math.log(2), 7.0) == "7.0 orders/week"
    assert level_text("purchases", 14 / math.log(2), 14.0) == "7.0 orders/week"


def test_a_segment_below_on_every_activity_is_named_dormant() -> None:
    # Where few customers buy, no segment sits far below on orders: the average decides.
    quiet = {
        "pages_awareness": -0.8,
        "pages_other": -0.9,
        "downloads_awareness": -0.5,
        "purchases": -0.4,
        "open_rate": -0.8,
        "clicks_per_session": -1.0,
    }
    reader = {**quiet, "open_rate": 1.7, "pages_awareness": 0.05}
    names = name_segments({1: quiet, 2: reader})
    assert names[1] == "dormant, email-unresponsive"  # not "brief visits": no visits at all
    assert names[2] == "email-responsive, brief visits"
    # Above the population on one activity: not dormant.
    assert not name_segments({1: {**quiet, "pages_other": 0.2}})[1].startswith("dormant")
    # Below on every activity, but only slightly: not dormant either.
    slight = {name: -0.2 for name in quiet}
    assert not name_segments({1: slight})[1].startswith("dormant")


def _readers_and_buyers(model_seed: int, buyers_share: float) -> SegmentModel:
    """A model of three kinds of customers: blog readers (a fifth of them, of whom
    ``buyers_share`` order a lot), product viewers and email readers."""
    rng = random.Random(model_seed)
    model = SegmentModel.create(EngineConfig(n_segments=3, warmup_samples=300, warmup_days=0.0))
    for i in range(3000):
        kind = rng.random()
        if kind < 0.2:
            orders = rng.uniform(40.0, 60.0) if rng.random() < buyers_share else 0.0
            x = {"pages_awareness": rng.uniform(12.0, 20.0), "purchases": orders}
        elif kind < 0.6:
            x = {"pages_consideration": rng.uniform(12.0, 20.0), "open_rate": 0.1}
        else:
            x = {"open_rate": rng.uniform(0.7, 0.9), "pages_other": rng.uniform(0.0, 2.0)}
        model.learn_one(x, t=float(i * 60))
    return model


def _nearest(model: SegmentModel, readable: dict[str, float]) -> str:
    distances = model.distances(model.transform.transform_one(readable))
    return min(distances, key=distances.__getitem__)


def test_a_phrase_true_of_few_members_does_not_name_the_segment() -> None:
    # A third of the blog readers order a lot: their centroid stands out on orders, but
    # "frequent buyer" is untrue of two members in three.
    model = _readers_and_buyers(5, buyers_share=0.3)
    readers = _nearest(model, {"pages_awareness": 16.0})
    name = model.segment_names()[readers]
    z = model.zscores(model.clusterer.centroid(int(readers.removeprefix("seg-"))))
    assert z["purchases"] > THRESHOLD  # the centroid alone would say "frequent buyer"
    assert "blog reader" in name and "frequent buyer" not in name
    # When nearly all of them buy, it is said.
    model = _readers_and_buyers(5, buyers_share=0.95)
    readers = _nearest(model, {"pages_awareness": 16.0, "purchases": 50.0})
    assert "frequent buyer" in model.segment_names()[readers]


def _members(n: int) -> int:
    """The bits of members 0 .. n - 1."""
    return (1 << n) - 1


@pytest.mark.parametrize(
    ("members", "buyers", "said"),
    [(30, 25, False), (300, 270, True), (6, 6, False), (60, 58, True)],
)
def test_a_phrase_is_said_only_when_its_share_clears_the_bar_beyond_sampling_error(
    members: int, buyers: int, said: bool
) -> None:
    # 25 buyers of 30 sampled members (83 %) may well be under 80 % of the segment's
    # customers; 270 of 300 (90 %) hardly; 6 of 6 are too few to tell.
    truth = Truth(members, {"purchases": _members(buyers), "open_rate": _members(members)}, {})
    name = name_segments({1: {"purchases": 1.5, "open_rate": 0.8}}, truth={1: truth})[1]
    assert ("frequent buyer" in name) is said


def test_members_on_the_hysteresis_band_count_toward_a_phrase() -> None:
    # Three buyers near centre 8 and one customer between the centres who does not buy:
    # by nearest centre all of 8's members buy; under a margin the one between may stay
    # in 8 (or reach it), and buying is true of three of its four.
    points = np.array([[1.0, 4.0], [1.0, 4.2], [1.0, 3.8], [0.0, 2.1], [0.0, 0.0], [0.0, 0.2]])
    centres = np.array([[0.0, 0.1], [1.0, 4.0]])
    nearest = phrase_truth(points, centres, np.ones(2), [7, 8], ("purchases", "visits"))
    band = phrase_truth(points, centres, np.ones(2), [7, 8], ("purchases", "visits"), 0.2)
    assert nearest[8].share(nearest[8].high["purchases"]) == 1.0
    assert band[8].members == 4
    assert band[8].share(band[8].high["purchases"]) == 0.75
