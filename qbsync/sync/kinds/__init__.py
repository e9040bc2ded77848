"""Record kinds, above the engine's spine: accounts (matched to customers), and the records pushed to QBO
through one pipeline (`transactions.py`), each described once (`invoices.py`, `payments.py`).

Importing the package registers every pushed kind with the pipeline, so that whichever module a process
imports first, an invoice that syncs releases the payments waiting for it."""

from . import invoices, payments  # noqa: F401
