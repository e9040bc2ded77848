"""Deterministic QBO requestids: the same operation always sends the same id, so a retry after a lost
reply is recognised by QBO (where it honours requestid) instead of applied twice."""

import hashlib

REQUEST_ID_MAX_LENGTH = 50  # Intuit: at most 50 characters (36 inside a batch)
BATCH_ID_MAX_LENGTH = 36


def request_id_for(*parts: object, max_length: int = REQUEST_ID_MAX_LENGTH) -> str:
    """An id derived from what the operation is, e.g. ("customer-create", firm_id, account_id, attempt_epoch).

    Readable when short; hashed when long, so it always fits QBO's limit and stays stable.
    """
    if not parts:
        raise ValueError("A requestid needs at least one part")
    readable = "-".join(str(p) for p in parts)
    if len(readable) <= max_length and all(ch.isalnum() or ch in "-_." for ch in readable):
        return readable
    digest = hashlib.sha256(readable.encode()).hexdigest()
    prefix = "".join(ch for ch in str(parts[0]) if ch.isalnum() or ch == "-")[:12]
    return f"{prefix}-{digest}"[:max_length]
