"""Name claims: a segment's name must be true of its members (segmentation issue)."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from segflow.models.claims import (
    CLAIMS,
    NAMING_PHRASES,
    Population,
    check_member,
    consistency,
    consistency_report,
    parse_name,
)
from segflow.models.config import EngineConfig
from segflow.models.events import ClickEvent, EmailEvent, Event
from segflow.models.features import CLUSTER_FEATURES, profile_features
from segflow.models.naming import GROUPS, level_text, name_segments
from segflow.models.runner import replay
from segflow.models.timeutil import DAY

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
HALF_LIFE = EngineConfig().half_life_days * DAY


def _email(customer: str, n: int, week: int, action: str, hours: float = 0.0) -> EmailEvent:
    return EmailEvent(
        event_id=f"{customer}-{n}",
        customer_id=customer,
        occurred_at=START + timedelta(days=7 * week, hours=hours),
        campaign_id=f"cmp{week}",
        action=action,  # type: ignore[arg-type]
    )


def _features_after(events: list[Event], at: datetime) -> dict[str, dict[str, float]]:
    """Real readable features of each customer of ``events`` at ``at``."""
    result = replay(sorted(events, key=lambda e: e.occurred_at), EngineConfig(), sweep=False)
    return {
        c: profile_features(p, max(at.timestamp(), p.as_of), HALF_LIFE)
        for c, p in result.profiles.items()
    }


def test_a_bounced_customer_who_never_opened_is_not_email_responsive() -> None:
    # The case: a bounced address that never opened. (Its open rate used to be
    # the prior, 0.2, above that of customers who open now and then; it is 0 now.)
    events: list[Event] = [_email("bounced", 1, 0, "sent"), _email("bounced", 2, 0, "bounce")]
    for i in range(4):
        customer = f"rare{i}"
        for week in range(8):
            events.append(_email(customer, 2 * week, week, "sent"))
            if week == i:
                events.append(_email(customer, 2 * week + 1, week, "open", hours=3))
    features = _features_after(events, START + timedelta(days=56))
    bounced = features["bounced"]
    population = Population.of(features.values())
    assert bounced["email_opens"] == 0.0
    assert bounced["bounced"] == 1.0
    assert bounced["open_rate"] == 0.0 < population.median("open_rate")
    assert check_member("email-responsive", bounced, population) == {"email-responsive": False}
    assert check_member("email-unresponsive", bounced, population) == {"email-unresponsive": True}
    members = {"bounced": "email-responsive, brief visits", "rare3": "email-responsive"}
    shares = consistency(members, features)
    assert shares["email-responsive, brief visits"] == 0.0
    assert shares["email-responsive"] == 1.0  # opened, at the best rate of the population


def test_every_phrase_naming_can_produce_has_a_claim() -> None:
    assert set(CLAIMS) >= NAMING_PHRASES
    for options in GROUPS.values():
        for _, high, low in options:
            assert high in CLAIMS
            assert low is None or low in CLAIMS


def test_names_of_random_centroids_parse_into_known_phrases_and_levels() -> None:
    rng = random.Random(5)
    features = (*CLUSTER_FEATURES, "clicks", "email_opens", "days_since_active", "active_days")
    for _ in range(200):
        zscores = {
            cid: {f: rng.gauss(0.0, 1.2) for f in rng.sample(features, 6)} for cid in range(6)
        }
        levels = {
            cid: {
                f: text
                for f in ("purchases", "open_rate", "clicks_per_session", "pages_decision")
                if (text := level_text(f, rng.uniform(0.0, 5.0), 7.0))
            }
            for cid in zscores
        }
        for name in itertools.chain(
            name_segments(zscores).values(), name_segments(zscores, levels).values()
        ):
            parsed = parse_name(name)
            assert parsed.unknown == (), name
            assert parsed.claims, name


def test_parse_name_keeps_a_phrase_with_a_comma_whole_and_sets_levels_apart() -> None:
    parsed = parse_name("researcher, consideration content, pricing and demo pages, opens 46% (3)")
    assert parsed.claims == ("researcher, consideration content", "pricing and demo pages")
    assert parsed.levels == ("opens 46%",)
    assert parsed.unknown == ()
    assert parse_name("average activity, 3.0 clicks/visit").levels == ("3.0 clicks/visit",)
    assert parse_name("average activity, 1.8 decision pages/week").levels == (
        "1.8 decision pages/week",
    )
    assert parse_name("vip, frequent buyer") == (("frequent buyer",), (), ("vip",))


POPULATION = {
    "buyer": {"purchases": 3.0, "clicks": 2.0, "clicks_per_session": 1.5, "presence": 0.9},
    "browser": {"purchases": 0.0, "clicks": 40.0, "clicks_per_session": 8.0, "presence": 1.0},
    "gone": {"purchases": 0.0, "clicks": 0.0, "clicks_per_session": 1.0, "presence": 0.05},
    "reader": {
        "purchases": 0.0,
        "clicks": 1.0,
        "clicks_per_session": 1.0,
        "presence": 0.1,
        "email_opens": 4.0,
        "open_rate": 0.8,
    },
}


@pytest.mark.parametrize(
    ("name", "member", "holds"),
    [
        ("frequent buyer", "buyer", True),
        ("frequent buyer", "browser", False),
        # The median of a rare behavior is 0: being at it is not "above".
        ("frequent buyer", "gone", False),
        ("heavy browser", "browser", True),
        ("low web activity", "gone", True),
        ("low web activity", "browser", False),
        ("long visits", "browser", True),
        ("brief visits", "reader", True),
        ("dormant", "gone", True),
        ("dormant", "buyer", False),
        # Away from the site but opening its email: not dormant.
        ("dormant", "reader", False),
        ("email-responsive", "reader", True),
        ("email-responsive", "gone", False),
        ("average activity", "gone", True),
    ],
)
def test_claims_against_the_population(name: str, member: str, holds: bool) -> None:
    population = Population.of(POPULATION.values())
    assert check_member(name, POPULATION[member], population) == {name: holds}


def test_lapsing_and_recency_claims() -> None:
    features = {
        "old": {"days_since_active": 12.0, "active_days": 0.5},
        "new": {"days_since_active": 0.5, "active_days": 6.0},
        "mid": {"days_since_active": 3.0, "active_days": 2.0},
    }
    shares = consistency(
        {"old": "lapsing, rarely active", "new": "recently active, active most days"}, features
    )
    assert shares == {"lapsing, rarely active": 1.0, "recently active, active most days": 1.0}
    assert consistency({"new": "lapsing"}, features) == {"lapsing": 0.0}


def test_report_gives_each_claim_share_and_unverifiable_phrases() -> None:
    members = {"buyer": "frequent buyer, vip", "browser": "frequent buyer, vip", "gone": "vip"}
    report = consistency_report(members, POPULATION)
    segment = report["frequent buyer, vip"]
    assert segment.size == 2
    assert segment.share == 0.5
    assert segment.by_claim == {"frequent buyer": 0.5}
    assert segment.unknown == ("vip",)
    # Nothing checkable: nothing contradicted, and the phrase is reported.
    assert report["vip"].share == 1.0
    assert report["vip"].unknown == ("vip",)


def test_the_population_is_every_customer_given_not_only_members() -> None:
    # Alone, "buyer" would sit at its own median; against everyone it is above.
    assert consistency({"buyer": "frequent buyer"}, POPULATION) == {"frequent buyer": 1.0}
    alone = Population.of([POPULATION["buyer"]])
    assert consistency({"buyer": "frequent buyer"}, POPULATION, alone) == {"frequent buyer": 0.0}


def test_a_site_visit_counts_toward_web_claims_of_real_features() -> None:
    events: list[Event] = [
        ClickEvent(
            event_id=f"v-{i}",
            customer_id="visitor",
            occurred_at=START + timedelta(hours=i),
            url="/pricing",
        )
        for i in range(5)
    ]
    events.append(_email("idle", 1, 0, "sent"))
    features = _features_after(events, START + timedelta(days=1))
    population = Population.of(features.values())
    assert check_member("pricing and demo pages", features["visitor"], population) == {
        "pricing and demo pages": True
    }
    assert check_member("dormant, low web activity", features["idle"], population) == {
        "dormant": True,
        "low web activity": True,
    }
