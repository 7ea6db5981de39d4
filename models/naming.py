"""Readable names for behavioral segments, from each centroid against the population.

A centroid is described by how far (in standard deviations) it sits from the
population mean in each group of features (web, content, email, purchases,
recency); the two strongest groups make the name.

>>> name_segments({1: {"email_opens": 1.5, "clicks": -1.0}, 2: {"downloads_decision": 2.0}})
{1: 'email-responsive, low web activity', 2: 'decision-stage downloader'}
"""

from __future__ import annotations

from collections.abc import Mapping

#: Per group: (feature, phrase when high, phrase when low or None), strongest feature wins.
GROUPS: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "content": (
        ("downloads_decision", "decision-stage downloader", None),
        ("downloads_consideration", "researcher, consideration content", None),
        ("downloads_awareness", "early-stage content reader", None),
    ),
    "purchase": (
        ("purchases", "frequent buyer", None),
        ("spend", "high spender", None),
    ),
    "email": (
        ("email_opens", "email-responsive", "email-unresponsive"),
        ("open_rate", "email-responsive", "email-unresponsive"),
        ("email_clicks", "email clicker", None),
        ("click_rate", "email clicker", None),
    ),
    "web": (
        ("pages_decision", "pricing and demo pages", None),
        ("pages_customer", "account and support pages", None),
        ("pages_consideration", "product pages", None),
        ("pages_awareness", "blog reader", None),
        ("pages_other", "home-page visitor", None),
        ("clicks_per_session", "long visits", "brief visits"),
        ("clicks", "heavy browser", "low web activity"),
    ),
    "recency": (
        ("days_since_active", "lapsing", "recently active"),
        ("active_days", "active most days", "rarely active"),
    ),
}

#: A group must sit at least this many standard deviations away to be named.
THRESHOLD = 0.5


def describe(z: Mapping[str, float]) -> list[tuple[float, str]]:
    """(strength, phrase) for every group that stands out, strongest first."""
    found: list[tuple[float, str]] = []
    for options in GROUPS.values():
        best: tuple[float, str] | None = None
        for feature, high, low in options:
            value = z.get(feature, 0.0)
            phrase = high if value > 0 else low
            if phrase is None or abs(value) < THRESHOLD:
                continue
            if best is None or abs(value) > best[0]:
                best = (abs(value), phrase)
        if best is not None:
            found.append(best)
    found.sort(key=lambda item: -item[0])
    return found


def name_segments(zscores: Mapping[int, Mapping[str, float]]) -> dict[int, str]:
    """A distinct readable name per segment, from its centroid's z-scores per feature."""
    names: dict[int, str] = {}
    used: set[str] = set()
    for cid in sorted(
        zscores, key=lambda c: -max((abs(v) for v in zscores[c].values()), default=0)
    ):
        phrases = [phrase for _, phrase in describe(zscores[cid])]
        if not phrases:
            phrases = ["average activity"]
        if all(z <= -THRESHOLD for z in _activity_z(zscores[cid])):
            phrases = ["dormant", *[p for p in phrases if p != "lapsing"]]
        name = ", ".join(phrases[:2])
        for extra in range(2, len(phrases)):
            if name not in used:
                break
            name = ", ".join(phrases[: extra + 1])
        base, n = name, 2
        while name in used:
            name, n = f"{base} ({n})", n + 1
        used.add(name)
        names[cid] = name
    return dict(sorted(names.items()))


def _activity_z(z: Mapping[str, float]) -> list[float]:
    keys = (
        "clicks",
        "pages_awareness",
        "pages_other",
        "email_opens",
        "downloads_awareness",
        "downloads_consideration",
        "purchases",
    )
    return [z[k] for k in keys if k in z] or [0.0]
