"""When does a customer change segment? Hysteresis for learned segments, set logic for rules.

A customer in segment ``A`` moves to the nearest segment ``B`` only when ``B`` is
closer by a margin (``d_B < (1 - margin) * d_A``) on ``dwell`` consecutive
evaluations spanning at least ``dwell_time`` (event time). A customer on the
boundary, or one whose decayed counts swing with a weekly rhythm, stays put
instead of flapping.

>>> decide("A", None, 0, {"A": 1.0, "B": 0.95}, margin=0.1, dwell=1).moved
False
>>> decide("A", None, 0, {"A": 1.0, "B": 0.5}, margin=0.1, dwell=1).segment
'B'
>>> first = decide("A", None, 0, {"A": 1.0, "B": 0.5}, margin=0.1, dwell=2)
>>> first.segment, first.pending, first.pending_count
('A', 'B', 1)
>>> decide("A", "B", 1, {"A": 1.0, "B": 0.5}, margin=0.1, dwell=2).segment
'B'
>>> held = decide("A", None, 0, {"A": 1.0, "B": 0.5}, 0.1, 1, t=100.0, dwell_time=50.0)
>>> held.moved, held.pending_since
(False, 100.0)
>>> decide("A", "B", 1, {"A": 1.0, "B": 0.5}, 0.1, 1, t=150.0, dwell_time=50.0,
...        pending_since=100.0).segment
'B'
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Assignment:
    """The outcome of one evaluation of a customer against the segments."""

    segment: str | None
    pending: str | None
    pending_count: int
    moved: bool
    pending_since: float | None = None


def decide(
    current: str | None,
    pending: str | None,
    pending_count: int,
    distances: Mapping[str, float],
    margin: float,
    dwell: int,
    t: float = 0.0,
    dwell_time: float = 0.0,
    pending_since: float | None = None,
    needed: Callable[[str], float] | None = None,
) -> Assignment:
    """Where the customer belongs now (at time ``t``), given the distances to every segment.

    ``needed`` gives the lead in squared distance the nearest segment needs over the
    current one besides the margin: how far chance alone could carry the customer
    toward it (see :mod:`.noise`).
    """
    if not distances:
        return Assignment(current, None, 0, moved=False)
    nearest = min(distances, key=distances.__getitem__)
    if current is None or current not in distances:
        # First assignment, or the old segment is gone (or barred, see lapse_gated): go to
        # the nearest at once.
        return Assignment(nearest, None, 0, moved=nearest != current)
    if nearest == current or distances[nearest] >= (1.0 - margin) * distances[current]:
        return Assignment(current, None, 0, moved=False)
    if needed is not None:
        lead = distances[current] ** 2 - distances[nearest] ** 2
        if lead <= needed(nearest):
            return Assignment(current, None, 0, moved=False)
    if pending == nearest:
        count = pending_count + 1
        since = t if pending_since is None else pending_since
    else:
        count, since = 1, t
    if count >= dwell and t - since >= dwell_time:
        return Assignment(nearest, None, 0, moved=True)
    return Assignment(current, nearest, count, moved=False, pending_since=since)


def lapse_gated(
    distances: Mapping[str, float],
    dormant: Collection[str],
    lapsed: bool,
) -> Mapping[str, float]:
    """The segments a customer may be assigned to: a dormant one only while it lapsed.

    Decay alone carries a light user toward a dormant centroid during an ordinary
    quiet spell; only evidence of a lapse (presence on the site or in email below the
    gate, see :class:`~.config.EngineConfig`) may put it there. A customer in a
    dormant segment who is back (on the site, say) has no dormant segment left to
    stay in, so :func:`decide` moves it to the nearest other segment at once.

    >>> lapse_gated({"A": 1.0, "D": 0.5}, {"D"}, lapsed=False)
    {'A': 1.0}
    >>> lapse_gated({"A": 1.0, "D": 0.5}, {"D"}, lapsed=True)
    {'A': 1.0, 'D': 0.5}
    """
    if lapsed or not dormant:
        return distances
    return {segment: d for segment, d in distances.items() if segment not in dormant}


def rule_transitions(
    before: Collection[str], after: Collection[str]
) -> list[tuple[str | None, str | None]]:
    """(from, to) pairs: ``(None, id)`` for every rule segment entered, ``(id, None)`` exited.

    >>> rule_transitions(["a", "b"], ["b", "c"])
    [(None, 'c'), ('a', None)]
    """
    entered = [(None, rule) for rule in sorted(set(after) - set(before))]
    exited = [(rule, None) for rule in sorted(set(before) - set(after))]
    return [*entered, *exited]
