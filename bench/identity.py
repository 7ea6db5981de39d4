"""Stitching anonymous visitors: does their history end in the right customer's profile?

The simulator sends part of each anonymous customer's site traffic under a cookie id
until the customer identifies (a sign-up, an e-mail click), some never identify, and
some cookies are shared by two customers (a family or office computer). The in-memory
runner replays it twice, with the identifies (stitching on) and without them (off),
and this prints, as JSON:

- ``right_customer_share``: of the anonymous events whose cookie its owner identified,
  the share that end in that owner's profile (floor 0.99; the events of the second
  owner of a shared cookie are the ones that cannot: the first link wins);
  ``right_customer_share_unshared_cookies`` leaves the shared cookies out;
- ``counted_twice``: customers whose history is also still in a visitor profile
  (floor 0), ``visitor_profiles_left``: visitor profiles of linked cookies (floor 0);
- ``refused``: identifies the guards refused, by reason (``linked_elsewhere``: the
  second owner of a shared cookie);
- ``ari_on`` / ``ari_off``: the adjusted Rand index of the customers' final segments
  against their true final personas, with stitching on and off (on must be higher);
- the counts behind them.

With ``--broker`` (a local Tansu) or ``--broker HOST:PORT``, the same world also goes
through two ``segflow worker`` processes (:mod:`bench.identity_broker`), and the same
figures, read back from the changelog topics, appear under ``workers``.

``python -m bench.identity [--customers N] [--days D] [--seed S] [--broker [HOST:PORT]]``
(about a minute in memory; through workers, a few minutes more).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from sklearn.metrics import adjusted_rand_score

from segflow.models.config import EngineConfig
from segflow.models.events import IdentifyEvent, anonymous_key
from segflow.models.profile import Profile
from segflow.models.runner import replay
from segflow.sources.simulator import Simulation, SimulationConfig, simulate

from .identity_broker import run_workers


def world(customers: int, days: float, seed: int) -> Simulation:
    return simulate(
        SimulationConfig(
            customers=customers,
            days=days,
            seed=seed,
            anonymous_share=0.6,
            never_identify_share=0.15,
            shared_device_share=0.05,
        )
    )


class Outcome(Protocol):
    """What is judged: the final profiles by key and the links (anonymous id ->
    customer), of the in-memory runner or read back from the workers' changelogs."""

    @property
    def profiles(self) -> Mapping[str, Profile]: ...

    @property
    def aliases(self) -> Mapping[str, str]: ...


def placement(sim: Simulation, result: Outcome) -> dict[str, Any]:
    """Where the anonymous events ended, against the truth."""
    identified = {(i.anonymous_id, i.customer_id) for i in sim.identifications}
    anonymous = [e for e in sim.events if e.customer_id is None]
    judged = [e for e in anonymous if (e.anonymous_id, sim.owner_of(e)) in identified]
    right = [e for e in judged if result.aliases.get(e.anonymous_id or "") == sim.owner_of(e)]
    unshared = [e for e in judged if e.anonymous_id not in sim.shared_cookies]
    right_unshared = [e for e in right if e.anonymous_id not in sim.shared_cookies]
    linked = set(result.aliases)
    left = [
        key
        for key in result.profiles
        if key.removeprefix("~anon:") in linked and key.startswith("~anon:")
    ]
    twice = {result.aliases[key.removeprefix("~anon:")] for key in left}
    return {
        "anonymous_events": len(anonymous),
        "judged_events": len(judged),
        "right_customer_share": round(len(right) / len(judged), 4) if judged else None,
        "right_customer_share_unshared_cookies": (
            round(len(right_unshared) / len(unshared), 4) if unshared else None
        ),
        "counted_twice": len(twice),
        "visitor_profiles_left": len(left),
    }


def ari(sim: Simulation, result: Outcome) -> float:
    """Final segments of the customers (their known profiles) against their personas."""
    ids = sorted(sim.personas)
    truth = [sim.personas[c] for c in ids]
    found = [str(result.profiles[c].segment) if c in result.profiles else "none" for c in ids]
    return round(float(adjusted_rand_score(truth, found)), 4)


def run(customers: int, days: float, seed: int, broker: str | None = None) -> dict[str, Any]:
    """The figures (see the module docstring); ``broker`` "" for a local Tansu."""
    sim = world(customers, days, seed)
    config = EngineConfig()
    started = time.monotonic()
    on = replay(sim.events, config)
    off = replay([e for e in sim.events if not isinstance(e, IdentifyEvent)], config)
    visitors_off = sum(1 for key in off.profiles if key.startswith("~anon:"))
    return {
        "customers": customers,
        "days": days,
        "seed": seed,
        "events": len(sim.events),
        "identifies": len(sim.identifications),
        "shared_cookies": len(sim.shared_cookies),
        **placement(sim, on),
        "refused": dict(Counter(why for _, why in on.refusals)),
        "merged": on.outcomes["merged"],
        "visitor_profiles_off": visitors_off,
        "ari_on": ari(sim, on),
        "ari_off": ari(sim, off),
        "unlinked_visitors_on": sum(1 for key in on.profiles if key.startswith(anonymous_key(""))),
        "seconds": round(time.monotonic() - started, 1),
        **({"workers": run_workers(sim, broker or None)} if broker is not None else {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=float, default=56.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--broker",
        nargs="?",
        const="",
        default=None,
        metavar="HOST:PORT",
        help="also through two workers, on this broker (alone: a local Tansu)",
    )
    args = parser.parse_args(argv)
    print(json.dumps(run(args.customers, args.days, args.seed, args.broker), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
