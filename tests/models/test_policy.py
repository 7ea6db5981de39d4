"""Hysteresis: customers near a boundary do not flap; real moves still happen."""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from segflow.models.policy import Assignment, decide, lapse_gated, rule_transitions


def run(
    distances: list[dict[str, float]], margin: float, dwell: int, dwell_time: float = 0.0
) -> list[str | None]:
    state = Assignment("A", None, 0, moved=False)
    out = []
    for i, d in enumerate(distances):
        state = decide(
            state.segment,
            state.pending,
            state.pending_count,
            d,
            margin,
            dwell,
            t=float(i),
            dwell_time=dwell_time,
            pending_since=state.pending_since,
        )
        out.append(state.segment)
    return out


def boundary_walk(seed: int, n: int = 500, jitter: float = 0.05) -> list[dict[str, float]]:
    """A customer sitting on the A/B boundary: distances equal up to noise."""
    rng = random.Random(seed)
    return [
        {"A": 1.0 + rng.uniform(-jitter, jitter), "B": 1.0 + rng.uniform(-jitter, jitter)}
        for _ in range(n)
    ]


def moves(path: list[str | None]) -> int:
    return sum(1 for a, b in itertools.pairwise(path) if a != b)


def test_without_hysteresis_a_boundary_customer_flaps() -> None:
    assert moves(run(boundary_walk(1), margin=0.0, dwell=1)) > 100


def test_a_margin_stops_the_flapping() -> None:
    assert moves(run(boundary_walk(1), margin=0.15, dwell=1)) == 0


def test_a_dwell_count_stops_the_flapping() -> None:
    walk = boundary_walk(2, jitter=0.3)
    assert moves(run(walk, margin=0.05, dwell=6)) < moves(run(walk, margin=0.05, dwell=1)) / 10


def test_a_dwell_time_needs_the_candidate_to_hold() -> None:
    near_b = {"A": 1.0, "B": 0.5}
    back_to_a = {"A": 0.5, "B": 1.0}
    # B wins for 3 time units, then A again: with a dwell time of 5 nothing moves
    assert run([near_b] * 3 + [back_to_a] + [near_b] * 3, 0.1, 1, dwell_time=5.0) == ["A"] * 7
    # B keeps winning: the move happens once 5 time units have passed
    assert run([near_b] * 7, 0.1, 1, dwell_time=5.0) == ["A"] * 5 + ["B"] * 2


@given(st.floats(min_value=0.01, max_value=0.5), st.integers(min_value=0, max_value=10**6))
def test_a_clear_move_always_happens(margin: float, seed: int) -> None:
    rng = random.Random(seed)
    far = 1.0 + rng.random()
    path = run([{"A": far, "B": far * (1 - margin) * 0.9}] * 3, margin, dwell=2)
    assert path[-1] == "B"


def test_a_vanished_segment_is_left_at_once() -> None:
    state = decide("A", None, 0, {"B": 2.0, "C": 1.0}, margin=0.5, dwell=5)
    assert (state.segment, state.moved) == ("C", True)


def test_rule_transitions_are_entries_then_exits() -> None:
    assert rule_transitions([], ["x"]) == [(None, "x")]
    assert rule_transitions(["x"], []) == [("x", None)]
    assert rule_transitions(["x"], ["x"]) == []


@given(
    st.dictionaries(st.sampled_from("ABCDE"), st.floats(0.0, 10.0), min_size=1),
    st.sets(st.sampled_from("ABCDE")),
    st.sampled_from("ABCDE"),
    st.booleans(),
)
def test_only_a_lapsed_customer_may_be_in_a_dormant_segment(
    distances: dict[str, float], dormant: set[str], current: str, lapsed: bool
) -> None:
    allowed = lapse_gated(distances, dormant, lapsed)
    if lapsed:
        assert allowed == distances
    else:
        assert allowed == {s: d for s, d in distances.items() if s not in dormant}
    decision = decide(current, None, 0, allowed, margin=0.1, dwell=1)
    if not lapsed and allowed:
        # A customer who is back leaves a dormant segment at once, for the nearest other.
        assert decision.segment not in dormant
        if current in dormant:
            assert decision.moved and decision.segment == min(allowed, key=allowed.__getitem__)


def test_a_lead_within_chance_holds_the_customer_and_a_lead_past_it_moves_it() -> None:
    d = {"A": 1.0, "B": 0.8}  # B leads by 1.0 - 0.64 = 0.36 in squared distance
    held = decide("A", None, 0, d, 0.0, 1, needed=lambda segment: 0.5)
    assert (held.segment, held.moved, held.pending) == ("A", False, None)
    moved = decide("A", None, 0, d, 0.0, 1, needed=lambda segment: 0.3)
    assert (moved.segment, moved.moved) == ("B", True)
