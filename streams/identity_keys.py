"""The keys of the ``identities`` table (one changelog, several kinds of entry).

Erased ids are kept under :func:`segflow.models.erasure.erased_key` (``x:<sha256>``).
"""

from __future__ import annotations

#: Key of an anonymous id's link in the ``identities`` table (the visitor's partition).
LINK = b"a:"
#: Key of an anonymous id's claim on its way (the visitor's partition).
PENDING = b"p:"
#: Key of the anonymous ids granted to a customer (the customer's partition; JSON list).
GRANTED = b"g:"
