"""The random worlds of ``bench.worlds``: deterministic, valid, ground truth consistent."""

from __future__ import annotations

import doctest
import itertools
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import timedelta
from functools import cache

import pytest

import bench.worlds as worlds
from bench.quality import floors_met
from bench.worlds import LAPSED, MIN_SEPARATION, SECTIONS, World, draw_spec, generate, separation
from segflow.models.events import ClickEvent, EmailEvent, PurchaseEvent, decode_event, encode_event
from segflow.models.pages import DEFAULT_PAGE_STAGES

SITE_ACTIONS = frozenset({"click", "download", "purchase"})
SEEDS = range(1, 9)


@cache
def small(seed: int) -> World:
    """The world of ``seed`` with 300 customers (every other parameter as drawn)."""
    return generate(replace(draw_spec(seed), customers=300))


def test_the_same_seed_gives_the_same_world_and_another_seed_another() -> None:
    a, b = generate(replace(draw_spec(4), customers=200)), small(4)
    again = generate(replace(draw_spec(4), customers=200))
    assert a.events == again.events
    assert a.switches == again.switches
    assert (a.initial, a.never_engaged, a.bounced) == (
        again.initial,
        again.never_engaged,
        again.bounced,
    )
    assert draw_spec(4) == draw_spec(4)
    assert draw_spec(4) != draw_spec(5)
    assert a.events[:100] != small(5).events[:100]
    assert len(b.events) > len(a.events)


@pytest.mark.parametrize("seed", SEEDS)
def test_spec_is_inside_its_documented_ranges(seed: int) -> None:
    spec = draw_spec(seed)
    names = [p.name for p in spec.personas]
    assert 4 <= len(names) <= 7
    assert names[-1] == LAPSED
    assert len(set(names)) == len(names)
    assert abs(sum(spec.shares) - 1.0) < 1e-9
    assert 56 <= spec.days <= 70
    assert 1_500 <= spec.customers <= 2_500
    assert 0.05 <= spec.never_engaged_share <= 0.3
    assert 0.10 <= spec.switch_share <= 0.25
    if spec.email_every_days is None:
        assert spec.site == "shop"
    else:
        assert 1.0 <= spec.email_every_days <= 30.0
    for p in spec.personas:
        assert p.visits_per_day == 0.0 or 0.05 <= p.visits_per_day <= 3.0
    assert separation(spec.personas, spec.email_every_days) >= MIN_SEPARATION


def test_worlds_cover_both_sites_and_every_cadence_range() -> None:
    specs = [draw_spec(seed) for seed in range(40)]
    assert {s.site for s in specs} == {"b2b", "shop"}
    cadences = [s.email_every_days for s in specs if s.email_every_days is not None]
    assert min(cadences) < 2.0
    assert max(cadences) > 15.0
    assert any(s.email_every_days is None for s in specs)


@pytest.mark.parametrize("seed", SEEDS)
def test_events_are_valid_time_ordered_and_of_the_kinds_the_site_has(seed: int) -> None:
    world = small(seed)
    spec = world.spec
    events = world.events
    assert all(a.occurred_at <= b.occurred_at for a, b in itertools.pairwise(events))
    assert all(spec.start <= e.occurred_at < spec.end for e in events)
    assert len({e.event_id for e in events}) == len(events)
    for event in events:  # each one travels through the input contract unchanged
        assert decode_event(event.kind, encode_event(event)) == event
    kinds = Counter(e.kind for e in events)
    expected = {"click"}
    if spec.email_every_days is not None:
        expected.add("email")
    if spec.site == "b2b":
        expected.add("download")
    if any(p.buy_chance > 0 for p in spec.personas):
        expected.add("purchase")
    assert set(kinds) == expected
    first_segments = {
        e.url.split("?")[0].strip("/").split("/")[0] for e in events if isinstance(e, ClickEvent)
    }
    if spec.site == "shop":
        assert first_segments <= {"", "item", "cart", "favorites", "category", "search"}
        assert not first_segments & set(DEFAULT_PAGE_STAGES)
    else:
        assert first_segments <= {"", "about", "careers", *DEFAULT_PAGE_STAGES}
        assert first_segments & set(DEFAULT_PAGE_STAGES)
    known = {path.split("/")[1].split("?")[0] for paths in SECTIONS.values() for path in paths}
    assert first_segments <= known


@pytest.mark.parametrize("seed", SEEDS)
def test_ground_truth_matches_the_events(seed: int) -> None:
    world = small(seed)
    spec = world.spec
    personas = {p.name for p in spec.personas}
    assert set(world.initial) == set(world.final)
    assert len(world.initial) == spec.customers
    assert set(world.initial.values()) <= personas
    n = spec.customers
    assert abs(len(world.switches) - round(spec.switch_share * n)) == 0
    lo = spec.start.timestamp() + spec.warmup_days * 86_400
    hi = spec.end.timestamp() - spec.settle_days * 86_400
    for c, switch in world.switches.items():
        assert switch.customer_id == c
        assert lo <= switch.at.timestamp() <= hi
        assert switch.from_persona == world.initial[c]
        assert switch.to_persona != switch.from_persona
        assert switch.to_persona in personas
        assert world.final[c] == switch.to_persona
        assert world.persona_at(c, switch.at) == switch.to_persona
    assert any(s.to_persona == LAPSED for s in world.switches.values())
    assert world.bounced <= world.never_engaged

    by_customer = defaultdict(list)
    for event in world.events:
        by_customer[event.customer_id].append(event)
    for c, events in by_customer.items():
        actions = [e.action for e in events if isinstance(e, EmailEvent)]
        if c in world.never_engaged:
            assert not {"open", "click"} & set(actions)
        if c in world.bounced:
            assert actions == ["sent", "bounce"]
        for event in events:
            # A visit begun before a switch may end after it: allow it an hour.
            lapsed = world.persona_at(c, event.occurred_at - timedelta(hours=1)) == LAPSED
            if not lapsed:
                continue
            refund = isinstance(event, PurchaseEvent) and event.amount < 0
            assert refund or event.kind not in SITE_ACTIONS, event
            if isinstance(event, EmailEvent):
                assert event.action not in ("open", "click")
    if spec.email_every_days is not None:
        assert world.bounced
        assert world.never_engaged


def test_a_persona_behaves_as_drawn() -> None:
    world = small(2)
    spec = world.spec
    sessions: dict[str, set[str]] = defaultdict(set)
    for event in world.events:
        own_visit = isinstance(event, ClickEvent) and "utm_source" not in event.url
        if own_visit and event.customer_id not in world.switches and event.session_id:
            sessions[world.initial[event.customer_id]].add(event.session_id)
    stable = Counter(world.initial[c] for c in world.initial if c not in world.switches)
    for persona in spec.personas:
        if persona.name == LAPSED or stable[persona.name] < 20:
            continue
        expected = persona.visits_per_day * spec.days * stable[persona.name]
        got = len(sessions[persona.name])
        assert 0.6 * expected < got < 1.4 * expected, (persona.name, got, expected)


def test_module_examples() -> None:
    assert doctest.testmod(worlds).failed == 0


def test_floors_are_judged_on_each_metric() -> None:
    met = floors_met(
        {
            "ari_ratio": 0.96,
            "recall_2hl": 0.84,
            "recall_3hl": None,
            "false_changes_per_customer_week": 0.015,
            "name_consistency": 0.8,
        }
    )
    assert met == {
        "ari_ratio": True,
        "recall_2hl": False,
        "recall_3hl": False,
        "false_changes_per_customer_week": True,
        "name_consistency": True,
    }
