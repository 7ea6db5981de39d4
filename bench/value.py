"""Buy-till-you-die on CDNOW, as the literature checks it.

The CDNOW master file (``../shared/data``, all 23,570 customers of the Q1 1997 cohort;
the published figures are for a 1-in-10 sample of 2,357 that is not in the file) is
split at week 39: each customer's repeat purchases (distinct purchase days after the
first), the week of the last one and its age at the split are the calibration
statistics; the purchase days in the next 39 weeks are the holdout. This prints, as
JSON: the BG/NBD parameters fitted by maximum likelihood (:class:`segflow.models.btyd.BgNbd`)
beside the published ones (r 0.243, alpha 4.414, a 0.793, b 2.426, weeks), the total
repeat purchases predicted for the holdout against the actual ones (floor: within 10 %),
the same on seeded 1-in-10 samples, and the Gamma-Gamma spend parameters.

``python -m bench.value [--seed S]`` (about half a minute).
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


def judge(stats: dict[str, np.ndarray]) -> dict[str, Any]:
    """Fit on the calibration statistics; predicted and actual holdout totals."""
    model = BgNbd.fit(stats["x"], stats["t_x"], stats["T"])
    predicted = sum(
        model.expected_purchases(39.0, x, t_x, T)
        for x, t_x, T in zip(stats["x"], stats["t_x"], stats["T"], strict=True)
    )
    actual = float(stats["holdout"].sum())
    return {
        "customers": len(stats["x"]),
        "params": {k: round(getattr(model, k), 3) for k in PUBLISHED},
        "holdout_actual": int(actual),
        "holdout_predicted": round(predicted, 1),
        "holdout_error": round((predicted - actual) / actual, 4),
    }


def run(seed: int) -> dict[str, Any]:
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
        "floor_holdout_error_within": 0.10,
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.value", description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.seed), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
