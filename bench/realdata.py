"""Real-data replay: UCI Online Retail through the in-memory runner, against batch k-means.

Prints one JSON object::

    {"customers": .., "rows": .., "events": .., "engine": {..},
     "segments": [{"id", "name", "size", "recency_days", "frequency", "monetary"}, ..],
     "ari_vs_batch_kmeans": .., "seconds": ..}

How it is measured:

- All 541,909 rows of ``online_retail_uci.csv.gz`` are read by the adapter
  (:func:`segflow.models.datasets.online_retail`: one purchase per invoice,
  cancellations as refunds, guest lines skipped) and replayed, streaming, through
  :func:`segflow.models.runner.replay` (step, learner and inactivity sweep).
  ``seconds`` is the wall time of that replay, file reading included.
- segflow's final segment of a customer is the ``to_segment`` of its last
  behavioral change (what a subscriber to ``segment-changes`` believes); a customer
  never assigned counts as one more label, ``null``.
- The reference: each customer's features at the end of the data (the last event's
  time) through :class:`~segflow.models.features.BehaviorTransform` and
  standardized (scikit-learn ``StandardScaler``), clustered by scikit-learn
  ``KMeans`` with the same k (``n_init=10``). ``ari_vs_batch_kmeans`` is the adjusted
  Rand index of the two labelings over every customer.
- The segment table describes each final segment in RFM terms from the raw events,
  as medians over its customers: ``recency_days`` (days from the last order to the
  end of the data), ``frequency`` (orders, refunds not counted) and ``monetary``
  (net spend in GBP, refunds subtracted). ``name`` is the model's name for a segment
  still alive at the end, else the last name a change gave it, marked ``(retired)``.

The engine configuration (:data:`RETAIL_ENGINE`, printed as ``engine``) departs from
the defaults where retail data needs it; ``--engine NAME=VALUE`` overrides any field.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from segflow.models.changes import SegmentChange
from segflow.models.config import EngineConfig
from segflow.models.datasets import default_path, online_retail
from segflow.models.events import Event, PurchaseEvent
from segflow.models.features import CLUSTER_FEATURES, BehaviorTransform, profile_features
from segflow.models.runner import replay
from segflow.models.timeutil import DAY

#: Engine settings for a year of purchase-only retail data (the rest are the defaults).
#:
#: - ``dwell_hours`` 0: customers of this shop order every few weeks; holding a move
#:   until an evaluation a day later delays it to the next order or sweep without
#:   protecting against flapping, which the hysteresis margin already does.
#: - ``warmup_samples`` 200 and ``warmup_days`` 1 (not 600 and 7): the sweep never looks
#:   at a customer who has no segment yet, so one whose orders all precede the seeding
#:   stays unassigned for good (54 customers with the defaults, 32 with these). The
#:   clusterer's refits (every 2,500 samples) correct an early seeding.
#: - ``half_life_days`` stays at 7. Longer ones (30, 90 days) were tried and agreed less
#:   with batch k-means: the sweep re-assesses a silent customer every seventh of a
#:   half-life, so a long half-life leaves final assignments further behind the end.
RETAIL_ENGINE: dict[str, Any] = {
    "dwell_hours": 0.0,
    "warmup_samples": 200,
    "warmup_days": 1.0,
}


@dataclass
class _Buyer:
    orders: int = 0
    net: float = 0.0
    last_order: float | None = None


def _tally(events: Iterator[Event], buyers: dict[str, _Buyer]) -> Iterator[Event]:
    for event in events:
        buyer = buyers.setdefault(event.customer_id, _Buyer())
        if isinstance(event, PurchaseEvent):
            buyer.net += event.amount
            if event.amount >= 0:
                buyer.orders += 1
                buyer.last_order = event.occurred_at.timestamp()
        yield event


def run(path: Path, config: EngineConfig) -> dict[str, Any]:
    """Replay Online Retail from ``path`` with ``config``; the JSON object described above."""
    stream = online_retail(path)
    buyers: dict[str, _Buyer] = {}
    last: dict[str, str | None] = {}
    last_name: dict[str, str] = {}

    def on_change(change: SegmentChange) -> None:
        if change.kind == "behavioral":
            last[change.customer_id] = change.to_segment
            if change.to_segment is not None and change.to_name:
                last_name[change.to_segment] = change.to_name

    started = time.perf_counter()
    result = replay(_tally(iter(stream), buyers), config, on_change=on_change)
    seconds = time.perf_counter() - started

    profiles, model = result.profiles, result.model
    ids = sorted(profiles)
    end = max(profile.as_of for profile in profiles.values())
    half_life = config.half_life_days * DAY
    transform = BehaviorTransform()
    final = [transform.transform_one(profile_features(profiles[c], end, half_life)) for c in ids]
    matrix = StandardScaler().fit_transform([[x[f] for f in CLUSTER_FEATURES] for x in final])
    batch = KMeans(n_clusters=config.n_segments, n_init=10, random_state=config.seed)
    reference = batch.fit_predict(matrix).tolist()
    labels = [str(last.get(c)) for c in ids]
    ari = float(adjusted_rand_score(reference, labels))

    live = model.segment_names()
    members: dict[str | None, list[str]] = {}
    for c in ids:
        members.setdefault(last.get(c), []).append(c)
    segments = []
    for segment, customers in sorted(members.items(), key=lambda item: -len(item[1])):
        if segment is None:
            name = "(never assigned)"
        elif segment in live:
            name = live[segment]
        else:
            name = f"{last_name.get(segment, segment)} (retired)"
        recency = [
            (end - b.last_order) / DAY
            for b in (buyers[c] for c in customers)
            if b.last_order is not None
        ]
        segments.append(
            {
                "id": segment,
                "name": name,
                "size": len(customers),
                "recency_days": round(statistics.median(recency), 1) if recency else None,
                "frequency": float(statistics.median(buyers[c].orders for c in customers)),
                "monetary": round(statistics.median(buyers[c].net for c in customers), 2),
            }
        )
    defaults = EngineConfig().model_dump()
    return {
        "customers": len(ids),
        "rows": stream.report.rows,
        "events": stream.report.events,
        "engine": {
            name: value
            for name, value in config.model_dump(mode="json").items()
            if value != defaults[name]
        },
        "segments": segments,
        "ari_vs_batch_kmeans": round(ari, 4),
        "seconds": round(seconds, 2),
    }


def table(result: dict[str, Any]) -> str:
    """The segment table, readably."""
    lines = [
        f"{'segment':<10} {'name':<44} {'customers':>9} {'recency d':>9} "
        f"{'orders':>6} {'net GBP':>10}"
    ]
    for s in result["segments"]:
        recency = "-" if s["recency_days"] is None else f"{s['recency_days']:.1f}"
        lines.append(
            f"{s['id'] or '-':<10} {s['name'][:44]:<44} {s['size']:>9,} {recency:>9} "
            f"{s['frequency']:>6g} {s['monetary']:>10,.2f}"
        )
    lines.append(
        f"{result['customers']:,} customers, {result['events']:,} events from "
        f"{result['rows']:,} rows in {result['seconds']:.1f} s; "
        f"ARI vs batch k-means {result['ari_vs_batch_kmeans']:.3f}"
    )
    return "\n".join(lines)


def _override(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or name not in EngineConfig.model_fields:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE with an EngineConfig field: {text!r}"
        )
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.realdata",
        description="Replay UCI Online Retail offline; compare with batch k-means.",
    )
    parser.add_argument("--table", action="store_true", help="also print the segment table")
    parser.add_argument("--path", type=Path, help="the CSV (default: ../shared/data)")
    parser.add_argument(
        "--engine",
        type=_override,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override an engine setting (repeatable)",
    )
    args = parser.parse_args(argv)
    path = args.path or default_path("online-retail")
    if not path.is_file():
        parser.error(f"{path}: no such file")
    try:
        config = EngineConfig.model_validate({**RETAIL_ENGINE, **dict(args.engine)})
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        parser.error(f"--engine {'.'.join(map(str, first['loc']))}: {first['msg']}")
    result = run(path, config)
    print(json.dumps(result))
    if args.table:
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
