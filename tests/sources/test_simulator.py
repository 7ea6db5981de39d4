"""The traffic simulator: determinism, valid events, ground truth, drift, persona behavior,
anonymous visitors."""

from __future__ import annotations

import doctest
import hashlib
import importlib
import inspect
import itertools
import pkgutil
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import segflow.sources.simulator as simulator
from segflow.models.events import (
    ClickEvent,
    DownloadEvent,
    EmailEvent,
    Event,
    IdentifyEvent,
    PurchaseEvent,
    decode_event,
    encode_event,
)
from segflow.sources.simulator import (
    PERSONA_BY_NAME,
    PERSONA_TABLE,
    PERSONAS,
    Simulation,
    SimulationConfig,
    iter_events,
    simulate,
)

RECEIVED = frozenset({"sent", "delivered", "bounce"})
# What a dormant customer may still produce: received mail, and rare list hygiene.
DORMANT_ACTIONS = RECEIVED | {"unsubscribe", "complaint"}
SMALL = SimulationConfig(customers=60, days=21.0, warmup_days=5.0, settle_days=5.0, seed=3)


def own_activity(event: Event) -> bool:
    """Whether the customer did something (anything but receiving an email)."""
    return not (isinstance(event, EmailEvent) and event.action in DORMANT_ACTIONS)


def by_customer(sim: Simulation) -> dict[str, list[Event]]:
    events: dict[str, list[Event]] = defaultdict(list)
    for event in sim.events:
        events[event.customer_id].append(event)
    return events


@pytest.fixture(scope="module")
def population() -> Simulation:
    """Non-switchers per persona: 1,200 customers over 8 weeks, no drift."""
    return simulate(SimulationConfig(customers=1200, days=56.0, drift_fraction=0.0, seed=11))


@pytest.fixture(scope="module")
def drifting() -> Simulation:
    """Many switchers, to see behavior before and after the switch."""
    return simulate(
        SimulationConfig(customers=1500, days=56.0, drift_fraction=0.6, dormant_share=0.3, seed=5)
    )


def per_customer(sim: Simulation, persona: str, predicate: Callable[[Event], bool]) -> float:
    """Mean over the customers of ``persona`` of how many of their events match."""
    customers = [c for c, p in sim.personas.items() if p == persona]
    events = by_customer(sim)
    return sum(sum(1 for e in events[c] if predicate(e)) for c in customers) / len(customers)


# --- determinism and shape -----------------------------------------------------------------


def test_same_seed_gives_identical_output() -> None:
    first, second = simulate(SMALL), simulate(SMALL)
    assert first.events == second.events
    assert [e.event_id for e in first.events] == [e.event_id for e in second.events]
    assert first.personas == second.personas
    assert first.initial_personas == second.initial_personas
    assert first.switches == second.switches
    assert first.customer_properties == second.customer_properties


def test_different_seed_gives_different_output() -> None:
    first = simulate(SMALL)
    second = simulate(SMALL.model_copy(update={"seed": SMALL.seed + 1}))
    assert first.events != second.events
    assert first.initial_personas != second.initial_personas


def test_iter_events_yields_the_same_events_lazily() -> None:
    assert list(iter_events(SMALL)) == simulate(SMALL).events
    # A span far too long to materialize: the first events still come at once.
    endless = SimulationConfig(customers=50, days=100_000.0, seed=1)
    head = list(itertools.islice(iter_events(endless), 200))
    assert len(head) == 200
    assert head[-1].occurred_at < endless.start + timedelta(days=3)


def test_events_are_sorted_with_deterministic_ties() -> None:
    sim = simulate(SMALL)
    keys = [(e.occurred_at, int(e.customer_id[1:])) for e in sim.events]
    assert keys == sorted(keys)
    # Within a customer, event numbers follow time.
    for events in by_customer(sim).values():
        numbers = [int(e.event_id.rsplit("-", 1)[1]) for e in events]
        assert numbers == list(range(1, len(events) + 1))


def test_every_event_is_valid_and_survives_the_wire() -> None:
    sim = simulate(SMALL)
    assert len({e.event_id for e in sim.events}) == len(sim.events)
    start = SMALL.start
    end = start + timedelta(days=SMALL.days)
    for event in sim.events:
        assert type(event).model_validate_json(event.model_dump_json()) == event
        assert decode_event(event.kind, encode_event(event)) == event
        assert start <= event.occurred_at < end
        assert event.event_id.startswith(event.customer_id + "-")
        if isinstance(event, DownloadEvent):
            assert event.funnel_stage in ("awareness", "consideration", "decision")
        if isinstance(event, PurchaseEvent):
            assert event.amount != 0
            assert event.currency == "USD"


def test_all_event_types_and_actions_occur(population: Simulation) -> None:
    kinds = Counter(type(e) for e in population.events)
    assert set(kinds) == {ClickEvent, DownloadEvent, EmailEvent, PurchaseEvent}
    actions = Counter(e.action for e in population.events if isinstance(e, EmailEvent))
    assert {"sent", "delivered", "open", "click", "bounce", "unsubscribe"} <= set(actions)
    refunds = [e for e in population.events if isinstance(e, PurchaseEvent) and e.amount < 0]
    assert refunds, "some orders are refunded"


def test_customer_properties_are_stable_and_on_every_event() -> None:
    sim = simulate(SMALL)
    assert set(sim.customer_properties) == set(sim.personas)
    for customer, events in by_customer(sim).items():
        expected = sim.customer_properties[customer]
        assert {"lead_source", "country", "company_size"} <= set(expected)
        assert all(e.properties == expected for e in events)
    assert len({p["country"] for p in sim.customer_properties.values()}) > 3


def test_no_clock_is_read() -> None:
    modules = [simulator] + [
        importlib.import_module(f"{simulator.__name__}.{info.name}")
        for info in pkgutil.iter_modules(simulator.__path__)
    ]
    assert len(modules) > 1  # the package and its modules
    source = "\n".join(inspect.getsource(module) for module in modules)
    for needle in ("now(", "utcnow", "today(", "time.time", "perf_counter", "monotonic"):
        assert needle not in source
    later = SMALL.model_copy(update={"start": datetime(2031, 3, 2, 12, 30, tzinfo=UTC)})
    events = simulate(later).events
    assert events[0].occurred_at >= later.start
    assert events[-1].occurred_at < later.start + timedelta(days=later.days)


def test_module_docstring_example_runs() -> None:
    result = doctest.testmod(simulator, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# --- emails -------------------------------------------------------------------------------


def test_every_customer_receives_every_campaign_until_unsubscribing() -> None:
    sim = simulate(SMALL)
    campaigns = sorted({e.campaign_id for e in sim.events if isinstance(e, EmailEvent)})
    assert len(campaigns) == 3  # days 0, 7 and 14 of 21
    for customer in sim.personas:
        emails = [e for e in by_customer(sim)[customer] if isinstance(e, EmailEvent)]
        sent = [e.campaign_id for e in emails if e.action == "sent"]
        assert sent[0] == campaigns[0], "everyone, dormant or not, gets the first campaign"
        stopped = [e.occurred_at for e in emails if e.action in ("unsubscribe", "complaint")]
        if not stopped:
            assert sent == campaigns
        for campaign in sent:
            outcome = [e.action for e in emails if e.campaign_id == campaign][:2]
            assert outcome in (["sent", "delivered"], ["sent", "bounce"])


def test_campaign_sends_go_out_together() -> None:
    sim = simulate(SMALL)
    sends: dict[str, list[datetime]] = defaultdict(list)
    for event in sim.events:
        if isinstance(event, EmailEvent) and event.action == "sent":
            sends[event.campaign_id].append(event.occurred_at)
    first, *others = (sends[c] for c in sorted(sends))
    assert len(first) == SMALL.customers
    for times in (first, *others):
        assert max(times) - min(times) <= timedelta(minutes=30)
        assert len(times) >= 0.9 * SMALL.customers  # few unsubscribe


# --- ground truth and drift ----------------------------------------------------------------


def test_drift_fraction_shares_and_times() -> None:
    config = SimulationConfig(customers=1000, days=60.0, seed=21)
    sim = simulate(config)
    switches = sim.switches
    assert len(switches) == round(config.drift_fraction * config.customers) == 200
    to_dormant = [s for s in switches.values() if s.to_persona == "dormant"]
    assert len(to_dormant) == round(config.dormant_share * len(switches)) == 60
    earliest = config.start + timedelta(days=config.warmup_days)
    latest = config.start + timedelta(days=config.days - config.settle_days)
    for customer, switch in switches.items():
        assert switch.customer_id == customer
        assert earliest <= switch.at <= latest
        assert switch.from_persona != switch.to_persona
        assert switch.from_persona == sim.initial_personas[customer]
        assert switch.to_persona == sim.personas[customer]
        before = switch.at - timedelta(microseconds=1)
        assert sim.persona_at(customer, before) == switch.from_persona
        assert sim.persona_at(customer, switch.at) == switch.to_persona
    for customer in set(sim.personas) - set(switches):
        assert sim.personas[customer] == sim.initial_personas[customer]
    # Switch moments spread over the window.
    days = sorted((s.at - earliest) / (latest - earliest) for s in switches.values())
    assert days[len(days) // 4] < 0.4 < 0.6 < days[3 * len(days) // 4]


def test_initial_personas_are_balanced_by_default() -> None:
    sim = simulate(SimulationConfig(customers=600, days=30.0, warmup_days=10.0, settle_days=5.0))
    assert Counter(sim.initial_personas.values()) == dict.fromkeys(PERSONAS, 100)


def test_persona_weights_give_exact_counts() -> None:
    config = SimulationConfig(
        customers=11, days=10.0, drift_fraction=0.0, persona_weights={"researcher": 2, "dormant": 1}
    )
    counts = Counter(simulate(config).initial_personas.values())
    assert counts == {"researcher": 7, "dormant": 4}


def test_switchers_to_dormant_stop_acting_at_the_switch(drifting: Simulation) -> None:
    events = by_customer(drifting)
    gone = [s for s in drifting.switches.values() if s.to_persona == "dormant"]
    assert len(gone) >= 100
    acted_before = 0
    for switch in gone:
        mine = events[switch.customer_id]
        assert not [e for e in mine if e.occurred_at >= switch.at and own_activity(e)]
        stopped = any(
            isinstance(e, EmailEvent) and e.action in ("unsubscribe", "complaint") for e in mine
        )
        if not stopped:
            assert [e for e in mine if e.occurred_at >= switch.at], "they still receive email"
        acted_before += any(own_activity(e) for e in mine if e.occurred_at < switch.at)
    assert acted_before >= 0.9 * len(gone)


def test_switchers_from_dormant_start_acting_at_the_switch(drifting: Simulation) -> None:
    events = by_customer(drifting)
    woke = [s for s in drifting.switches.values() if s.from_persona == "dormant"]
    assert len(woke) >= 50
    assert all(s.to_persona != "dormant" for s in woke)
    acted_after = 0
    for switch in woke:
        mine = events[switch.customer_id]
        assert not [e for e in mine if e.occurred_at < switch.at and own_activity(e)]
        acted_after += any(own_activity(e) for e in mine if e.occurred_at >= switch.at)
    assert acted_after >= 0.8 * len(woke)


@pytest.mark.parametrize(
    ("persona", "stage"), [("researcher", "awareness"), ("ready_buyer", "decision")]
)
def test_switchers_take_up_the_new_behavior(drifting: Simulation, persona: str, stage: str) -> None:
    events = by_customer(drifting)
    switches = [s for s in drifting.switches.values() if s.to_persona == persona]
    assert len(switches) >= 30
    before = after = 0.0
    days_before = days_after = 0.0
    end = drifting.config.start + timedelta(days=drifting.config.days)
    for switch in switches:
        downloads = [
            e
            for e in events[switch.customer_id]
            if isinstance(e, DownloadEvent) and e.funnel_stage == stage
        ]
        before += sum(1 for e in downloads if e.occurred_at < switch.at)
        after += sum(1 for e in downloads if e.occurred_at >= switch.at)
        days_before += (switch.at - drifting.config.start) / timedelta(days=1)
        days_after += (end - switch.at) / timedelta(days=1)
    rate_before, rate_after = before / days_before, after / days_after
    expected = getattr(PERSONA_BY_NAME[persona], f"{stage}_per_day")
    assert rate_after > 4 * rate_before
    assert 0.5 * expected < rate_after < 1.5 * expected


# --- personas ------------------------------------------------------------------------------


def clicks(e: Event) -> bool:
    return isinstance(e, ClickEvent)


def opens(e: Event) -> bool:
    return isinstance(e, EmailEvent) and e.action == "open"


def purchases(e: Event) -> bool:
    return isinstance(e, PurchaseEvent) and e.amount > 0


def test_personas_differ_in_the_expected_directions(population: Simulation) -> None:
    def mean(persona: str, predicate: Callable[[Event], bool]) -> float:
        return per_customer(population, persona, predicate)

    click = {p: mean(p, clicks) for p in PERSONAS}
    opened = {p: mean(p, opens) for p in PERSONAS}
    bought = {p: mean(p, purchases) for p in PERSONAS}
    assert click["researcher"] > click["ready_buyer"] > click["loyal_customer"]
    assert click["tire_kicker"] > click["email_reader"]
    assert click["loyal_customer"] > click["email_reader"]
    assert click["researcher"] > 5 * click["email_reader"]
    assert click["dormant"] == 0
    assert opened["email_reader"] == max(opened.values())
    assert opened["email_reader"] > 1.5 * opened["loyal_customer"]
    assert opened["email_reader"] > 10 * opened["tire_kicker"]
    assert opened["dormant"] == 0
    # Only buyers and loyal customers purchase, loyal ones regularly.
    assert bought["loyal_customer"] > 5
    assert bought["ready_buyer"] == 0  # buying would make them customers: a persona switch
    for persona in ("researcher", "email_reader", "tire_kicker", "dormant"):
        assert bought[persona] == 0


def test_downloads_follow_the_funnel(population: Simulation) -> None:
    stages: dict[str, Counter[str]] = defaultdict(Counter)
    for event in population.events:
        if isinstance(event, DownloadEvent) and event.funnel_stage is not None:
            stages[population.personas[event.customer_id]][event.funnel_stage] += 1
    researcher, buyer = stages["researcher"], stages["ready_buyer"]
    assert researcher["awareness"] + researcher["consideration"] > 10 * researcher["decision"]
    assert buyer["decision"] > 3 * (buyer["awareness"] + buyer["consideration"])
    assert sum(stages["tire_kicker"].values()) == 0
    assert sum(stages["dormant"].values()) == 0


def test_ready_buyers_read_pricing(population: Simulation) -> None:
    pricing: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for event in population.events:
        if isinstance(event, ClickEvent):
            persona = population.personas[event.customer_id]
            total[persona] += 1
            pricing[persona] += event.url.startswith("/pricing")
    share = {p: pricing[p] / total[p] for p in total}
    assert share["ready_buyer"] == max(share.values())
    assert share["ready_buyer"] > 0.3


def test_dormant_customers_only_receive_email(population: Simulation) -> None:
    dormant = {c for c, p in population.personas.items() if p == "dormant"}
    assert len(dormant) == 200
    received: Counter[str] = Counter()
    for event in population.events:
        if event.customer_id in dormant:
            assert isinstance(event, EmailEvent)
            assert event.action in DORMANT_ACTIONS
            received[event.customer_id] += event.action == "sent"
    assert set(received) == dormant


def test_sessions_have_several_clicks(population: Simulation) -> None:
    sessions: Counter[str] = Counter()
    for event in population.events:
        if isinstance(event, ClickEvent) and event.session_id is not None:
            sessions[event.session_id] += 1
    mean = sum(sessions.values()) / len(sessions)
    assert 2.0 < mean < 5.0


def test_persona_table_is_well_formed() -> None:
    assert len(PERSONA_TABLE) >= 6
    assert len(set(PERSONAS)) == len(PERSONAS)
    for persona in PERSONA_TABLE:
        assert persona.clicks_per_session >= 1.0
        assert persona.pages
        for p in (persona.email_open, persona.email_click, persona.email_bounce):
            assert 0.0 <= p <= 1.0
        assert (persona.purchases_per_day > 0) == (persona.order_value > 0)


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"persona_weights": {"whale": 1.0}},
        {"persona_weights": {"researcher": 0.0}},
        {"days": 10.0},  # the default warm-up and settling do not fit
        {"drift_fraction": 1.5},
        {"customers": -1},
        {"start": datetime(2026, 9, 1)},  # naive
        {"unknown_option": 1},
    ],
)
def test_bad_configs_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SimulationConfig.model_validate(bad)


def test_config_is_frozen() -> None:
    with pytest.raises(ValidationError):
        SMALL.customers = 5  # type: ignore[misc]


def test_empty_population() -> None:
    sim = simulate(SimulationConfig(customers=0, days=5.0, drift_fraction=0.0))
    assert sim.events == []
    assert sim.personas == {}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    customers=st.integers(min_value=0, max_value=40),
    days=st.floats(min_value=1.0, max_value=20.0),
    drift=st.floats(min_value=0.0, max_value=1.0),
    dormant_share=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**32),
    offset_hours=st.floats(min_value=0.0, max_value=23.0),
)
def test_invariants_hold_for_any_config(
    customers: int, days: float, drift: float, dormant_share: float, seed: int, offset_hours: float
) -> None:
    config = SimulationConfig(
        customers=customers,
        days=days,
        seed=seed,
        drift_fraction=drift,
        dormant_share=dormant_share,
        warmup_days=days / 3,
        settle_days=days / 3,
        start=datetime(2026, 9, 1, tzinfo=UTC) + timedelta(hours=offset_hours),
    )
    sim = simulate(config)
    end = config.start + timedelta(days=days)
    times = [e.occurred_at for e in sim.events]
    assert times == sorted(times)
    assert all(config.start <= t < end for t in times)
    assert len({e.event_id for e in sim.events}) == len(sim.events)
    assert len(sim.switches) == round(drift * customers)
    assert all(s.from_persona != s.to_persona for s in sim.switches.values())
    sent = {e.customer_id for e in sim.events if isinstance(e, EmailEvent) and e.action == "sent"}
    if days * 24 >= 9.5:  # the first campaign goes out 9 hours in, over half an hour
        assert sent == set(sim.personas)
    for switch in sim.switches.values():
        if switch.to_persona == "dormant":
            late = [
                e
                for e in sim.events
                if e.customer_id == switch.customer_id and e.occurred_at >= switch.at
            ]
            assert not [e for e in late if own_activity(e)]


# --- anonymous visitors ----------------------------------------------------------------------

SITE_KINDS = (ClickEvent, DownloadEvent)
#: Anonymity on, every customer anonymous; a quarter of the cookies on shared devices.
ANONYMOUS = SimulationConfig(
    customers=300,
    days=28.0,
    warmup_days=7.0,
    settle_days=7.0,
    seed=13,
    anonymous_share=1.0,
    shared_device_share=0.25,
)


def digest(events: list[Event]) -> str:
    h = hashlib.sha256()
    for event in events:
        h.update(encode_event(event))
        h.update(b"\n")
    return h.hexdigest()


def own_events(sim: Simulation) -> dict[str, list[Event]]:
    """Every customer's events, anonymous ones included, in their order."""
    events: dict[str, list[Event]] = defaultdict(list)
    for event in sim.events:
        events[sim.owner_of(event)].append(event)
    return events


@pytest.fixture(scope="module")
def anonymous() -> Simulation:
    return simulate(ANONYMOUS)


def test_defaults_make_no_anonymous_traffic_and_the_same_events() -> None:
    sim = simulate(SMALL)
    assert all(e.anonymous_id is None and e.customer_id is not None for e in sim.events)
    assert not [e for e in sim.events if isinstance(e, IdentifyEvent)]
    assert sim.cookies == sim.cookie_owners == sim.anonymous_event_owners == {}
    assert sim.identifications == []
    assert sim.shared_cookies == sim.never_identify == frozenset()
    # With no anonymous customer the other options change nothing.
    zero = SMALL.model_copy(
        update={
            "anonymous_share": 0.0,
            "never_identify_share": 0.5,
            "shared_device_share": 1.0,
            "identify_after_sessions": 1,
            "identify_on_email_click": False,
            "cookie_prefix": "x-",
        }
    )
    assert digest(simulate(zero).events) == digest(sim.events)
    # The output before anonymous visitors existed (change it only on purpose: benchmarks
    # and their recorded figures depend on it).
    assert digest(sim.events) == "ef7066bc8df12684b4a2fe97fbd3596c7774eb5ef93e11942ca2455bd7614b3a"


def test_anonymity_changes_only_the_identity_on_site_events() -> None:
    half = SMALL.model_copy(update={"anonymous_share": 0.5, "shared_device_share": 0.3})
    plain, sim = by_customer(simulate(SMALL)), simulate(half)
    assert len(sim.cookies) == 30
    mine = own_events(sim)
    # Everything but who and the ids: the same draws, so the same events.
    identity = {"event_id", "customer_id", "anonymous_id", "properties", "session_id"}
    for customer, events in mine.items():
        events = [e for e in events if not isinstance(e, IdentifyEvent)]
        if customer not in sim.cookies:
            assert events == plain[customer]
            continue
        assert [e.model_dump(exclude=identity) for e in events] == [
            e.model_dump(exclude=identity) for e in plain[customer]
        ]


def test_anonymous_customers_identify_once_and_are_known_after(anonymous: Simulation) -> None:
    assert ANONYMOUS.identify_after_sessions == 3 and ANONYMOUS.identify_on_email_click
    assert set(anonymous.cookies) == set(anonymous.personas)
    assert anonymous.never_identify == frozenset()
    triggers: Counter[str] = Counter()
    anonymous_customers = 0
    for customer, events in own_events(anonymous).items():
        cookie = anonymous.cookies[customer]
        identifies = [e for e in events if isinstance(e, IdentifyEvent)]
        assert len(identifies) <= 1
        cut = events.index(identifies[0]) if identifies else len(events)
        before = [e for e in events[:cut] if isinstance(e, SITE_KINDS)]
        after = [e for e in events[cut + 1 :] if isinstance(e, SITE_KINDS)]
        assert all(e.customer_id is None and e.anonymous_id == cookie for e in before)
        assert all(e.customer_id == customer and e.anonymous_id == cookie for e in after)
        anonymous_customers += bool(before)
        sessions = {e.session_id for e in before if isinstance(e, ClickEvent)}
        landed = [e for e in before if isinstance(e, ClickEvent) and "utm_medium=email" in e.url]
        if not identifies:
            assert len(sessions) < 3 and not landed, "nothing identified them"
            continue
        (identify,) = identifies
        assert identify.anonymous_id == cookie and identify.customer_id == customer
        assert identify.traits == anonymous.customer_properties[customer]
        # The identifying click comes at the same moment, right after the identify.
        trigger = events[cut + 1]
        assert isinstance(trigger, ClickEvent) and trigger.occurred_at == identify.occurred_at
        if "utm_medium=email" in trigger.url:
            triggers["email_click"] += 1
            assert len(sessions) < 3
        else:
            triggers["signup"] += 1
            assert len(sessions) == 2 and not landed
    assert triggers["signup"] > 100 and triggers["email_click"] > 30
    assert anonymous_customers > 150
    assert sum(triggers.values()) == len(anonymous.identifications)


def test_a_first_session_sign_up_identifies_every_visitor() -> None:
    config = ANONYMOUS.model_copy(update={"identify_after_sessions": 1, "drift_fraction": 0.0})
    sim = simulate(config)
    for customer, events in own_events(sim).items():
        identifies = [e for e in events if isinstance(e, IdentifyEvent)]
        clicks = [e for e in events if isinstance(e, ClickEvent)]
        assert len(identifies) == bool(clicks)
        if clicks:
            # Only downloads come before the first click, anonymously.
            (identify,) = identifies
            before = events[: events.index(identify)]
            assert not [e for e in before if isinstance(e, ClickEvent)]
            assert all(e.customer_id is None for e in before if isinstance(e, DownloadEvent))
            assert identify.anonymous_id == sim.cookies[customer]
            assert clicks[0].customer_id == customer
            assert clicks[0].occurred_at == identify.occurred_at
    assert sum(1 for e in sim.events if e.customer_id is None) > 20


def test_anonymous_events_do_not_name_their_customer(anonymous: Simulation) -> None:
    anonymous_events = [e for e in anonymous.events if e.customer_id is None]
    assert len(anonymous_events) > 1000
    for event in anonymous_events:
        assert isinstance(event, SITE_KINDS)
        assert event.anonymous_id is not None and event.properties is None
        owner = anonymous.owner_of(event)
        assert event.event_id.startswith(event.anonymous_id + "-")
        if isinstance(event, ClickEvent):
            assert event.session_id is not None
            assert event.session_id.startswith(event.anonymous_id + "-s")
            assert owner not in event.session_id
    # Emails and purchases always name the customer.
    for event in anonymous.events:
        if isinstance(event, EmailEvent | PurchaseEvent):
            assert event.customer_id is not None and event.anonymous_id is None
            assert event.properties == anonymous.customer_properties[event.customer_id]


def test_never_identifying_customers_stay_anonymous() -> None:
    config = ANONYMOUS.model_copy(update={"never_identify_share": 0.5})
    sim = simulate(config)
    assert len(sim.never_identify) == 150
    identified = {i.customer_id for i in sim.identifications}
    assert not identified & sim.never_identify
    mine = own_events(sim)
    browsed = 0
    for customer in sim.never_identify:
        site = [e for e in mine[customer] if isinstance(e, SITE_KINDS)]
        assert all(e.customer_id is None for e in site)
        browsed += bool(site)
    assert browsed > 100
    # Their email clicks land anonymously.
    assert any(
        isinstance(e, ClickEvent) and e.customer_id is None and "utm_medium=email" in e.url
        for c in sim.never_identify
        for e in mine[c]
    )


def test_shared_devices_are_owned_and_identified_by_two_customers(
    anonymous: Simulation,
) -> None:
    shared = anonymous.shared_cookies
    # 300 identifying customers, p pairs: p / (300 - p) = 0.25.
    assert len(shared) == 60
    assert len(anonymous.cookie_owners) == 240
    assert shared == {c for c, owners in anonymous.cookie_owners.items() if len(owners) == 2}
    for cookie, owners in anonymous.cookie_owners.items():
        assert all(anonymous.cookies[owner] == cookie for owner in owners)
    by_cookie: dict[str, list[str]] = defaultdict(list)
    for identification in anonymous.identifications:
        by_cookie[identification.anonymous_id].append(identification.customer_id)
    assert all(len(customers) == 1 for c, customers in by_cookie.items() if c not in shared)
    twice = 0
    for cookie in shared:
        customers = by_cookie[cookie]
        assert len(set(customers)) == len(customers) and set(customers) <= set(
            anonymous.cookie_owners[cookie]
        )
        twice += len(customers) == 2
    assert twice >= 0.75 * len(shared)  # those who do not are mostly dormant
    # Both owners browse anonymously under the shared cookie.
    owners_seen: dict[str, set[str]] = defaultdict(set)
    for owner in anonymous.anonymous_event_owners.values():
        owners_seen[anonymous.cookies[owner]].add(owner)
    assert sum(len(owners_seen[c]) == 2 for c in shared) >= 0.5 * len(shared)


def test_active_shared_devices_are_all_identified_twice() -> None:
    config = SimulationConfig(
        customers=100,
        days=28.0,
        drift_fraction=0.0,
        seed=2,
        persona_weights={"researcher": 1, "tire_kicker": 1, "ready_buyer": 1},
        anonymous_share=1.0,
        shared_device_share=1.0,
        identify_after_sessions=2,
    )
    sim = simulate(config)
    assert len(sim.shared_cookies) == len(sim.cookie_owners) == 50
    for cookie in sim.shared_cookies:
        first, second = (i for i in sim.identifications if i.anonymous_id == cookie)
        assert first.customer_id != second.customer_id
        assert first.at <= second.at
        assert {first.customer_id, second.customer_id} == set(sim.cookie_owners[cookie])


def test_identity_truth_matches_the_events(anonymous: Simulation) -> None:
    events = anonymous.events
    identifies = [e for e in events if isinstance(e, IdentifyEvent)]
    assert [(e.event_id, e.anonymous_id, e.customer_id, e.occurred_at) for e in identifies] == [
        (i.event_id, i.anonymous_id, i.customer_id, i.at) for i in anonymous.identifications
    ]
    anonymous_ids = {e.event_id for e in events if e.customer_id is None}
    assert set(anonymous.anonymous_event_owners) == anonymous_ids
    for event in events:
        if event.customer_id is None:
            owner = anonymous.owner_of(event)
            assert anonymous.cookies[owner] == event.anonymous_id


def test_anonymous_traffic_is_reproducible_ordered_and_valid(anonymous: Simulation) -> None:
    again = simulate(ANONYMOUS)
    assert digest(again.events) == digest(anonymous.events)
    assert again.identifications == anonymous.identifications
    assert again.cookie_owners == anonymous.cookie_owners
    assert again.anonymous_event_owners == anonymous.anonymous_event_owners
    assert list(iter_events(ANONYMOUS)) == anonymous.events
    other = simulate(ANONYMOUS.model_copy(update={"seed": 14}))
    assert set(other.cookie_owners) != set(anonymous.cookie_owners)
    times = [e.occurred_at for e in anonymous.events]
    assert times == sorted(times)
    assert len({e.event_id for e in anonymous.events}) == len(anonymous.events)
    for event in anonymous.events:
        assert decode_event(event.kind, encode_event(event)) == event


def test_a_config_with_nothing_to_identify_is_rejected() -> None:
    with pytest.raises(ValidationError, match="nothing identifies"):
        SimulationConfig(
            anonymous_share=0.5, identify_after_sessions=None, identify_on_email_click=False
        )
    # Unless nobody is meant to identify.
    SimulationConfig(
        anonymous_share=0.5,
        never_identify_share=1.0,
        identify_after_sessions=None,
        identify_on_email_click=False,
    )
    for bad in (
        {"anonymous_share": 1.5},
        {"shared_device_share": -0.1},
        {"identify_after_sessions": 0},
    ):
        with pytest.raises(ValidationError):
            SimulationConfig.model_validate(bad)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=st.integers(min_value=0, max_value=40),
    days=st.floats(min_value=1.0, max_value=20.0),
    seed=st.integers(min_value=0, max_value=2**32),
    anonymous_share=st.floats(min_value=0.0, max_value=1.0),
    never=st.floats(min_value=0.0, max_value=1.0),
    shared=st.floats(min_value=0.0, max_value=1.0),
    after=st.none() | st.integers(min_value=1, max_value=4),
    on_click=st.booleans(),
)
def test_anonymous_invariants_hold_for_any_config(
    customers: int,
    days: float,
    seed: int,
    anonymous_share: float,
    never: float,
    shared: float,
    after: int | None,
    on_click: bool,
) -> None:
    config = SimulationConfig(
        customers=customers,
        days=days,
        seed=seed,
        warmup_days=days / 3,
        settle_days=days / 3,
        anonymous_share=anonymous_share,
        never_identify_share=never if after is not None or on_click else 1.0,
        shared_device_share=shared,
        identify_after_sessions=after,
        identify_on_email_click=on_click,
    )
    sim = simulate(config)
    times = [e.occurred_at for e in sim.events]
    assert times == sorted(times)
    assert len({e.event_id for e in sim.events}) == len(sim.events)
    assert len(sim.cookies) == round(anonymous_share * customers)
    assert {e.event_id for e in sim.events if e.customer_id is None} == set(
        sim.anonymous_event_owners
    )
    pairs = Counter((i.anonymous_id, i.customer_id) for i in sim.identifications)
    assert all(n == 1 for n in pairs.values())
    assert all(sim.cookies[c] == cookie for cookie, c in pairs)
    assert not {c for _, c in pairs} & sim.never_identify
