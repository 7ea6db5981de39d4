"""Readable names for behavioral segments, from each centroid against the population.

A centroid is described by how far (in standard deviations) it sits from the
population mean in each group of features (web, content, email, purchases,
recency); the two strongest groups make the name.

>>> name_segments({1: {"email_opens": 1.5, "clicks": -1.0}, 2: {"downloads_decision": 2.0}})
{1: 'email-responsive, low web activity', 2: 'decision-stage downloader'}
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

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

#: The same groups in a shop's words: journey stages are category browsing, product
#: views, the cart, the account (see ``pages.ECOMMERCE_PAGE_STAGES``).
ECOMMERCE_GROUPS: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    **GROUPS,
    "web": (
        ("pages_decision", "cart adder", None),
        ("pages_customer", "account and order pages", None),
        ("pages_consideration", "product viewer", None),
        ("pages_awareness", "category browser", None),
        ("pages_other", "home and search pages", None),
        ("clicks_per_session", "long visits", "brief visits"),
        ("clicks", "heavy browser", "low web activity"),
    ),
}

#: A group must sit at least this many standard deviations away to be named.
THRESHOLD = 0.5
#: A phrase names a segment only when it is true of at least this share of the members
#: the model knows of (see :mod:`.name_truth`): a centroid pulled up by a few heavy
#: buyers does not make its segment "frequent buyers".
TRUE_SHARE = 0.8
#: ... with this confidence (one-sided 90 %, a normal quantile): the members the model
#: knows of are a sample of the segment's customers, so the share seen must clear
#: :data:`TRUE_SHARE` by its sampling error (the Wilson score bound), not just reach it.
TRUE_CONFIDENCE_Z = 1.2816


Groups = Mapping[str, tuple[tuple[str, str, str | None], ...]]


@dataclass(frozen=True)
class Truth:
    """Of which of a segment's ``members`` each feature's phrases are true: per feature,
    a bit per member (bit ``i`` of the int: member ``i``) for the high phrase and one
    for the low phrase. Built by :func:`~.name_truth.phrase_truth`."""

    members: int
    high: Mapping[str, int]
    low: Mapping[str, int]

    @property
    def everyone(self) -> int:
        """The bits of all members."""
        return (1 << self.members) - 1

    def of(self, feature: str, high: bool) -> int | None:
        """The members the phrase is true of (None: the feature is not checked)."""
        return (self.high if high else self.low).get(feature)

    def share(self, bits: int) -> float:
        """The share of the members that ``bits`` holds (1 without members)."""
        return bits.bit_count() / self.members if self.members else 1.0

    def holds(self, bits: int) -> bool:
        """Whether what ``bits`` says is true of at least :data:`TRUE_SHARE` of the
        segment's customers, judged from its members at :data:`TRUE_CONFIDENCE_Z`: the
        lower Wilson score bound of :meth:`share` (true without members).

        >>> Truth(10, {}, {}).holds(0b1111111110)  # 9 of 10: could well be under 80 %
        False
        >>> Truth(100, {}, {}).holds((1 << 90) - 1)  # 90 of 100
        True
        """
        return wilson_lower(self.share(bits), self.members, TRUE_CONFIDENCE_Z) >= TRUE_SHARE


def wilson_lower(share: float, n: int, z: float) -> float:
    """The lower Wilson score bound of a ``share`` seen in ``n`` trials (``share``
    itself when ``n`` is 0).

    >>> round(wilson_lower(0.9, 100, 1.645), 3)
    0.84
    """
    if n <= 0:
        return share
    z2 = z * z
    centre = share + z2 / (2 * n)
    spread = z * math.sqrt(share * (1.0 - share) / n + z2 / (4 * n * n))
    return (centre - spread) / (1.0 + z2 / n)


def describe(
    z: Mapping[str, float], groups: Groups = GROUPS, truth: Truth | None = None
) -> list[tuple[float, str]]:
    """(strength, phrase) for every group that stands out, strongest first. A feature
    missing from ``z`` (no evidence in the population) is never named. With ``truth``,
    the phrases kept are true together of at least :data:`TRUE_SHARE` of the members
    (with confidence, :meth:`Truth.holds`): a phrase that would bring the share under it
    is left out.

    >>> describe({"purchases": 1.2, "open_rate": 0.6})
    [(1.2, 'frequent buyer'), (0.6, 'email-responsive')]
    >>> def first(n: int) -> int:  # the bits of members 0 .. n - 1
    ...     return (1 << n) - 1
    >>> few_buy = Truth(40, {"purchases": first(16), "open_rate": first(40)}, {})
    >>> describe({"purchases": 1.2, "open_rate": 0.6}, truth=few_buy)
    [(0.6, 'email-responsive')]
    >>> apart = Truth(40, {"purchases": first(39), "open_rate": first(40) - 1}, {})
    >>> describe({"purchases": 1.2, "open_rate": 0.6}, truth=apart)  # 38 of 40 are both
    [(1.2, 'frequent buyer'), (0.6, 'email-responsive')]
    >>> apart = Truth(40, {"purchases": first(38), "open_rate": first(40) - first(14)}, {})
    >>> describe({"purchases": 1.2, "open_rate": 0.6}, truth=apart)  # 24 of 40 are both
    [(1.2, 'frequent buyer')]
    """
    found: list[tuple[float, str, str, bool]] = []
    for options in groups.values():
        best: tuple[float, str, str, bool] | None = None
        for feature, high, low in options:
            if feature not in z:
                continue
            value = z[feature]
            phrase = high if value > 0 else low
            if phrase is None or abs(value) < THRESHOLD:
                continue
            true_of = truth.of(feature, value > 0) if truth is not None else None
            if truth is not None and true_of is not None and not truth.holds(true_of):
                continue
            if best is None or abs(value) > best[0]:
                best = (abs(value), phrase, feature, value > 0)
        if best is not None:
            found.append(best)
    found.sort(key=lambda item: -item[0])
    if truth is None:
        return [(strength, phrase) for strength, phrase, _, _ in found]
    kept, together = [], truth.everyone
    for strength, phrase, feature, above in found:
        true_of = truth.of(feature, above)
        both = together if true_of is None else together & true_of
        if truth.holds(both):
            kept.append((strength, phrase))
            together = both
    return kept


def name_segments(
    zscores: Mapping[int, Mapping[str, float]],
    levels: Mapping[int, Mapping[str, str]] | None = None,
    groups: Groups = GROUPS,
    dormant: Collection[int] | None = None,
    truth: Mapping[int, Truth] | None = None,
) -> dict[int, str]:
    """A distinct readable name per segment, from its centroid's z-scores per feature
    (and, given ``truth`` per segment, only phrases true of most of its members).

    Segments that the strongest phrases cannot tell apart are told apart by the feature
    on which they differ most, in readable units when ``levels`` (per segment, feature
    -> text such as ``"2.1 orders/month"``) has it, else by a number. ``dormant`` names
    the segments read as dormant (default: :func:`reads_dormant` of their z-scores).

    >>> name_segments({1: {"purchases": 0.1}, 2: {"purchases": 0.3}},
    ...               {1: {"purchases": "1 order/month"}, 2: {"purchases": "3 orders/month"}})
    {1: 'average activity, 1 order/month', 2: 'average activity, 3 orders/month'}
    """
    names: dict[int, str] = {}
    used: set[str] = set()
    order = sorted(zscores, key=lambda c: -max((abs(v) for v in zscores[c].values()), default=0))
    for cid in order:
        known = truth.get(cid) if truth is not None else None
        phrases = [phrase for _, phrase in describe(zscores[cid], groups, known)]
        if not phrases:
            phrases = ["average activity"]
        if (cid in dormant) if dormant is not None else reads_dormant(zscores[cid]):
            phrases = ["dormant", *[p for p in phrases if p not in _SAID_BY_DORMANT]]
        name = ", ".join(phrases[:2])
        for extra in range(2, len(phrases)):
            if name not in used:
                break
            name = ", ".join(phrases[: extra + 1])
        used.add(name)
        names[cid] = name
    if levels is not None:
        names = _tell_apart(names, zscores, levels)
    final: dict[int, str] = {}
    taken: set[str] = set()
    for cid in order:
        base, name, n = names[cid], names[cid], 2
        while name in taken:
            name, n = f"{base} ({n})", n + 1
        taken.add(name)
        final[cid] = name
    return dict(sorted(final.items()))


def _tell_apart(
    names: Mapping[int, str],
    zscores: Mapping[int, Mapping[str, float]],
    levels: Mapping[int, Mapping[str, str]],
) -> dict[int, str]:
    """Qualify every group of segments sharing a name with the level of the feature
    whose z-scores spread most within the group."""
    groups: dict[str, list[int]] = {}
    for cid, name in names.items():
        groups.setdefault(name, []).append(cid)
    out = dict(names)
    for name, members in groups.items():
        if len(members) < 2:
            continue
        shared = set.intersection(*(set(levels.get(cid, {})) for cid in members))
        if not shared:
            continue

        def spread(feature: str, members: list[int] = members) -> float:
            values = [zscores[cid].get(feature, 0.0) for cid in members]
            return max(values) - min(values)

        feature = max(sorted(shared), key=spread)
        for cid in members:
            out[cid] = f"{name}, {levels[cid][feature]}"
    return out


#: What a decayed count of each feature counts, for :func:`level_text`.
COUNT_UNITS: dict[str, str] = {
    "pages_awareness": "awareness pages",
    "pages_consideration": "consideration pages",
    "pages_decision": "decision pages",
    "pages_customer": "customer pages",
    "pages_other": "other pages",
    "downloads_awareness": "awareness downloads",
    "downloads_consideration": "consideration downloads",
    "downloads_decision": "decision downloads",
    "purchases": "orders",
    "clicks": "clicks",
}


#: The same in a shop's words.
ECOMMERCE_UNITS: dict[str, str] = {
    **COUNT_UNITS,
    "pages_awareness": "category pages",
    "pages_consideration": "product views",
    "pages_decision": "cart adds",
    "pages_customer": "account pages",
}

#: Vocabularies a model can name its segments in (``EngineConfig.vocabulary``): the
#: phrases of each feature group and the units of each count.
VOCABULARIES: dict[str, tuple[Groups, Mapping[str, str]]] = {
    "b2b": (GROUPS, COUNT_UNITS),
    "ecommerce": (ECOMMERCE_GROUPS, ECOMMERCE_UNITS),
}


def level_text(
    feature: str, value: float, half_life_days: float, units: Mapping[str, str] = COUNT_UNITS
) -> str | None:
    """A centroid's ``value`` of ``feature`` (readable units) as a marketer reads it:
    decayed counts as a rate per week (per month when under one a week, per year when
    under 0.1 a month, "no ..." when under 0.1 a year: never a level that reads 0.0),
    rates as shares; None for a feature without a reading.

    A decayed count with half-life ``h`` days settles at ``rate * h / ln 2``.

    >>> level_text("purchases", 1.0, 7.0), level_text("pages_decision", 5.0, 7.0)
    ('3.0 orders/month', '3.5 decision pages/week')
    >>> level_text("pages_decision", 0.01, 7.0), level_text("purchases", 0.0, 7.0)
    ('0.4 decision pages/year', 'no orders')
    >>> level_text("open_rate", 0.456, 7.0), level_text("clicks_per_session", 3.04, 7.0)
    ('opens 46%', '3.0 clicks/visit')
    """
    if feature == "open_rate":
        return f"opens {value:.0%}"
    if feature == "clicks_per_session":
        return f"{value:.1f} clicks/visit"
    unit = units.get(feature)
    if unit is None:
        return None
    per_day = max(value, 0.0) * math.log(2) / half_life_days
    for days, per in ((7, "week"), (30, "month"), (365, "year")):
        if per_day * days >= (1.0 if per == "week" else 0.095):  # at least "0.1" shown
            return f"{per_day * days:.1f} {unit}/{per}"
    return f"no {unit}"


#: Phrases a dormant segment makes redundant (no visits: brief ones, few clicks).
_SAID_BY_DORMANT = frozenset({"lapsing", "brief visits", "low web activity"})


def reads_dormant(z: Mapping[str, float]) -> bool:
    """Below the population on every activity feature, and clearly so on average
    (a segment where hardly anyone buys cannot sit far below on orders)."""
    keys = (
        "clicks",
        "pages_awareness",
        "pages_other",
        "email_opens",
        "open_rate",
        "downloads_awareness",
        "downloads_consideration",
        "purchases",
    )
    values = [z[k] for k in keys if k in z]
    return bool(values) and max(values) <= 0 and sum(values) / len(values) <= -THRESHOLD
