"""Segment quality on the simulator: segflow against River's online baselines and batch k-means.

Prints one JSON object (see the README). ``--quick`` replays 56 days instead of 84: about
two minutes on this 2-core machine (#2 asks for under one; see the README).

How each method's final segments are read:
- segflow: the in-memory runner (step, learner and inactivity sweep) replays the
  events; a customer's final segment is the ``to_segment`` of its last behavioral
  change (what a subscriber to ``segment-changes`` believes), never a re-prediction.
  ``step_us_median`` times the pure step alone, over the first 100k events again,
  against the learned model.
- River ``KMeans`` / ``STREAMKMeans``: they learn the same samples segflow's model
  learns (same features, same order, standardized online by River's
  ``StandardScaler``) and then predict each customer's final features: a re-prediction
  at the end, which flatters them.
- batch k-means: scikit-learn ``KMeans`` on the standardized final feature vectors
  (the offline reference).

River's ``STREAMKMeans`` result varies from run to run with the same seed (River sums
distances over Python sets of feature names, whose order follows string hashing); run
with ``PYTHONHASHSEED=0`` for a repeatable figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import timedelta
from typing import Any

from river import cluster, compose, preprocessing
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from segflow.models.changes import SegmentChange
from segflow.models.config import EngineConfig
from segflow.models.events import Event
from segflow.models.features import CLUSTER_FEATURES, BehaviorTransform, profile_features
from segflow.models.model import SegmentModel
from segflow.models.profile import Profile
from segflow.models.runner import replay
from segflow.models.simulator import SimulationConfig, simulate
from segflow.models.step import step
from segflow.models.timeutil import DAY

WARMUP_DAYS = 28.0


def run(customers: int, days: float, seed: int, quick: bool) -> dict[str, Any]:
    # Switches fall after a four-week warm-up (profiles and model mature) and at least two
    # half-lives before the end, so every switch can be detected inside its window.
    sim_config = SimulationConfig(
        customers=customers,
        days=days,
        seed=seed,
        drift_fraction=0.2,
        warmup_days=WARMUP_DAYS,
        settle_days=14.0,
    )
    sim = simulate(sim_config)
    config = EngineConfig(seed=seed)
    samples: list[dict[str, float]] = []
    last_segment: dict[str, str | None] = {}
    behavioral: dict[str, list[float]] = {}

    def on_change(change: SegmentChange) -> None:
        if change.kind == "behavioral":
            last_segment[change.customer_id] = change.to_segment
            behavioral.setdefault(change.customer_id, []).append(change.occurred_at.timestamp())

    end = (sim_config.start + timedelta(days=days)).timestamp()
    result = replay(
        sim.events,
        config,
        on_change=on_change,
        on_sample=lambda sample, _t: samples.append(sample),
        until=end,
    )
    profiles, model = result.profiles, result.model
    step_ns = time_steps(sim.events[: min(len(sim.events), 100_000)], model)

    ids = sorted(sim.personas)
    truth = [sim.personas[c] for c in ids]
    half_life = config.half_life_days * DAY
    transform = BehaviorTransform()
    final = [
        transform.transform_one(
            profile_features(profiles[c], max(end, profiles[c].as_of), half_life)
        )
        for c in ids
    ]
    matrix = StandardScaler().fit_transform([[x[f] for f in CLUSTER_FEATURES] for x in final])
    k = config.n_segments
    batch = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(matrix)

    ari = {
        "segflow": adjusted_rand_score(truth, [str(last_segment.get(c)) for c in ids]),
        "river_kmeans": _river_ari(cluster.KMeans(n_clusters=k, seed=seed), samples, final, truth),
        "river_streamkmeans": _river_ari(
            cluster.STREAMKMeans(chunk_size=1000 if quick else 2000, n_clusters=k, seed=seed),
            samples,
            final,
            truth,
        ),
        "batch_kmeans": adjusted_rand_score(truth, batch.tolist()),
    }

    # Drift: switched customers whose switch leaves two half-lives before the end.
    window = 2 * half_life
    delays = []
    eligible = 0
    for c, switch in sim.switches.items():
        at = switch.at.timestamp()
        if at + window > end:
            continue
        eligible += 1
        after = [t for t in behavioral.get(c, []) if at <= t <= at + window]
        if after:
            delays.append((after[0] - at) / DAY)
    warm = (sim_config.start + timedelta(days=sim_config.warmup_days)).timestamp()
    stable = [c for c in ids if c not in sim.switches]
    false_changes = sum(1 for c in stable for t in behavioral.get(c, []) if t > warm)
    weeks_after_warmup = (end - warm) / (7 * DAY)

    sizes = [len(p.to_json()) for p in profiles.values()]
    return {
        "ari": {name: round(value, 4) for name, value in ari.items()},
        "drift_recall": round(len(delays) / eligible, 4) if eligible else None,
        "median_days_to_detect": round(statistics.median(delays), 2) if delays else None,
        "false_change_rate": round(false_changes / len(stable), 4),
        # The same count per customer-week: false changes come at a steady weekly rate,
        # so false_change_rate grows with the run's length after warm-up.
        "false_changes_per_customer_week": round(
            false_changes / len(stable) / weeks_after_warmup, 5
        )
        if weeks_after_warmup > 0
        else None,
        "step_us_median": round(statistics.median(step_ns) / 1000, 1),
        "profile_bytes_median": statistics.median(sizes),
        "customers": customers,
        "events": len(sim.events),
        "switched": eligible,
        "segments": {s.id: s.name for s in model.segments()},
    }


def time_steps(events: list[Event], model: SegmentModel) -> list[int]:
    """Nanoseconds of each pure step over ``events``, against the learned model."""
    profiles: dict[str, Profile] = {}
    timer = time.perf_counter_ns
    out = []
    for event in events:
        start = timer()
        result = step(event, profiles.get(event.customer_id), model, event.occurred_at)
        out.append(timer() - start)
        profiles[event.customer_id] = result.profile
    return out


def _river_ari(
    clusterer: Any, samples: list[dict[str, float]], final: list[dict[str, float]], truth: list[str]
) -> float:
    transform = BehaviorTransform()
    pipeline = compose.Pipeline(preprocessing.StandardScaler(), clusterer)
    for sample in samples:
        pipeline.learn_one(transform.transform_one(sample))
    predicted = [pipeline.predict_one(x) for x in final]
    return float(adjusted_rand_score(truth, predicted))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="56 days instead of 84: a shorter run")
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--days", type=float, default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    customers = args.customers or 5_000
    days = args.days or (56.0 if args.quick else 84.0)
    print(json.dumps(run(customers, days, args.seed, args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
