"""Behavior of the online clusterer: half-life, seeding, drift, stable ids, re-seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from segflow.models.clustering import SegmentClusterer
from segflow.models.kmeans import best_of


def blob(rng: random.Random, centre: tuple[float, float], spread: float = 0.5) -> dict[str, float]:
    return {"a": rng.gauss(centre[0], spread), "b": rng.gauss(centre[1], spread)}


CENTRES = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]


def test_weights_halve_after_one_halflife_of_updates() -> None:
    model = SegmentClusterer(n_clusters=2, halflife=50, warmup=20, maintain_every=10**9, seed=1)
    rng = random.Random(0)
    for i in range(40):
        model.learn_one(blob(rng, CENTRES[i % 2]))
    assert model.weights is not None
    far = model.predict_one({"a": 10.0, "b": 0.0})
    j = model.ids.index(far)
    before = float(model.weights[j])
    for _ in range(50):  # 50 updates, none of them near the far cluster
        model.learn_one(blob(rng, CENTRES[0], 0.1))
    assert float(model.weights[j]) == pytest.approx(before / 2, rel=1e-9)


def test_seeding_recovers_well_separated_blobs() -> None:
    rng = random.Random(3)
    model = SegmentClusterer(n_clusters=3, warmup=90, seed=4)
    points, labels = [], []
    for i in range(900):
        points.append(blob(rng, CENTRES[i % 3]))
        labels.append(i % 3)
        model.learn_one(points[-1])
    predicted = [model.predict_one(x) for x in points]
    assert adjusted_rand_score(labels, predicted) == pytest.approx(1.0)


def test_a_moving_cluster_keeps_its_id() -> None:
    rng = random.Random(5)
    model = SegmentClusterer(n_clusters=3, halflife=300, warmup=90, seed=2)
    for i in range(300):
        model.learn_one(blob(rng, CENTRES[i % 3]))
    ids_before = sorted(model.ids)
    mover = model.predict_one({"a": 10.0, "b": 0.0})
    for i in range(3000):  # cluster at (10, 0) drifts slowly to (10, -6)
        shift = -6.0 * i / 3000
        centre = CENTRES[i % 3] if i % 3 != 1 else (10.0, shift)
        model.learn_one(blob(rng, centre))
    assert sorted(model.ids) == ids_before
    assert model.predict_one({"a": 10.0, "b": -6.0}) == mover
    # it followed most of the way (an online mean lags a moving target a little)
    assert model.centroid(mover)["b"] < -4.5


def test_a_refit_keeps_the_ids_of_clusters_whose_members_it_keeps() -> None:
    # Every refit is adopted (no gain asked) and no centre is close enough to keep its id
    # by distance alone: the ids survive because each refitted cluster holds most of the
    # members of one old cluster.
    rng = random.Random(11)
    model = SegmentClusterer(
        n_clusters=3, warmup=90, refit_every=100, refit_gain=0.0, match_distance=0.0, seed=5
    )
    for i in range(90):
        model.learn_one(blob(rng, CENTRES[i % 3]))
    seeded = sorted(model.ids)
    for i in range(2000):
        model.learn_one(blob(rng, CENTRES[i % 3]))
    assert model.refits >= 10
    assert sorted(model.ids) == seeded
    assert model.births == 3


def test_a_refit_names_a_cluster_made_of_parts_of_others_anew() -> None:
    # Old clusters split the points along a, refitted ones along b: each refitted cluster
    # holds half of each old one, so neither keeps an id; a refitted cluster holding
    # most of an old one's members keeps its id, however far its centre moved.
    model = SegmentClusterer(n_clusters=2, match_distance=0.0)
    model.ids = [7, 8]
    points = np.array([[a, b] for a in (-1.0, 1.0) for b in (-1.0, 1.0) for _ in range(5)])
    weights = np.ones(len(points))
    old = np.array([[-1.0, 0.0], [1.0, 0.0]])
    across = np.array([[0.0, -1.0], [0.0, 1.0]])
    assert model._match(points, weights, across, old) == [None, None]
    along = np.array([[1.0, 0.2], [-1.0, -0.2]])
    assert model._match(points, weights, along, old) == [8, 7]


def test_a_dead_cluster_is_reseeded_under_a_new_id() -> None:
    rng = random.Random(8)
    model = SegmentClusterer(n_clusters=3, halflife=200, warmup=90, maintain_every=100, seed=3)
    for i in range(600):
        model.learn_one(blob(rng, CENTRES[i % 3]))
    old = set(model.ids)
    dying = model.predict_one({"a": 0.0, "b": 10.0})
    new_centre = (-10.0, -10.0)
    for i in range(3000):  # the (0, 10) group stops; a new group appears at (-10, -10)
        model.learn_one(blob(rng, CENTRES[i % 2] if i % 3 else new_centre))
    assert dying not in model.ids
    newcomer = model.predict_one({"a": -10.0, "b": -10.0})
    assert newcomer not in old
    assert model.births > 3
    # the surviving groups kept their ids
    assert model.predict_one({"a": 0.0, "b": 0.0}) in old
    assert model.predict_one({"a": 10.0, "b": 0.0}) in old


def test_state_round_trip_gives_the_same_model() -> None:
    rng = random.Random(9)
    model = SegmentClusterer(n_clusters=3, warmup=60, seed=6)
    for i in range(400):
        model.learn_one(blob(rng, CENTRES[i % 3]))
    clone = SegmentClusterer.from_state(model.to_state())
    probes = [blob(rng, CENTRES[i % 3], 3.0) for i in range(50)]
    assert [clone.predict_one(x) for x in probes] == [model.predict_one(x) for x in probes]
    for x in probes:
        model.learn_one(x)
        clone.learn_one(x)
    assert clone.centers is not None
    assert model.centers is not None
    assert np.allclose(clone.centers, model.centers)


def test_standardization_makes_scale_irrelevant() -> None:
    rng = random.Random(10)
    small = SegmentClusterer(n_clusters=3, warmup=90, seed=1)
    large = SegmentClusterer(n_clusters=3, warmup=90, seed=1)
    points = [blob(rng, CENTRES[i % 3]) for i in range(600)]
    for x in points:
        small.learn_one(x)
        large.learn_one({"a": x["a"] * 1000.0, "b": x["b"]})
    labels_small = [small.predict_one(x) for x in points]
    labels_large = [large.predict_one({"a": x["a"] * 1000.0, "b": x["b"]}) for x in points]
    assert adjusted_rand_score(labels_small, labels_large) == pytest.approx(1.0)


def test_distances_follow_the_model_after_every_update() -> None:
    """Prediction reads a per-state view of the centres: learning must refresh it."""
    rng = random.Random(8)
    model = SegmentClusterer(n_clusters=3, warmup=60, maintain_every=25, refit_every=50, seed=6)
    probe = {"a": 4.0, "b": 3.0}
    seen = []
    for i in range(400):
        model.learn_one(blob(rng, CENTRES[i % 3]))
        if model.centers is None:
            assert model.distances(probe) == {}
            continue
        diff = (model.centers - np.array([4.0, 3.0])) / model.scale
        expected = np.sqrt((diff * diff).sum(axis=1))
        got = model.distances(probe)
        assert list(got) == model.ids
        assert list(got.values()) == pytest.approx(expected.tolist(), rel=1e-9)
        seen.append(tuple(got.values()))
    assert len(set(seen)) > 300  # the distances moved with the model
    # A feature left out takes the running mean.
    assert model.mean is not None
    partial = model.distances({"a": 4.0})
    assert partial == model.distances({"a": 4.0, "b": float(model.mean[1])})


def test_seeding_runs_lloyd_to_convergence() -> None:
    # On a continuous cloud Lloyd's passes move the centres a little for a long time;
    # seeded, each centre is the (half-life weighted) mean of the recent points nearest
    # to it: a fixed point, not a run cut short.
    rng = random.Random(21)
    model = SegmentClusterer(n_clusters=6, warmup=1500, recent=1500, seed=9)
    for _ in range(1500):
        model.learn_one({"a": rng.uniform(0, 10), "b": rng.uniform(0, 3)})
    assert model.centers is not None
    scaled = np.array(model.ring) / model.scale
    centres = model.centers / model.scale
    w = model._recent_weights()
    nearest = ((scaled[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    for j in range(6):
        mine = nearest == j
        mean = (scaled[mine] * w[mine, None]).sum(axis=0) / w[mine].sum()
        assert np.allclose(centres[j], mean, atol=1e-9)


def test_a_deferred_refit_adopted_later_gives_the_same_model() -> None:
    # A trainer computes refits in another process: learning with defer_refit and
    # adopting best_of(refit_job()) before the next point is learning in place.
    rng = random.Random(31)
    points = [blob(rng, CENTRES[i % 3], 2.5) for i in range(1200)]
    here = SegmentClusterer(n_clusters=3, warmup=90, refit_every=200, refit_gain=0.0, seed=4)
    there = SegmentClusterer(n_clusters=3, warmup=90, refit_every=200, refit_gain=0.0, seed=4)
    deferred = 0
    for x in points:
        here.learn_one(x)
        there.learn_one(x, defer_refit=True)
        if there.refit_due:
            deferred += 1
            job = there.refit_job()
            there.adopt_refit(job, best_of(*job))
            assert not there.refit_due
    assert deferred == 6 and here.refits == there.refits > 0
    assert there.to_state() == here.to_state()
