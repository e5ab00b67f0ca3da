"""Currency codes: the active codes of ISO 4217 (the tenant's currency, the currencies it has
exchange rates for, the ``currency`` of an action's amount)."""

from __future__ import annotations

from django.core.exceptions import ValidationError

ISO_4217 = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP
    DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD
    MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB
    PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD
    SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS
    VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER
    ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 - a table of codes reads better as text
)
"""The active alphabetic codes (``XTS``, for testing, and ``XXX``, no currency, are left out).
Crypto-currencies have no ISO 4217 code, so a tenant cannot give them a rate."""

DEFAULT_CURRENCY = "EUR"


def currency_problem(value: object) -> str | None:
    """Why ``value`` is not a currency code (None: it is one)."""
    if not isinstance(value, str) or value not in ISO_4217:
        shown = value if isinstance(value, str) else type(value).__name__
        return f"'{shown[:20]}' is not an ISO 4217 currency code (such as EUR, USD, GBP)"
    return None


def validate_currency(value: str) -> None:
    problem = currency_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_currency")
