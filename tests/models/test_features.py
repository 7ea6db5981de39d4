"""Features: journey stage of pages, sessions, site presence and the email lapse evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from segflow.models.config import EngineConfig
from segflow.models.events import ClickEvent, EmailEvent, Event, PurchaseEvent
from segflow.models.features import profile_features
from segflow.models.model import SegmentModel
from segflow.models.pages import DEFAULT_PAGE_STAGES, page_stage
from segflow.models.profile import COUNTERS, Profile
from segflow.models.step import step

DAY = 86_400.0
HALF_LIFE = 7 * DAY
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def run(events: list[Event], config: EngineConfig | None = None) -> Profile:
    model = SegmentModel.create(config or EngineConfig())
    profile: Profile | None = None
    for event in events:
        profile = step(event, profile, model, NOW).profile
    assert profile is not None
    return profile


def click(n: int, at: datetime, url: str = "/", session: str | None = "s1") -> ClickEvent:
    return ClickEvent(
        event_id=f"c{n}", customer_id="c", occurred_at=at, url=url, session_id=session
    )


def email(n: int, at: datetime, action: str) -> EmailEvent:
    return EmailEvent(
        event_id=f"m{n}-{action}",
        customer_id="c",
        occurred_at=at,
        campaign_id=f"k{n}",
        action=action,
    )


@pytest.mark.parametrize(
    ("url", "stage"),
    [
        ("https://www.example.com/pricing/faq?utm_source=news", "decision"),
        ("https://www.example.com", "other"),
        ("/Blog/churn-signals#top", "awareness"),
        ("/docs/api", "consideration"),
        ("/account/billing", "customer"),
        ("/", "other"),
        ("/careers", "other"),
        ("", "other"),
    ],
)
def test_a_page_counts_toward_the_stage_of_its_first_path_segment(url: str, stage: str) -> None:
    assert page_stage(url, DEFAULT_PAGE_STAGES) == stage


def test_clicks_count_per_stage_and_per_session() -> None:
    events: list[Event] = [
        click(1, T0, "/pricing", "s1"),
        click(2, T0 + timedelta(minutes=1), "/demo", "s1"),
        click(3, T0 + timedelta(minutes=2), "/blog", "s1"),
        click(4, T0 + timedelta(minutes=3), "/", "s2"),
        # no session id: a click more than half an hour after the last starts a session
        click(5, T0 + timedelta(hours=2), "/", None),
        click(6, T0 + timedelta(hours=2, minutes=5), "/", None),
    ]
    profile = run(events)
    features = profile_features(profile, profile.as_of, HALF_LIFE)
    assert features["pages_decision"] == pytest.approx(2.0, rel=0.02)
    assert features["pages_awareness"] == pytest.approx(1.0, rel=0.02)
    assert features["pages_other"] == pytest.approx(3.0, rel=0.02)
    assert features["sessions"] == pytest.approx(3.0, rel=0.02)
    assert features["clicks_per_session"] == pytest.approx(7.0 / 4.0, rel=0.02)


def test_the_page_map_is_configurable() -> None:
    config = EngineConfig(page_stages={"buy": "decision"})
    profile = run([click(1, T0, "/buy/now"), click(2, T0, "/pricing")], config)
    features = profile_features(profile, profile.as_of, HALF_LIFE)
    assert features["pages_decision"] == pytest.approx(1.0)
    assert features["pages_other"] == pytest.approx(1.0)


def daily_visitor(days: int) -> Profile:
    return run([click(i, T0 + timedelta(days=i), "/docs", f"s{i}") for i in range(days)])


def test_a_quiet_spell_normal_for_the_customer_holds_its_site_counts() -> None:
    weekly = run([click(i, T0 + timedelta(days=7 * i), "/docs", f"s{i}") for i in range(6)])
    last = weekly.last_site
    assert last is not None
    at_visit = profile_features(weekly, last, HALF_LIFE)
    week_later = profile_features(weekly, last + 6 * DAY, HALF_LIFE)
    decayed = weekly.value("pages_consideration", last + 6 * DAY, HALF_LIFE)
    assert week_later["presence"] > 0.9
    # A weekly visitor's week of silence is its rhythm: its counts decay, held in part ...
    assert decayed < week_later["pages_consideration"] < 0.9 * at_visit["pages_consideration"]
    daily = daily_visitor(28)
    last = daily.last_site
    assert last is not None
    at_visit = profile_features(daily, last, HALF_LIFE)
    three_days = profile_features(daily, last + 3 * DAY, HALF_LIFE)
    # ... a daily visitor's three quiet days are held, not decayed.
    assert three_days["presence"] > 0.8
    assert three_days["pages_consideration"] > 0.8 * at_visit["pages_consideration"]


def test_a_long_silence_fades_site_counts_toward_zero() -> None:
    daily = daily_visitor(28)
    last = daily.last_site
    assert last is not None
    gone = profile_features(daily, last + 14 * DAY, HALF_LIFE)
    decayed = daily.value("pages_consideration", last + 14 * DAY, HALF_LIFE)
    assert gone["presence"] < 0.05
    assert gone["pages_consideration"] < 0.1 * decayed


def test_never_on_the_site_is_no_presence_and_a_refund_is_no_visit() -> None:
    refund = PurchaseEvent(event_id="p1", customer_id="c", occurred_at=T0, order_id="o", amount=-5)
    profile = run([email(1, T0, "sent"), refund])
    assert profile.last_site is None
    assert profile_features(profile, profile.as_of, HALF_LIFE)["presence"] == 0.0


def reader(weeks: int, opened: int) -> list[Event]:
    """Weekly sends, the first ``opened`` of them opened an hour later."""
    events: list[Event] = []
    for week in range(weeks):
        sent = T0 + timedelta(days=7 * week)
        events.append(email(week, sent, "sent"))
        if week < opened:
            events.append(email(week, sent + timedelta(hours=1), "open"))
    return events


def open_rate(events: list[Event], days_after_last_send: float) -> float:
    profile = run(events)
    assert profile.last_sent is not None
    at = profile.last_sent + days_after_last_send * DAY
    return profile_features(profile, at, HALF_LIFE)["open_rate"]


def test_a_send_waits_for_its_open_before_it_counts() -> None:
    # The same moment, half a day after a ninth send nobody opened yet: as if not sent.
    before_the_send = open_rate(reader(8, 8), 7.5)
    assert open_rate(reader(9, 8), 0.5) == pytest.approx(before_the_send)
    assert open_rate(reader(9, 8), 1.5) < before_the_send


def test_one_missed_email_is_doubt_and_three_are_a_lapse() -> None:
    opened = open_rate(reader(8, 8), 3.0)
    one_missed = open_rate(reader(9, 8), 3.0)
    three_missed = open_rate(reader(11, 8), 3.0)
    assert opened > 0.7
    assert 0.5 * opened < one_missed < opened
    assert three_missed < 0.6 * one_missed


def test_the_rate_holds_between_sends_and_two_missed_emails_are_an_email_lapse() -> None:
    gate = EngineConfig().lapse_gate

    def read(events: list[Event], days_after_last_send: float) -> dict[str, float]:
        profile = run(events)
        assert profile.last_sent is not None
        return profile_features(profile, profile.last_sent + days_after_last_send * DAY, HALF_LIFE)

    # Between two sends nothing new is learned: the rate as of the last open stays put
    # instead of sagging toward the prior while the counters decay.
    one_missed = read(reader(9, 8), 2.0)
    assert read(reader(9, 8), 6.5)["open_rate"] == pytest.approx(one_missed["open_rate"])
    assert one_missed["email_presence"] > gate
    assert read(reader(10, 8), 2.0)["email_presence"] < gate
    # Nobody lapses from a habit they never had: a customer who never opened stays at 1.
    assert read(reader(12, 0), 2.0)["email_presence"] == 1.0


def test_a_profile_stored_before_new_counters_reads_them_as_zero() -> None:
    profile = daily_visitor(3)
    raw = orjson.loads(profile.to_json())
    raw["n"] = raw["n"][:14]  # the counters segflow stored before pages and sessions
    old = Profile.from_json(orjson.dumps(raw))
    assert len(old.counts) == len(COUNTERS)
    assert old.counts[14:] == [0.0] * (len(COUNTERS) - 14)
    assert old.counts[:14] == profile.counts[:14]
