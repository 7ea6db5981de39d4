"""Real-data replay: a real dataset through the in-memory runner, against batch k-means.

``--dataset online-retail`` (the default) replays UCI Online Retail, ``--dataset
taobao`` the Taobao clickstream sample (``--order time``, the default, or ``file``).
Prints one JSON object::

    {"dataset": .., "customers": .., "rows": .., "events": .., "engine": {..},
     "outcomes": {..}, "segments": [{"id", "name", "size", ..}, ..],
     "ari_vs_batch_kmeans": .., "batch_kmeans_seed_agreement": ..,
     "flapping": .., "moves": .., "never_assigned": .., "in_retired_segments": ..,
     "seconds": ..}

with, for Taobao, ``"order"`` too. How it is measured:

- Every row of the file is read by the dataset's adapter
  (:func:`segflow.sources.online_retail.online_retail`: one purchase per invoice,
  cancellations as refunds, guest lines skipped; :func:`segflow.sources.taobao.taobao`:
  views, carts and favourites as clicks, buys as purchases of 1.0, the 35 stray rows
  from before the window kept) and replayed, streaming, through
  :func:`segflow.models.runner.replay` (step, learner and inactivity sweep).
  ``seconds`` is the wall time of that replay, file reading (and sorting) included;
  ``outcomes`` counts the runner's outcomes (applied, duplicate, late, swept).
- segflow's final segment of a customer is the ``to_segment`` of its last
  behavioral change (what a subscriber to ``segment-changes`` believes); a customer
  never assigned counts as one more label, ``null``. ``never_assigned`` counts
  them.
- The reference: each customer's features at the end of the data (the last event's
  time) through :class:`~segflow.models.features.BehaviorTransform` and
  standardized (scikit-learn ``StandardScaler``), clustered by scikit-learn
  ``KMeans`` with the same k (``n_init=10``, ``random_state`` the engine's seed).
  ``ari_vs_batch_kmeans`` is the adjusted Rand index of the two labelings over every
  customer; ``batch_kmeans_seed_agreement`` the index between that k-means and
  another with the next seed (how stable the reference itself is).
- ``flapping``: of the ``moves`` (behavioral changes from one segment to another;
  first assignments are not moves), the share after which the customer comes back
  to the segment it left, by a later change at most 24 hours of event time after
  the move (``null`` without moves).
- ``in_retired_segments``: customers whose segment on their final profile
  (``result.profiles[c].segment``) is not one of the model's segments at the end.
- The segment table lists each final segment, largest first, with its size.
  ``name`` is the model's name for a segment still alive at the end, else the last
  name a change gave it, marked ``(retired)``. Online Retail describes each in RFM
  terms from the raw events, as medians over its customers: ``recency_days`` (days
  from the last order to the end of the data), ``frequency`` (orders, refunds not
  counted) and ``monetary`` (net spend in GBP, refunds subtracted). Taobao gives
  ``buyers`` (customers with at least one buy) and ``median_events`` (events per
  customer, all behaviors).

The engine configuration (:data:`RETAIL_ENGINE` or :data:`TAOBAO_ENGINE`, printed as
``engine``: the fields that differ from the defaults) departs from the defaults where
the data needs it; ``--engine NAME=VALUE`` overrides any field.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sklearn.metrics import adjusted_rand_score

from bench.common import batch_kmeans
from segflow.models.changes import SegmentChange
from segflow.models.config import EngineConfig
from segflow.models.errors import FirstError
from segflow.models.events import Event, PurchaseEvent
from segflow.models.features import BehaviorTransform, profile_features
from segflow.models.pages import ECOMMERCE_PAGE_STAGES
from segflow.models.runner import ReplayResult, replay
from segflow.models.timeutil import DAY
from segflow.sources.datasets import DatasetStream, default_path
from segflow.sources.online_retail import online_retail
from segflow.sources.taobao import TaobaoOrder, taobao
from segflow.streams.replay import datasets_folder

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

#: Engine settings for the Taobao clickstream (an e-commerce shop; the rest are the
#: defaults, not tuned on this data). Its adapter makes every product view a click on
#: ``/item/<id>``, every add-to-cart one on ``/cart/<id>`` and every add-to-favourites
#: one on ``/favorites/<id>``; buys are purchases. The default page map is a B2B
#: marketing site's (``blog``, ``pricing``, ...), under which every one of these clicks
#: would count as ``other``; the shop's map (``pages.ECOMMERCE_PAGE_STAGES``) counts a
#: product page and a saved favourite as ``consideration`` (weighing an item) and the
#: cart as ``decision`` (the step before an order), and the shop's vocabulary names
#: them so ("product viewer", "cart adder", not "pricing and demo pages").
TAOBAO_ENGINE: dict[str, Any] = {
    "page_stages": dict(ECOMMERCE_PAGE_STAGES),
    "vocabulary": "ecommerce",
}

#: The engine settings of each dataset the benchmark replays, by its name in
#: :data:`segflow.sources.datasets.DATASETS`.
ENGINES: dict[str, dict[str, Any]] = {"online-retail": RETAIL_ENGINE, "taobao": TAOBAO_ENGINE}

#: A move back to the segment left within this much event time counts as flapping.
FLAP_WINDOW_S = DAY


@dataclass
class _Customer:
    """What the raw events say about one customer (to describe the segments)."""

    events: int = 0
    orders: int = 0
    net: float = 0.0
    last_order: float | None = None


def _tally(events: Iterator[Event], customers: dict[str, _Customer]) -> Iterator[Event]:
    for event in events:
        customer = customers.setdefault(event.customer_id, _Customer())
        customer.events += 1
        if isinstance(event, PurchaseEvent):
            customer.net += event.amount
            if event.amount >= 0:
                customer.orders += 1
                customer.last_order = event.occurred_at.timestamp()
        yield event


@dataclass
class Replayed:
    """A dataset replayed through the runner, with what the comparisons need."""

    stream: DatasetStream
    config: EngineConfig
    result: ReplayResult
    customers: dict[str, _Customer]
    seconds: float
    #: Each customer's final segment: the ``to_segment`` of its last behavioral change.
    final: dict[str, str | None]
    #: The last name a change gave each segment.
    names: dict[str, str]

    @property
    def ids(self) -> list[str]:
        """Every customer with a profile, sorted."""
        return sorted(self.result.profiles)

    @property
    def end(self) -> float:
        """The end of the data: the newest profile time (epoch s)."""
        return max(profile.as_of for profile in self.result.profiles.values())


def replay_dataset(stream: DatasetStream, config: EngineConfig) -> Replayed:
    """Replay every event of ``stream`` with ``config``, timing it."""
    customers: dict[str, _Customer] = {}
    started = time.perf_counter()
    result = replay(_tally(iter(stream), customers), config)
    seconds = time.perf_counter() - started
    final: dict[str, str | None] = {}
    names: dict[str, str] = {}
    for change in result.changes:
        if change.kind == "behavioral":
            final[change.customer_id] = change.to_segment
            if change.to_segment is not None and change.to_name:
                names[change.to_segment] = change.to_name
    return Replayed(stream, config, result, customers, seconds, final, names)


def batch_agreement(replayed: Replayed) -> tuple[float, float]:
    """ARI of segflow's final segments against batch k-means on the final features, and
    the ARI of that k-means against one with the next seed."""
    profiles, config = replayed.result.profiles, replayed.config
    ids, end = replayed.ids, replayed.end
    half_life = config.half_life_days * DAY
    transform = BehaviorTransform()
    final = [transform.transform_one(profile_features(profiles[c], end, half_life)) for c in ids]
    k = config.n_segments
    reference, other = batch_kmeans(final, k, config.seed), batch_kmeans(final, k, config.seed + 1)
    labels = [str(replayed.final.get(c)) for c in ids]
    ari = float(adjusted_rand_score(reference, labels))
    return ari, float(adjusted_rand_score(reference, other))


def flapping(
    changes: list[SegmentChange], window: float = FLAP_WINDOW_S
) -> tuple[float | None, int]:
    """(Share of moves undone within ``window`` seconds of event time, number of moves).

    A move is a behavioral change with a ``from_segment``; it is undone when a later
    behavioral change of the same customer (in emission order) goes to that
    ``from_segment`` at most ``window`` after it.

    >>> from datetime import UTC, datetime
    >>> def change(customer: str, hour: int, old: str | None, new: str) -> SegmentChange:
    ...     at = datetime(2017, 11, 25, hour, tzinfo=UTC)
    ...     return SegmentChange(change_id=f"{customer}{hour}", customer_id=customer,
    ...         kind="behavioral", from_segment=old, to_segment=new, from_name=None,
    ...         to_name=None, model_version=1, occurred_at=at, emitted_at=at,
    ...         cause_event_id=None, scores={}, reasons=[])
    >>> flapping([change("a", 0, None, "s1"), change("a", 1, "s1", "s2"),
    ...           change("a", 5, "s2", "s1"), change("b", 2, "s1", "s3")])
    (0.3333, 3)
    """
    by_customer: dict[str, list[SegmentChange]] = {}
    for change in changes:
        if change.kind == "behavioral":
            by_customer.setdefault(change.customer_id, []).append(change)
    moves = undone = 0
    for history in by_customer.values():
        for i, move in enumerate(history):
            if move.from_segment is None:
                continue
            moves += 1
            t = move.occurred_at.timestamp()
            undone += any(
                later.to_segment == move.from_segment
                and later.occurred_at.timestamp() - t <= window
                for later in history[i + 1 :]
            )
    return (round(undone / moves, 4) if moves else None), moves


def segment_table(
    replayed: Replayed, describe: Callable[[list[_Customer]], dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each final segment (never assigned: id ``None``), largest first: id, name, size
    and what ``describe`` says about its customers."""
    live = replayed.result.model.segment_names()
    members: dict[str | None, list[str]] = {}
    for c in replayed.ids:
        members.setdefault(replayed.final.get(c), []).append(c)
    rows = []
    for segment, ids in sorted(members.items(), key=lambda item: -len(item[1])):
        if segment is None:
            name = "(never assigned)"
        elif segment in live:
            name = live[segment]
        else:
            name = f"{replayed.names.get(segment, segment)} (retired)"
        row = {"id": segment, "name": name, "size": len(ids)}
        row.update(describe([replayed.customers.get(c, _Customer()) for c in ids]))
        rows.append(row)
    return rows


def measure(
    replayed: Replayed, describe: Callable[[list[_Customer]], dict[str, Any]]
) -> dict[str, Any]:
    """The JSON object described above, from a replay and the dataset's segment columns."""
    ari, seed_agreement = batch_agreement(replayed)
    flaps, moves = flapping(replayed.result.changes)
    profiles, model = replayed.result.profiles, replayed.result.model
    alive = {segment.id for segment in model.segments()}
    retired = sum(1 for p in profiles.values() if p.segment is not None and p.segment not in alive)
    defaults = EngineConfig().model_dump()
    report = replayed.stream.report
    return {
        "dataset": replayed.stream.name,
        "customers": len(profiles),
        "rows": report.rows,
        "events": report.events,
        "engine": {
            name: value
            for name, value in replayed.config.model_dump(mode="json").items()
            if value != defaults[name]
        },
        "outcomes": dict(sorted(replayed.result.outcomes.items())),
        "segments": segment_table(replayed, describe),
        "ari_vs_batch_kmeans": round(ari, 4),
        "batch_kmeans_seed_agreement": round(seed_agreement, 4),
        "flapping": flaps,
        "moves": moves,
        "never_assigned": sum(1 for c in profiles if replayed.final.get(c) is None),
        "in_retired_segments": retired,
        "seconds": round(replayed.seconds, 2),
    }


def run(path: Path, config: EngineConfig) -> dict[str, Any]:
    """Replay Online Retail from ``path`` with ``config``; the JSON object described above."""
    replayed = replay_dataset(online_retail(path), config)
    end = replayed.end

    def rfm(customers: list[_Customer]) -> dict[str, Any]:
        recency = [(end - c.last_order) / DAY for c in customers if c.last_order is not None]
        return {
            "recency_days": round(statistics.median(recency), 1) if recency else None,
            "frequency": float(statistics.median(c.orders for c in customers)),
            "monetary": round(statistics.median(c.net for c in customers), 2),
        }

    return measure(replayed, rfm)


def run_taobao(path: Path, config: EngineConfig, order: TaobaoOrder = "time") -> dict[str, Any]:
    """Replay the Taobao sample from ``path`` in ``order``; the JSON object described above."""
    replayed = replay_dataset(taobao(path, order=order), config)

    def shoppers(customers: list[_Customer]) -> dict[str, Any]:
        return {
            "buyers": sum(1 for c in customers if c.orders > 0),
            "median_events": float(statistics.median(c.events for c in customers)),
        }

    return {**measure(replayed, shoppers), "order": order}


#: The table's dataset columns: (heading, key, width, format).
_COLUMNS: dict[str, list[tuple[str, str, int, str]]] = {
    "online-retail": [
        ("recency d", "recency_days", 9, ".1f"),
        ("orders", "frequency", 6, "g"),
        ("net GBP", "monetary", 10, ",.2f"),
    ],
    "taobao": [("buyers", "buyers", 6, ","), ("med events", "median_events", 10, "g")],
}


def table(result: dict[str, Any]) -> str:
    """The segment table, readably."""
    columns = _COLUMNS[result["dataset"]]
    heads = "".join(f" {head:>{width}}" for head, _, width, _ in columns)
    lines = [f"{'segment':<10} {'name':<44} {'customers':>9}{heads}"]
    for s in result["segments"]:
        cells = "".join(
            f" {'-' if s[key] is None else format(s[key], spec):>{width}}"
            for _, key, width, spec in columns
        )
        lines.append(f"{s['id'] or '-':<10} {s['name'][:44]:<44} {s['size']:>9,}{cells}")
    flaps = "-" if result["flapping"] is None else f"{result['flapping']:.3f}"
    lines.append(
        f"{result['customers']:,} customers, {result['events']:,} events from "
        f"{result['rows']:,} rows in {result['seconds']:.1f} s; "
        f"ARI vs batch k-means {result['ari_vs_batch_kmeans']:.3f} "
        f"(k-means vs itself {result['batch_kmeans_seed_agreement']:.3f}); "
        f"flapping {flaps} of {result['moves']:,} moves; never assigned "
        f"{result['never_assigned']:,}; in retired segments {result['in_retired_segments']:,}"
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
        description="Replay a real dataset offline; compare with batch k-means.",
    )
    parser.add_argument(
        "--dataset",
        choices=sorted(ENGINES),
        default="online-retail",
        help="which dataset (%(default)s)",
    )
    parser.add_argument(
        "--order",
        choices=["time", "file"],
        help="taobao only: replay in time order (the default) or in file order, grouped by user",
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
    if args.order is not None and args.dataset != "taobao":
        parser.error("--order applies to --dataset taobao only")
    path = args.path or default_path(args.dataset, datasets_folder())
    if not path.is_file():
        parser.error(f"{path}: no such file")
    try:
        config = EngineConfig.model_validate({**ENGINES[args.dataset], **dict(args.engine)})
    except ValidationError as error:
        first = FirstError.of(error)
        parser.error(first.line(f"--engine {first.path}"))
    if args.dataset == "taobao":
        result = run_taobao(path, config, args.order or "time")
    else:
        result = run(path, config)
    print(json.dumps(result))
    if args.table:
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
