"""Drift detection: a segment's share driven up sharply is detected; a stable stream is not."""

from __future__ import annotations

import random

import pytest

from segflow.models.drift import DriftEvent, DriftMonitor, _Watch, centroid_shifts
from segflow.models.model import SegmentModel

N = 6000


def stream(seed: int, drift_at: int | None) -> list[DriftEvent]:
    """Assignments to three segments (20/30/50 %); from ``drift_at`` seg-1 takes 60 %."""
    rng = random.Random(seed)
    monitor = DriftMonitor()
    found: list[DriftEvent] = []
    for i in range(N):
        p = 0.6 if drift_at is not None and i >= drift_at else 0.2
        r = rng.random()
        rest = (1.0 - p) / 0.8  # the others keep their relative shares
        if r < p:
            segment = "seg-1"
        elif r < p + 0.3 * rest:
            segment = "seg-2"
        else:
            segment = "seg-3"
        distance = abs(rng.gauss(1.5, 0.4))
        found += monitor.observe(segment, distance, model_version=42, detected_at=1000.0 + i)
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_sharp_rise_in_share_is_detected(seed: int) -> None:
    found = stream(seed, drift_at=N // 2)
    up = [d for d in found if d.segment == "seg-1" and d.statistic == "share"]
    assert up, found
    first = up[0]
    assert first.new_level > first.old_level
    assert 0.15 < first.old_level < 0.25
    assert first.model_version == 42
    assert first.detected_at.timestamp() >= 1000.0 + N // 2  # not before the change
    assert first.detected_at.timestamp() < 1000.0 + N // 2 + 1000  # and soon after


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_stable_stream_of_the_same_length_raises_nothing(seed: int) -> None:
    assert stream(seed, drift_at=None) == []


def test_distance_drift_is_detected() -> None:
    rng = random.Random(7)
    monitor = DriftMonitor()
    found: list[DriftEvent] = []
    for i in range(4000):
        level = 1.0 if i < 2000 else 2.0
        found += monitor.observe("seg-1", rng.gauss(level, 0.3), model_version=1, detected_at=i)
    assert any(d.statistic == "distance" and d.new_level > 1.5 > d.old_level for d in found)


def test_centroid_shifts_between_model_versions() -> None:
    from segflow.models.config import EngineConfig

    config = EngineConfig(warmup_samples=10, warmup_days=0)
    model = SegmentModel.create(config)
    assert centroid_shifts(model, model) == {}
    for i in range(40):
        model.learn_one({"clicks": float(i % 5), "email_opens": float(i % 3)}, t=float(i))
    same = SegmentModel.from_snapshot(model.to_snapshot(), config)
    shifts = centroid_shifts(model, same)
    assert shifts and all(v == 0.0 for v in shifts.values())


def test_a_watch_keeps_its_window_as_adwin_does_across_drifts() -> None:
    # The old level of a drift comes from the window kept beside ADWIN's.
    rng = random.Random(1)
    watch = _Watch(0.002)
    drifts = 0
    for i in range(120_000):
        share = 0.2 if (i // 20_000) % 2 else 0.5
        drifts += watch.update(1.0 if rng.random() < share else 0.0) is not None
        assert watch.width == watch.adwin.width
        assert abs(watch.total - watch.adwin.total) < 1e-6
    assert drifts >= 5
