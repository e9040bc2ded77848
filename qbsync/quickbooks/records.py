"""Plain records of what QBO returned, so that nothing outside this package reads QBO's JSON."""

from dataclasses import dataclass


@dataclass(frozen=True)
class NamedRef:
    id: str
    name: str


@dataclass(frozen=True)
class CompanyPreferences:
    """What of the company's Preferences decides how records are sent."""

    # SalesFormsPrefs.CustomTxnNumbers: we send our invoice numbers only when this is on.
    custom_txn_numbers: bool
    # CurrencyPrefs.HomeCurrency ("" when QBO does not say) and MultiCurrencyEnabled.
    home_currency: str
    multi_currency: bool
    # TaxPrefs.UsingSalesTax and PartnerTaxEnabled (Automated Sales Tax).
    using_sales_tax: bool = False
    automated_sales_tax: bool = False
    # CompanyInfo.Country ("US", "GB", "CA", "AU", ...; "" until CompanyInfo was read): fixed for a company.
    country: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "custom_txn_numbers": self.custom_txn_numbers,
            "home_currency": self.home_currency,
            "multi_currency": self.multi_currency,
            "using_sales_tax": self.using_sales_tax,
            "automated_sales_tax": self.automated_sales_tax,
            "country": self.country,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "CompanyPreferences":
        return cls(
            custom_txn_numbers=bool(data.get("custom_txn_numbers", False)),
            home_currency=str(data.get("home_currency") or ""),
            multi_currency=bool(data.get("multi_currency", False)),
            using_sales_tax=bool(data.get("using_sales_tax", False)),
            automated_sales_tax=bool(data.get("automated_sales_tax", False)),
            country=str(data.get("country") or ""),
        )


@dataclass(frozen=True)
class CompanyProfile:
    realm_id: str
    name: str
    # Preferences.SalesFormsPrefs.CustomTxnNumbers: we send our invoice numbers only when this is on.
    custom_txn_numbers: bool
    # Preferences.CurrencyPrefs.HomeCurrency: the currency every amount we send is taken to be in.
    home_currency: str = ""
    preferences: CompanyPreferences | None = None
