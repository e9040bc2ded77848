"""Every record's link to a QuickBooks object. Account, invoice and payment sync add their links here."""


def clear_all_links(*, firm_id: int) -> int:
    """Forget all of a firm's links (after it starts over with another company). Returns how many."""
    return 0
