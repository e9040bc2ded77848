"""Company preferences as the engine reads them: through a short per-process cache per company (realm),
since QBO meters reads and preferences rarely change."""

from __future__ import annotations

import time

# The numbering preference is read at most this often per company (a change shows up at once as a 6140
# or a QBO-assigned number, both handled).
NUMBERING_PREFERENCE_TTL = 300.0
_numbering_preference: dict[str, tuple[float, bool]] = {}


def custom_numbers_of(client) -> bool:
    """Whether the company numbers its own invoices (we then send ours), read through the cache."""
    now = time.monotonic()
    cached = _numbering_preference.get(client.realm_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    value = client.custom_txn_numbers()
    _numbering_preference[client.realm_id] = (now + NUMBERING_PREFERENCE_TTL, value)
    return value
