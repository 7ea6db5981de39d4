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

``--worlds N`` checks segflow on worlds it was not tuned on instead: N random worlds of
:mod:`bench.worlds` (seeds ``--world-seed`` S to S + N - 1; a second, independent
persona generator), each replayed through the in-memory runner and measured by
:func:`run_world`, then the worst of them against :data:`FLOORS`. It prints one JSON
object ``{"worlds": [...], "worst": {...}}`` and a line per world on stderr; the River
baselines and the step timing are left out. About 15-30 s per world here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from river import cluster, compose, preprocessing
from sklearn.metrics import adjusted_rand_score

from bench.common import batch_kmeans
from bench.worlds import Switch, generate
from segflow.models.changes import SegmentChange
from segflow.models.claims import consistency_report, parse_name
from segflow.models.config import EngineConfig
from segflow.models.events import Event
from segflow.models.features import BehaviorTransform, profile_features
from segflow.models.model import SegmentModel
from segflow.models.profile import Profile
from segflow.models.runner import replay
from segflow.models.step import step
from segflow.models.timeutil import DAY
from segflow.sources.simulator import SimulationConfig, simulate

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
    log = ChangeLog()
    end = (sim_config.start + timedelta(days=days)).timestamp()
    result = replay(
        sim.events,
        config,
        on_change=log,
        on_sample=lambda sample, _t: samples.append(sample),
        until=end,
    )
    profiles, model = result.profiles, result.model
    step_ns = time_steps(sim.events[: min(len(sim.events), 100_000)], model)

    ids = sorted(sim.personas)
    truth = [sim.personas[c] for c in ids]
    half_life = config.half_life_days * DAY
    transform = BehaviorTransform()
    final = [transform.transform_one(x) for x in readable_features(profiles, ids, end, half_life)]
    k = config.n_segments
    batch = batch_kmeans(final, k, seed)

    ari = {
        "segflow": adjusted_rand_score(truth, [str(log.last_segment.get(c)) for c in ids]),
        "river_kmeans": _river_ari(cluster.KMeans(n_clusters=k, seed=seed), samples, final, truth),
        "river_streamkmeans": _river_ari(
            cluster.STREAMKMeans(chunk_size=1000 if quick else 2000, n_clusters=k, seed=seed),
            samples,
            final,
            truth,
        ),
        "batch_kmeans": adjusted_rand_score(truth, batch),
    }

    # Drift: switched customers whose switch leaves two half-lives before the end.
    switch_times = {c: switch.at.timestamp() for c, switch in sim.switches.items()}
    eligible, delays = detections(switch_times, log.behavioral, 2 * half_life, end)
    warm = (sim_config.start + timedelta(days=sim_config.warmup_days)).timestamp()
    false_changes, stable, weeks_after_warmup = count_false_changes(
        ids, switch_times, log.behavioral, warm, end
    )

    sizes = [len(p.to_json()) for p in profiles.values()]
    return {
        "ari": {name: round(value, 4) for name, value in ari.items()},
        "drift_recall": round(len(delays) / eligible, 4) if eligible else None,
        "median_days_to_detect": round(statistics.median(delays), 2) if delays else None,
        "false_change_rate": round(false_changes / stable, 4),
        # The same count per customer-week: false changes come at a steady weekly rate,
        # so false_change_rate grows with the run's length after warm-up.
        "false_changes_per_customer_week": round(false_changes / stable / weeks_after_warmup, 5)
        if weeks_after_warmup > 0
        else None,
        "step_us_median": round(statistics.median(step_ns) / 1000, 1),
        "profile_bytes_median": statistics.median(sizes),
        "customers": customers,
        "events": len(sim.events),
        "switched": eligible,
        "segments": {s.id: s.name for s in model.segments()},
    }


class ChangeLog:
    """What a subscriber to ``segment-changes`` learns (an ``on_change`` callback):
    each customer's last behavioral segment, the event times of its behavioral changes,
    and every behavioral segment id named by a change."""

    def __init__(self) -> None:
        self.last_segment: dict[str, str | None] = {}
        self.behavioral: dict[str, list[float]] = {}
        self.segment_ids: set[str] = set()
        #: Every behavioral change as (customer, from segment, to segment, event time,
        #: reason: ``event``, ``inactivity``, ``retired``...).
        self.moves: list[tuple[str, str | None, str | None, float, str]] = []

    def __call__(self, change: SegmentChange) -> None:
        if change.kind == "behavioral":
            t = change.occurred_at.timestamp()
            self.last_segment[change.customer_id] = change.to_segment
            self.behavioral.setdefault(change.customer_id, []).append(t)
            self.segment_ids.update(s for s in (change.from_segment, change.to_segment) if s)
            self.moves.append(
                (change.customer_id, change.from_segment, change.to_segment, t, change.reason)
            )


def readable_features(
    profiles: Mapping[str, Profile], ids: Sequence[str], end: float, half_life: float
) -> list[dict[str, float]]:
    """Each customer's readable features at ``end`` (or its last event, when later)."""
    return [profile_features(profiles[c], max(end, profiles[c].as_of), half_life) for c in ids]


def changes_within(
    behavioral: Mapping[str, list[float]], customer: str, at: float, window: float
) -> list[float]:
    """The times of ``customer``'s behavioral changes from ``at`` to ``at + window``."""
    return [t for t in behavioral.get(customer, []) if at <= t <= at + window]


def detections(
    switch_times: Mapping[str, float],
    behavioral: Mapping[str, list[float]],
    window: float,
    end: float,
) -> tuple[int, list[float]]:
    """Switches whose ``window`` (s) ends by ``end``, and the days from each such switch
    to the customer's first behavioral change inside its window (detected ones only)."""
    delays = []
    eligible = 0
    for c, at in switch_times.items():
        if at + window > end:
            continue
        eligible += 1
        after = changes_within(behavioral, c, at, window)
        if after:
            delays.append((after[0] - at) / DAY)
    return eligible, delays


def recall_beyond_chance(
    switches: Mapping[str, Switch],
    switch_times: Mapping[str, float],
    initial: Mapping[str, str],
    behavioral: Mapping[str, list[float]],
    window: float,
    end: float,
) -> float | None:
    """Recall with what chance gives taken out: a switch counts as detected by any change
    in its window, and a never-switched customer of the same persona changes in that same
    window with some chance ``p`` (its flapping). Over the eligible switches,
    ``(detected - sum p) / (eligible - sum p)``, as a kappa corrects agreement."""
    stable: dict[str, list[str]] = {}
    for c, persona in initial.items():
        if c not in switch_times:
            stable.setdefault(persona, []).append(c)
    detected = eligible = 0
    chance = 0.0
    for c, at in switch_times.items():
        if at + window > end:
            continue
        eligible += 1
        detected += bool(changes_within(behavioral, c, at, window))
        peers = stable.get(switches[c].from_persona, [])
        if peers:
            moved = sum(bool(changes_within(behavioral, p, at, window)) for p in peers)
            chance += moved / len(peers)
    if eligible == 0 or eligible - chance <= 0:
        return None
    return round((detected - chance) / (eligible - chance), 4)


def count_false_changes(
    ids: Iterable[str],
    switched: Container[str],
    behavioral: Mapping[str, list[float]],
    warm: float,
    end: float,
) -> tuple[int, int, float]:
    """Behavioral changes of never-switched customers after ``warm``, how many such
    customers there are, and the weeks from ``warm`` to ``end``."""
    stable = [c for c in ids if c not in switched]
    false_changes = sum(1 for c in stable for t in behavioral.get(c, []) if t > warm)
    return false_changes, len(stable), (end - warm) / (7 * DAY)


#: Floors on the worst of the random worlds (``--worlds``).
FLOORS: dict[str, tuple[str, float]] = {
    "ari_ratio": (">=", 0.95),
    "recall_2hl": (">=", 0.85),
    "recall_3hl": (">=", 0.95),
    "false_changes_per_customer_week": ("<=", 0.015),
    "name_consistency": (">=", 0.8),
}
#: Metrics of a world where lower is worse (the rest: higher is worse).
LOWER_IS_WORSE = ("ari_ratio", "recall_2hl", "recall_3hl", "name_consistency")
HIGHER_IS_WORSE = ("false_changes_per_customer_week", "id_churn")


def run_world(seed: int) -> dict[str, Any]:
    """Replay the random world of ``seed`` (:mod:`bench.worlds`) and measure it.

    - ``ari_segflow`` / ``ari_batch``: ARI of segflow's final segments (last behavioral
      change) and of batch k-means on the final features, against the final personas;
      ``ari_ratio`` is their ratio;
    - ``recall_2hl`` / ``recall_3hl``: share of the switches whose window of 2 / 3
      configured half-lives ends inside the run that are followed by a behavioral change
      of that customer inside the window; ``recall_2hl_beyond_chance`` /
      ``recall_3hl_beyond_chance``: the same with what flapping gives taken out
      (:func:`recall_beyond_chance`);
    - ``false_changes_per_customer_week``: behavioral changes of never-switched customers
      after the warm-up, per such customer and week after the warm-up (as :func:`run`);
    - ``id_churn``: distinct segment ids named by behavioral changes over the whole run,
      divided by ``n_segments`` (1.0: the seeded ids stayed; every id born later, and
      later retired, adds 1 / ``n_segments``);
    - ``name_consistency``: the least, over the final model's segments, share of
      members (final segment per customer) consistent with the segment's name
      (:func:`segflow.models.claims.consistency`).

    Diagnostics beside them: the share of never-engaged customers whose segment's name
    says "email-responsive", the segments with each claim's share of members, the
    segments each persona ended in, the switches missed most, and the false changes
    per persona and commonest moves. Any behavioral change counts toward recall, as in
    :func:`run`, so a world with many false changes also flatters its recall.
    """
    started = time.perf_counter()
    world = generate(seed)
    spec = world.spec
    config = EngineConfig(seed=seed)
    log = ChangeLog()
    end = spec.end.timestamp()
    result = replay(world.events, config, on_change=log, until=end)
    profiles, model = result.profiles, result.model

    ids = sorted(c for c in world.final if c in profiles)  # a customer with no event is unseen
    truth = [world.final[c] for c in ids]
    half_life = config.half_life_days * DAY
    readable = readable_features(profiles, ids, end, half_life)
    transform = BehaviorTransform()
    batch = batch_kmeans([transform.transform_one(x) for x in readable], config.n_segments, seed)
    ari_segflow = adjusted_rand_score(truth, [str(log.last_segment.get(c)) for c in ids])
    ari_batch = adjusted_rand_score(truth, batch)

    switch_times = {c: s.at.timestamp() for c, s in world.switches.items() if c in profiles}
    recall: dict[int, float | None] = {}
    median_delay: float | None = None
    for n in (2, 3):
        eligible, delays = detections(switch_times, log.behavioral, n * half_life, end)
        recall[n] = round(len(delays) / eligible, 4) if eligible else None
        if n == 2 and delays:
            median_delay = round(statistics.median(delays), 2)
    beyond_chance = {
        n: recall_beyond_chance(
            world.switches,
            switch_times,
            {c: world.initial[c] for c in ids},
            log.behavioral,
            n * half_life,
            end,
        )
        for n in (2, 3)
    }
    warm = (spec.start + timedelta(days=spec.warmup_days)).timestamp()
    false_changes, stable, weeks = count_false_changes(ids, switch_times, log.behavioral, warm, end)

    names = model.segment_names()
    features = dict(zip(ids, readable, strict=True))
    members: dict[str, str] = {}
    gone = 0
    for c in ids:
        segment = log.last_segment.get(c)
        if segment is None:
            continue
        if segment in names:
            members[c] = names[segment]
        else:
            gone += 1
    report = consistency_report(members, features)
    responsive = [
        c
        for c in world.never_engaged
        if c in members and "email-responsive" in parse_name(members[c]).claims
    ]
    with_segment = sum(1 for c in world.never_engaged if c in members)

    metrics: dict[str, Any] = {
        "ari_segflow": round(ari_segflow, 4),
        "ari_batch": round(ari_batch, 4),
        "ari_ratio": round(ari_segflow / ari_batch, 4) if ari_batch > 0 else None,
        "recall_2hl": recall[2],
        "recall_3hl": recall[3],
        "median_days_to_detect": median_delay,
        "false_changes_per_customer_week": round(false_changes / stable / weeks, 5)
        if stable and weeks > 0
        else None,
        "recall_2hl_beyond_chance": beyond_chance[2],
        "recall_3hl_beyond_chance": beyond_chance[3],
        "id_churn": round(len(log.segment_ids) / config.n_segments, 3),
        "name_consistency": round(min((r.share for r in report.values()), default=1.0), 4),
    }
    return {
        "world": world.summary(),
        **metrics,
        "floors_met": floors_met(metrics),
        "never_engaged_in_email_responsive": round(len(responsive) / with_segment, 4)
        if with_segment
        else None,
        "members_of_retired_segments": gone,
        "segments": [
            {
                "name": r.name,
                "size": r.size,
                "consistent": round(r.share, 3),
                "by_claim": {p: round(v, 3) for p, v in r.by_claim.items()},
                **({"unverifiable": list(r.unknown)} if r.unknown else {}),
            }
            for r in sorted(report.values(), key=lambda r: r.share)
        ],
        "personas": persona_segments(ids, world.final, members),
        "missed_switches": missed_switches(world.switches, switch_times, log, 2 * half_life, end),
        "false_changes": false_change_detail(
            log, {c: world.initial[c] for c in ids}, switch_times, names, warm, weeks
        ),
        "seconds": round(time.perf_counter() - started, 1),
    }


def persona_segments(
    ids: Sequence[str], truth: Mapping[str, str], members: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Per true final persona: its customers and the (at most three) segments most of
    them ended in, with their shares."""
    groups: dict[str, list[str]] = {}
    for c in ids:
        groups.setdefault(truth[c], []).append(c)
    out = {}
    for persona, customers in sorted(groups.items()):
        counts = Counter(members.get(c, "(none)") for c in customers)
        out[persona] = {
            "n": len(customers),
            "segments": {name: round(k / len(customers), 3) for name, k in counts.most_common(3)},
        }
    return out


def missed_switches(
    switches: Mapping[str, Switch],
    switch_times: Mapping[str, float],
    log: ChangeLog,
    window: float,
    end: float,
) -> dict[str, str]:
    """The (at most four) kinds of switch (``from -> to`` persona) missed most often
    within ``window``, each with ``detected/eligible``."""
    pairs: dict[str, dict[str, float]] = {}
    for c, at in switch_times.items():
        pair = f"{switches[c].from_persona} -> {switches[c].to_persona}"
        pairs.setdefault(pair, {})[c] = at
    found = {pair: detections(times, log.behavioral, window, end) for pair, times in pairs.items()}
    worst = sorted(found.items(), key=lambda item: len(item[1][1]) - item[1][0])[:4]
    return {pair: f"{len(delays)}/{eligible}" for pair, (eligible, delays) in worst if eligible}


def false_change_detail(
    log: ChangeLog,
    persona: Mapping[str, str],
    switched: Container[str],
    names: Mapping[str, str],
    warm: float,
    weeks: float,
) -> dict[str, Any]:
    """Where the false changes come from: per persona, per customer-week after the
    warm-up; the share of each change reason; and the (at most four) commonest moves
    between named segments."""
    stable = Counter(p for c, p in persona.items() if c not in switched)
    moves = [m for m in log.moves if m[0] not in switched and m[3] > warm]
    by_persona = Counter(persona[m[0]] for m in moves)
    by_reason = Counter(m[4] for m in moves)
    pairs = Counter(
        f"{names.get(str(a), str(a))} -> {names.get(str(b), str(b))}" for _, a, b, _, _ in moves
    )
    return {
        "by_persona": {
            p: round(by_persona[p] / n / weeks, 4) for p, n in sorted(stable.items()) if weeks > 0
        },
        "by_reason": {r: round(k / len(moves), 3) for r, k in by_reason.most_common()},
        "commonest": dict(pairs.most_common(4)),
    }


def floors_met(metrics: Mapping[str, float | None]) -> dict[str, bool]:
    """Whether each metric of :data:`FLOORS` meets its floor (a missing one does not)."""
    out = {}
    for name, (op, floor) in FLOORS.items():
        value = metrics.get(name)
        out[name] = value is not None and (value >= floor if op == ">=" else value <= floor)
    return out


def run_worlds(n: int, base_seed: int) -> dict[str, Any]:
    """:func:`run_world` for seeds ``base_seed .. base_seed + n - 1``, and the worst of them."""
    worlds = []
    for seed in range(base_seed, base_seed + n):
        result = run_world(seed)
        print(f"world {seed}: {result['world']['site']}, {result['seconds']} s", file=sys.stderr)
        worlds.append(result)
    worst: dict[str, Any] = {}
    seeds: dict[str, int] = {}
    for name in (*LOWER_IS_WORSE, *HIGHER_IS_WORSE):
        scored = [(w[name], w["world"]["seed"]) for w in worlds if w[name] is not None]
        if not scored:
            worst[name] = None
            continue
        value, seed = min(scored) if name in LOWER_IS_WORSE else max(scored)
        worst[name], seeds[name] = value, seed
    worst["seeds"] = seeds
    worst["floors"] = {name: f"{op} {floor}" for name, (op, floor) in FLOORS.items()}
    worst["floors_met"] = floors_met(worst)
    return {"worlds": worlds, "worst": worst}


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
    parser.add_argument(
        "--worlds",
        type=int,
        default=None,
        metavar="N",
        help="replay N random worlds of bench.worlds instead of the simulator",
    )
    parser.add_argument(
        "--world-seed", type=int, default=1, metavar="S", help="seed of the first world (1)"
    )
    args = parser.parse_args(argv)
    if args.worlds is not None:
        if args.worlds < 1:
            parser.error("--worlds must be at least 1")
        print(json.dumps(run_worlds(args.worlds, args.world_seed)))
        return 0
    customers = args.customers or 5_000
    days = args.days or (56.0 if args.quick else 84.0)
    print(json.dumps(run(customers, days, args.seed, args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
