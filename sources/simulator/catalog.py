"""What the simulated world holds: the site's pages, the downloadable assets, the
referrers, and the customer attributes, with their weights.

Weighted choices are drawn from cumulative tables (:func:`pick`), built once here: the
page table of each persona, and one table per customer attribute.

>>> import random
>>> pick(random.Random(1), COUNTRY_TABLE) in PEAK_HOUR
True
>>> sorted(ASSETS) == sorted(STAGES)
True
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Mapping
from itertools import accumulate
from typing import Any

from .personas import PERSONA_TABLE, Persona

#: The site, for the referrer of a click after the first of a session.
SITE = "https://www.segflow.example"
#: The query string of a campaign link, before the campaign id.
UTM = "utm_source=newsletter&utm_medium=email&utm_campaign="
#: The currency of every order.
CURRENCY = "USD"

#: The URLs of each page family a persona visits (:attr:`Persona.pages`).
PAGES: Mapping[str, tuple[str, ...]] = {
    "home": ("/",),
    "blog": (
        "/blog",
        "/blog/segmentation-101",
        "/blog/churn-signals",
        "/blog/lead-scoring-guide",
        "/blog/attribution-models",
    ),
    "docs": (
        "/docs",
        "/docs/getting-started",
        "/docs/api",
        "/docs/integrations/salesforce",
        "/docs/integrations/hubspot",
    ),
    "product": ("/product", "/product/features", "/product/integrations", "/product/security"),
    "resources": ("/resources", "/resources/webinars", "/resources/whitepapers"),
    "pricing": ("/pricing", "/pricing/enterprise", "/pricing/faq"),
    "demo": ("/demo", "/contact-sales", "/trial"),
    "case_studies": ("/customers", "/customers/acme", "/customers/globex"),
    "account": ("/account", "/account/billing", "/account/orders", "/account/team"),
    "support": ("/support", "/support/tickets", "/status"),
}

#: (asset_id, asset_type) per funnel stage.
ASSETS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "awareness": (
        ("ebook-segmentation-basics", "ebook"),
        ("guide-customer-journeys", "guide"),
        ("infographic-email-benchmarks", "infographic"),
        ("whitepaper-behavioral-data", "whitepaper"),
    ),
    "consideration": (
        ("webinar-live-segments", "webinar"),
        ("case-study-acme", "case_study"),
        ("comparison-cdp-vendors", "comparison"),
        ("checklist-evaluation", "checklist"),
    ),
    "decision": (
        ("price-sheet-2026", "price_sheet"),
        ("roi-calculator", "calculator"),
        ("security-review-pack", "security"),
        ("trial-onboarding-guide", "guide"),
    ),
}

_REFERRERS: tuple[tuple[str | None, float], ...] = (
    ("https://www.google.com/", 0.40),
    (None, 0.25),
    ("https://www.linkedin.com/", 0.15),
    ("https://www.bing.com/", 0.08),
    ("https://news.ycombinator.com/", 0.05),
    ("https://www.g2.com/", 0.07),
)

# Customer properties: value -> weight. Countries also carry the local busy hour (UTC).
_LEAD_SOURCES: tuple[tuple[str, float], ...] = (
    ("organic_search", 0.30),
    ("paid_search", 0.15),
    ("social", 0.12),
    ("referral", 0.12),
    ("webinar", 0.08),
    ("event", 0.08),
    ("partner", 0.07),
    ("direct", 0.08),
)
_COUNTRIES: tuple[tuple[str, float, float], ...] = (
    ("US", 0.35, 18.0),
    ("GB", 0.10, 13.0),
    ("DE", 0.10, 12.0),
    ("FR", 0.07, 12.0),
    ("CA", 0.06, 18.0),
    ("NL", 0.05, 12.0),
    ("AU", 0.05, 1.0),
    ("IN", 0.08, 8.0),
    ("BR", 0.07, 16.0),
    ("JP", 0.07, 3.0),
)
_COMPANY_SIZES: tuple[tuple[str, float], ...] = (
    ("1-10", 0.20),
    ("11-50", 0.25),
    ("51-200", 0.25),
    ("201-1000", 0.18),
    ("1001+", 0.12),
)
_INDUSTRIES: tuple[tuple[str, float], ...] = (
    ("software", 0.30),
    ("retail", 0.15),
    ("finance", 0.15),
    ("healthcare", 0.10),
    ("manufacturing", 0.12),
    ("education", 0.08),
    ("media", 0.10),
)

#: The funnel stages of downloads, in funnel order (the keys of :data:`ASSETS`).
STAGES = ("awareness", "consideration", "decision")

#: A weighted choice: the values and their cumulative weights.
Table = tuple[list[Any], list[float]]


def _cum(pairs: tuple[tuple[Any, float], ...]) -> Table:
    return [p[0] for p in pairs], list(accumulate(p[1] for p in pairs))


def _page_table(persona: Persona) -> tuple[list[str], list[float]]:
    urls: list[str] = []
    weights: list[float] = []
    for family, weight in persona.pages:
        pages = PAGES[family]
        urls.extend(pages)
        weights.extend([weight / len(pages)] * len(pages))
    return urls, list(accumulate(weights))


#: Each persona's pages, each page of a family weighing an equal share of the family.
PAGE_TABLES = {p.name: _page_table(p) for p in PERSONA_TABLE}
REFERRER_TABLE = _cum(_REFERRERS)
LEAD_TABLE = _cum(_LEAD_SOURCES)
COUNTRY_TABLE = _cum(tuple((c[0], c[1]) for c in _COUNTRIES))
#: The busy hour (UTC) of each country.
PEAK_HOUR = {c[0]: c[2] for c in _COUNTRIES}
SIZE_TABLE = _cum(_COMPANY_SIZES)
INDUSTRY_TABLE = _cum(_INDUSTRIES)


def pick(rng: random.Random, table: Table) -> Any:
    """One value of ``table``, drawn by its weights with one ``rng.random()``."""
    values, cum = table
    return values[bisect_right(cum, rng.random() * cum[-1], 0, len(cum) - 1)]
