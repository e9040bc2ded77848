"""Plain records of what QBO returned, so that nothing outside this package reads QBO's JSON."""

from dataclasses import dataclass


@dataclass(frozen=True)
class NamedRef:
    id: str
    name: str


@dataclass(frozen=True)
class CompanyProfile:
    realm_id: str
    name: str
    # Preferences.SalesFormsPrefs.CustomTxnNumbers: we send our invoice numbers only when this is on.
    custom_txn_numbers: bool
