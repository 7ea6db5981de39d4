"""Buy-till-you-die on CDNOW, as the literature checks it.

The CDNOW master file (``../shared/data``, all 23,570 customers of the Q1 1997 cohort;
the published figures are for a 1-in-10 sample of 2,357 that is not in the file) is
split at week 39: each customer's repeat purchases (distinct purchase days after the
first), the week of the last one and its age at the split are the calibration
statistics; the purchase days in the next 39 weeks are the holdout. This prints, as
JSON: the BG/NBD parameters fitted by maximum likelihood (:class:`segflow.models.btyd.BgNbd`)
beside the published ones (r 0.243, alpha 4.414, a 0.793, b 2.426, weeks), the total
repeat purchases predicted for the holdout against the actual ones (floor: within 10 %),
the same on seeded 1-in-10 samples, and the Gamma-Gamma spend parameters; with
``--elog`` the same on the published sample itself (the BTYD package's event log).

It then replays UCI Online Retail through the engine and reports the online purchase
propensity (30 days) measured prequentially beside scikit-learn's
HistGradientBoostingClassifier trained offline on the same samples before a time split
(floor: online AUC within 0.05 of the offline one), with both calibration errors; and
the cost of the value scores in the pure step (floor: within 20 %).

``python -m bench.value [--seed S] [--elog cdnowElog.csv]`` (about three minutes).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from segflow.models.btyd import BgNbd, GammaGamma
from segflow.streams.replay import datasets_folder

START, SPLIT, END = date(1997, 1, 1), date(1997, 10, 1), date(1998, 7, 1)  # 39 + 39 weeks
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def purchases(path: Path) -> dict[str, dict[date, float]]:
    """Spend per purchase day of every customer."""
    days: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    with gzip.open(path, "rt", newline="") as f:
        for row in csv.DictReader(f):
            day = date.fromisoformat(row["date"])
            days[row["customer_id"]][day] += float(row["amount_usd"])
    return days


def statistics(days: dict[str, dict[date, float]]) -> dict[str, np.ndarray]:
    """Calibration statistics (weeks), holdout purchase days, repeat mean spend."""
    rows = []
    for spend in days.values():
        calibration = sorted(d for d in spend if d < SPLIT)
        if not calibration:
            continue
        first, last = calibration[0], calibration[-1]
        holdout = sum(1 for d in spend if SPLIT <= d < END)
        repeats = [spend[d] for d in calibration[1:]]
        mean = float(np.mean(repeats)) if repeats else 0.0
        rows.append(
            (len(repeats), (last - first).days / 7, (SPLIT - first).days / 7, holdout, mean)
        )
    x, t_x, T, holdout, mean = (np.array(column, dtype=float) for column in zip(*rows, strict=True))
    return {"x": x, "t_x": t_x, "T": T, "holdout": holdout, "mean_spend": mean}


def holdout_total(model: BgNbd, stats: dict[str, np.ndarray]) -> float:
    """Repeat purchases the model expects in the 39 holdout weeks, summed over customers."""
    return float(
        sum(
            model.expected_purchases(39.0, x, t_x, T)
            for x, t_x, T in zip(stats["x"], stats["t_x"], stats["T"], strict=True)
        )
    )


def judge(stats: dict[str, np.ndarray], published: bool = False) -> dict[str, Any]:
    """Fit on the calibration statistics; predicted and actual holdout totals (and,
    ``published``, the total the published parameters predict)."""
    model = BgNbd.fit(stats["x"], stats["t_x"], stats["T"])
    predicted = holdout_total(model, stats)
    actual = float(stats["holdout"].sum())
    extra = {}
    if published:
        by_paper = holdout_total(BgNbd(**PUBLISHED), stats)
        extra = {
            "holdout_predicted_by_published_params": round(by_paper, 1),
            "holdout_error_of_published_params": round((by_paper - actual) / actual, 4),
        }
    return extra | {
        "customers": len(stats["x"]),
        "params": {k: round(getattr(model, k), 3) for k in PUBLISHED},
        "holdout_actual": int(actual),
        "holdout_predicted": round(predicted, 1),
        "holdout_error": round((predicted - actual) / actual, 4),
    }


def propensity(split_share: float = 0.7) -> dict[str, Any]:
    """UCI Online Retail through the engine: the online purchase propensity (30 days),
    scored prequentially (each prediction made when its sample was taken, its label
    known 30 days later), against scikit-learn's HistGradientBoostingClassifier trained
    offline on the same labelled samples before a time split and tested after it."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    from segflow.models.config import EngineConfig
    from segflow.models.model import SegmentModel
    from segflow.models.propensity import Pending
    from segflow.models.runner import replay
    from segflow.sources.online_retail import online_retail

    from .realdata import RETAIL_ENGINE

    started = time.monotonic()
    model = SegmentModel.create(EngineConfig(**RETAIL_ENGINE))
    labelled: list[Pending] = []
    model.value_learning().record = labelled
    replay(online_retail(datasets_folder() / "online_retail_uci.csv.gz"), model=model)
    labelled.sort(key=lambda w: w.t)
    split = labelled[int(len(labelled) * split_share)].t
    train = [w for w in labelled if w.t < split]
    test = [w for w in labelled if w.t >= split and w.predicted is not None]
    names = sorted(labelled[0].z)

    def matrix(rows: list[Pending]) -> np.ndarray:
        return np.array([[w.z[n] for n in names] for w in rows])

    offline = HistGradientBoostingClassifier(random_state=0)
    offline.fit(matrix(train), [w.bought for w in train])
    truth = [w.bought for w in test]
    online = [float(w.predicted or 0.0) for w in test]
    offline_p = offline.predict_proba(matrix(test))[:, 1]
    return {
        "labelled_samples": len(labelled),
        "train_before_split": len(train),
        "test_after_split": len(test),
        "buy_rate_test": round(float(np.mean(truth)), 4),
        "online_auc": round(float(roc_auc_score(truth, online)), 4),
        "offline_hgb_auc": round(float(roc_auc_score(truth, offline_p)), 4),
        "online_calibration_error": round(calibration_error(online, truth), 4),
        "offline_calibration_error": round(calibration_error(list(offline_p), truth), 4),
        "online_auc_all_prequential": round(model.value_learning().quality.auc() or 0.0, 4),
        "floor_auc_gap_within": 0.05,
        "seconds": round(time.monotonic() - started, 1),
    }


def calibration_error(predicted: list[float], truth: list[bool], bins: int = 10) -> float:
    """Expected calibration error: the mean gap between predicted and observed rates
    over equal-width bins, weighted by their counts."""
    p, y = np.asarray(predicted, dtype=float), np.asarray(truth, dtype=float)
    which = np.minimum((p * bins).astype(int), bins - 1)
    gap = sum(
        abs(p[which == b].mean() - y[which == b].mean()) * (which == b).sum()
        for b in range(bins)
        if (which == b).any()
    )
    return float(gap / len(p))


def elog_purchases(path: Path) -> dict[str, dict[date, float]]:
    """Spend per purchase day from an event log in the BTYD package's format
    (``cdnowElog.csv``: ``masterid,sampleid,date,cds,sales``, dates as YYYYMMDD): the
    published 2,357-customer sample itself, for whoever has it."""
    days: dict[str, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            d = row["date"]
            days[row["masterid"]][date(int(d[:4]), int(d[4:6]), int(d[6:]))] += float(row["sales"])
    return days


def step_cost(events: int = 60_000) -> dict[str, Any]:
    """Median time of the pure step with the value scores and without them (the same
    learned model with its value model and propensity taken out), on the simulator's
    world with the value rules loaded: rules read scores on every event and look."""
    import statistics

    from segflow.models.config import EngineConfig
    from segflow.models.model import SegmentModel
    from segflow.models.propensity import PurchasePropensity
    from segflow.models.runner import replay
    from segflow.sources.simulator import SimulationConfig, simulate

    from .quality import time_steps

    world = simulate(SimulationConfig(customers=2000, days=112.0, seed=7))
    config = EngineConfig(rules_file=Path(__file__).parents[1] / "examples" / "value_rules.yaml")
    learned = replay(world.events, config).model
    bare = SegmentModel.from_snapshot(learned.to_snapshot(), config)
    bare.value, bare.propensity = None, PurchasePropensity()
    timings: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(2):  # interleaved, so both see the same machine
        for name, model in (("without", bare), ("with", learned)):
            ns = time_steps(world.events[:events], model)
            timings[name].append(statistics.median(ns) / 1000)
    with_us, without_us = min(timings["with"]), min(timings["without"])
    return {
        "step_us_with_value_scores": round(with_us, 1),
        "step_us_without": round(without_us, 1),
        "ratio": round(with_us / without_us, 3),
        "floor_ratio_within": 1.2,
    }


def run(seed: int, elog: Path | None = None) -> dict[str, Any]:
    started = time.monotonic()
    stats = statistics(purchases(datasets_folder() / "cdnow_master.csv.gz"))
    full = judge(stats)
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(3):
        pick = rng.choice(len(stats["x"]), size=len(stats["x"]) // 10, replace=False)
        samples.append(judge({k: v[pick] for k, v in stats.items()}))
    spend = GammaGamma.fit(stats["x"], stats["mean_spend"])
    return {
        "published_2357": PUBLISHED,
        "full_cohort": full,
        "one_in_ten_samples": samples,
        "gamma_gamma": {"p": round(spend.p, 3), "q": round(spend.q, 3), "v": round(spend.v, 3)},
        "published_sample_from_elog": judge(statistics(elog_purchases(elog)), published=True)
        if elog
        else None,
        "floor_holdout_error_within": 0.10,
        "propensity_online_retail": propensity(),
        "cost": step_cost(),
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.value", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--elog",
        type=Path,
        default=None,
        help="the BTYD package's cdnowElog.csv (the published 2,357 sample), if you have it",
    )
    args = parser.parse_args(argv)
    print(json.dumps(run(args.seed, args.elog), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
