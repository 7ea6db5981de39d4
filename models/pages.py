"""Which stage of the buying journey a visited page belongs to, from its URL path.

A click counts toward the stage of its page's first path segment (``/pricing/faq``
counts as ``pricing``); anything not mapped, the home page included, is ``other``.
The default map fits a typical B2B marketing site; set ``EngineConfig.page_stages``
for another site.

>>> page_stage("https://www.example.com/pricing/faq?utm_source=x", DEFAULT_PAGE_STAGES)
'decision'
>>> page_stage("/blog/churn-signals", DEFAULT_PAGE_STAGES)
'awareness'
>>> page_stage("/", DEFAULT_PAGE_STAGES)
'other'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

PageStage = Literal["awareness", "consideration", "decision", "customer"]

#: First path segment -> stage.
DEFAULT_PAGE_STAGES: Mapping[str, PageStage] = {
    "blog": "awareness",
    "resources": "awareness",
    "webinars": "awareness",
    "product": "consideration",
    "docs": "consideration",
    "customers": "consideration",
    "case-studies": "consideration",
    "integrations": "consideration",
    "pricing": "decision",
    "demo": "decision",
    "contact-sales": "decision",
    "trial": "decision",
    "account": "customer",
    "support": "customer",
    "status": "customer",
    "billing": "customer",
}


#: First path segment -> stage, for a shop: category and search pages are browsing,
#: product pages and wish lists consideration, the cart and checkout the decision.
ECOMMERCE_PAGE_STAGES: Mapping[str, PageStage] = {
    "category": "awareness",
    "categories": "awareness",
    "collections": "awareness",
    "search": "awareness",
    "deals": "awareness",
    "item": "consideration",
    "product": "consideration",
    "products": "consideration",
    "p": "consideration",
    "favorites": "consideration",
    "wishlist": "consideration",
    "cart": "decision",
    "basket": "decision",
    "checkout": "decision",
    "account": "customer",
    "orders": "customer",
    "returns": "customer",
    "help": "customer",
}


def page_stage(url: str, stages: Mapping[str, str]) -> str:
    """The stage of the page at ``url`` (absolute or a path), or ``other``."""
    scheme = url.find("://")
    if scheme >= 0:
        slash = url.find("/", scheme + 3)
        url = url[slash:] if slash >= 0 else "/"
    end = len(url)
    for stop in "?#":
        cut = url.find(stop)
        if 0 <= cut < end:
            end = cut
    first = url[:end].strip("/").split("/", 1)[0].lower()
    return stages.get(first, "other")
