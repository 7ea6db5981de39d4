"""Whether a segment's name is true of its members.

A behavioral segment's name (see :mod:`.naming`) is a few phrases joined by ``", "``,
such as ``"email-responsive, low web activity"``, maybe followed by a level of the
centroid (``"0.9 orders/month"``, ``"opens 46%"``) and a ``" (2)"`` that keeps names
distinct. Each phrase says something of the segment against the population; here it
becomes a claim about *each member*, checked on the member's readable features
(:func:`~.features.profile_features`) against the population's medians (over every
customer given, members of any segment):

- a "high" phrase (``"frequent buyer"``, ``"blog reader"``, ``"decision-stage
  downloader"``, ``"heavy browser"``, ``"email clicker"``, ...): the member's feature is
  above the population median *and* above zero (the median of a rare behavior is zero);
- ``"email-responsive"``: the open rate is above the median *and* the member opened at
  least one email (a customer who never opened, e.g. a bounced address, keeps the prior
  open rate and is not responsive); ``"email-unresponsive"`` is its negation;
- a "low" phrase (``"low web activity"``, ``"brief visits"``, ``"rarely active"``,
  ``"recently active"``): the feature is at or below the median;
- ``"lapsing"``: more days since the last activity than the median member;
- ``"dormant"``: the member has lapsed from the site (``presence`` below the engine's
  ``lapse_gate``, 0.5; 0 for a customer never seen there) and is not email-responsive;
- ``"average activity"`` claims nothing and always holds.

Levels describe the centroid, not each member: they are recognized and not checked.
A phrase :mod:`.naming` cannot produce is *unverifiable*: reported, not checked.

>>> population = {
...     "a": {"open_rate": 0.6, "email_opens": 3.0, "clicks": 1.0},
...     "b": {"open_rate": 0.2, "email_opens": 0.0, "clicks": 9.0},  # never opened
...     "c": {"open_rate": 0.1, "email_opens": 1.0, "clicks": 7.0},
... }
>>> members = {"a": "email-responsive, low web activity", "b": "email-responsive"}
>>> consistency(members, population)
{'email-responsive': 0.0, 'email-responsive, low web activity': 1.0}
>>> parse_name("frequent buyer, researcher, consideration content, 0.9 orders/month (2)")
ParsedName(claims=('frequent buyer', 'researcher, consideration content'), \
levels=('0.9 orders/month',), unknown=())
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from statistics import median
from typing import NamedTuple

from .naming import VOCABULARIES

Features = Mapping[str, float]

#: Below this ``presence`` a customer has lapsed from the site (``EngineConfig.lapse_gate``).
LAPSE_GATE = 0.5


@dataclass(frozen=True)
class Population:
    """The medians the claims compare a member against."""

    medians: Mapping[str, float]

    @classmethod
    def of(cls, features: Iterable[Features]) -> Population:
        """The medians of every feature over ``features`` (one mapping per customer; a
        feature missing from a customer's mapping counts as 0 there, as in the claims)."""
        rows = list(features)
        names = {name for row in rows for name in row}
        return cls(
            {name: float(median(float(row.get(name, 0.0)) for row in rows)) for name in names}
        )

    def median(self, feature: str) -> float:
        """The population's median of ``feature`` (0 when no one has it)."""
        return self.medians.get(feature, 0.0)


Check = Callable[[Features, Population], bool]


@dataclass(frozen=True)
class Claim:
    """What a phrase says of a member, in words and as a check."""

    says: str
    check: Check = field(repr=False)


def _high(feature: str) -> Claim:
    def check(x: Features, pop: Population) -> bool:
        value = x.get(feature, 0.0)
        return value > pop.median(feature) and value > 0.0

    return Claim(f"{feature} above the population median and above 0", check)


def _low(feature: str) -> Claim:
    def check(x: Features, pop: Population) -> bool:
        return x.get(feature, 0.0) <= pop.median(feature)

    return Claim(f"{feature} at or below the population median", check)


def _responsive(x: Features, pop: Population) -> bool:
    return x.get("email_opens", 0.0) > 0.0 and x.get("open_rate", 0.0) > pop.median("open_rate")


def _dormant(x: Features, pop: Population) -> bool:
    return x.get("presence", 0.0) < LAPSE_GATE and not _responsive(x, pop)


def _lapsing(x: Features, pop: Population) -> bool:
    return x.get("days_since_active", 0.0) > pop.median("days_since_active")


#: The claim of every phrase :mod:`.naming` can produce.
CLAIMS: dict[str, Claim] = {
    "decision-stage downloader": _high("downloads_decision"),
    "researcher, consideration content": _high("downloads_consideration"),
    "early-stage content reader": _high("downloads_awareness"),
    "frequent buyer": _high("purchases"),
    "high spender": _high("spend"),
    "email-responsive": Claim(
        "open_rate above the population median and at least one email opened", _responsive
    ),
    "email-unresponsive": Claim(
        "no email opened, or open_rate at or below the population median",
        lambda x, pop: not _responsive(x, pop),
    ),
    "email clicker": _high("click_rate"),
    "pricing and demo pages": _high("pages_decision"),
    "account and support pages": _high("pages_customer"),
    "product pages": _high("pages_consideration"),
    "blog reader": _high("pages_awareness"),
    "home-page visitor": _high("pages_other"),
    "long visits": _high("clicks_per_session"),
    "brief visits": _low("clicks_per_session"),
    "heavy browser": _high("clicks"),
    "low web activity": _low("clicks"),
    "lapsing": Claim("days_since_active above the population median", _lapsing),
    "recently active": _low("days_since_active"),
    "active most days": _high("active_days"),
    "rarely active": _low("active_days"),
    "dormant": Claim(
        f"presence below {LAPSE_GATE} (lapsed from the site) and not email-responsive", _dormant
    ),
    "average activity": Claim("nothing (always holds)", lambda x, pop: True),
}

# The phrases of the other vocabularies say the same of their features in other words.
for _groups, _units in VOCABULARIES.values():
    for _options in _groups.values():
        for _feature, _high_phrase, _low_phrase in _options:
            CLAIMS.setdefault(_high_phrase, _high(_feature))
            if _low_phrase is not None:
                CLAIMS.setdefault(_low_phrase, _low(_feature))

#: Every phrase of every vocabulary of :mod:`.naming`, for the check that each has a claim.
NAMING_PHRASES: frozenset[str] = frozenset(
    phrase
    for groups, _ in VOCABULARIES.values()
    for options in groups.values()
    for _, high, low in options
    for phrase in (high, low)
    if phrase is not None
) | {"dormant", "average activity"}

_LEVEL = re.compile(
    r"^(opens \d+%|\d+(\.\d+)? clicks/visit|\d+(\.\d+)? [a-z ]+/(week|month|year)|no [a-z ]+)$"
)
_SUFFIX = re.compile(r" \(\d+\)$")
_LONGEST = max(phrase.count(", ") for phrase in CLAIMS) + 1


class ParsedName(NamedTuple):
    """A name split into checked phrases, centroid levels and unknown phrases."""

    claims: tuple[str, ...]
    levels: tuple[str, ...]
    unknown: tuple[str, ...]


def parse_name(name: str) -> ParsedName:
    """Split a segment name into its phrases (a phrase may itself contain ``", "``)."""
    parts = _SUFFIX.sub("", name).split(", ")
    claims: list[str] = []
    levels: list[str] = []
    unknown: list[str] = []
    i = 0
    while i < len(parts):
        for width in range(min(_LONGEST, len(parts) - i), 0, -1):
            phrase = ", ".join(parts[i : i + width])
            if phrase in CLAIMS:
                claims.append(phrase)
                i += width
                break
        else:
            (levels if _LEVEL.match(parts[i]) else unknown).append(parts[i])
            i += 1
    return ParsedName(tuple(claims), tuple(levels), tuple(unknown))


def check_member(name: str, member: Features, population: Population) -> dict[str, bool]:
    """Whether ``member`` satisfies each checked phrase of ``name``."""
    return {p: CLAIMS[p].check(member, population) for p in parse_name(name).claims}


@dataclass(frozen=True)
class SegmentConsistency:
    """How well a segment's name fits its members."""

    name: str
    size: int
    share: float  # members satisfying every checked claim
    by_claim: dict[str, float]  # members satisfying each claim
    levels: tuple[str, ...]
    unknown: tuple[str, ...]


def consistency_report(
    members: Mapping[str, str],
    features: Mapping[str, Features],
    population: Population | None = None,
) -> dict[str, SegmentConsistency]:
    """Per segment name: its size, the share of consistent members and each claim's share.

    ``members`` maps a customer to the name of its segment, ``features`` a customer to
    its readable features; the population (medians) is every customer of ``features``
    unless given.
    """
    pop = population or Population.of(features.values())
    groups: dict[str, list[str]] = {}
    for customer, name in members.items():
        groups.setdefault(name, []).append(customer)
    out = {}
    for name in sorted(groups):
        parsed = parse_name(name)
        rows = [check_member(name, features[c], pop) for c in groups[name]]
        n = len(rows)
        out[name] = SegmentConsistency(
            name=name,
            size=n,
            share=sum(all(row.values()) for row in rows) / n,
            by_claim={p: sum(row[p] for row in rows) / n for p in parsed.claims},
            levels=parsed.levels,
            unknown=parsed.unknown,
        )
    return out


def consistency(
    members: Mapping[str, str],
    features: Mapping[str, Features],
    population: Population | None = None,
) -> dict[str, float]:
    """Per segment name, the share of its members of whom every checked claim holds.

    Parameters
    ----------
    members : Mapping[str, str]
        Customer id -> the name of its segment (only customers with a segment).
    features : Mapping[str, Mapping[str, float]]
        Customer id -> readable features; every member must be there. The
        population the claims compare against is all of these customers.
    population : Population, optional
        Medians to compare against instead.

    Returns
    -------
    dict[str, float]
        Segment name -> share in [0, 1] (1 for a name with nothing to check).

    Examples
    --------
    >>> features = {"x": {"purchases": 2.0}, "y": {"purchases": 0.0}, "z": {"purchases": 0.0}}
    >>> consistency({"x": "frequent buyer", "y": "frequent buyer"}, features)
    {'frequent buyer': 0.5}
    """
    report = consistency_report(members, features, population)
    return {name: segment.share for name, segment in report.items()}


__all__ = [
    "CLAIMS",
    "LAPSE_GATE",
    "NAMING_PHRASES",
    "Claim",
    "ParsedName",
    "Population",
    "SegmentConsistency",
    "check_member",
    "consistency",
    "consistency_report",
    "parse_name",
]
