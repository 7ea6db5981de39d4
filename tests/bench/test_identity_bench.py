"""``bench.identity`` on a small world: the anonymous history ends where it belongs."""

from __future__ import annotations

import pytest

from bench.identity import run


def test_stitching_places_every_identified_visitors_events_and_leaves_nothing_behind() -> None:
    figures = run(customers=200, days=35.0, seed=5)
    assert figures["identifies"] > 0 and figures["merged"] > 0
    assert figures["right_customer_share_unshared_cookies"] == 1.0
    assert figures["counted_twice"] == 0
    assert figures["visitor_profiles_left"] == 0
    # The second owner of a shared cookie is refused (the first link wins).
    assert figures["refused"].get("linked_elsewhere", 0) <= figures["shared_cookies"]


@pytest.mark.kafka
def test_through_workers_the_history_ends_where_the_runner_puts_it() -> None:
    figures = run(customers=60, days=35.0, seed=5, broker="")
    workers = figures["workers"]
    assert workers["judged_events"] == figures["judged_events"] > 0
    assert workers["right_customer_share_unshared_cookies"] == 1.0
    assert workers["counted_twice"] == 0 and workers["visitor_profiles_left"] == 0
    assert workers["merged"] > 0
    assert workers["unlinked_visitors_on"] == figures["unlinked_visitors_on"]
