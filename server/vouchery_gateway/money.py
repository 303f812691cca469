"""Money at the gateway's edges: integer minor units plus an ISO 4217 code, converted exactly.

POS terminals send integer minor units (cents); Vouchery speaks decimal numbers with two places. Every
conversion goes through `Decimal` with the currency's own exponent, so no amount ever passes through a float,
and a value Vouchery sends with more precision than the currency has is rounded half-up exactly once, here.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 active codes with their minor-unit exponent. Codes not listed are refused at the edge, so a typo
# like "EURO" can never reach Vouchery. Exponents other than 2 are the reason this table exists.
_EXPONENT_0 = frozenset(
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(),
)
_EXPONENT_3 = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
_EXPONENT_4 = frozenset(["CLF", "UYW"])
_EXPONENT_2 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD
    GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA
    MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR
    RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD
    TZS UAH USD USN UZS VED VES WST XCD XCG YER ZAR ZMW ZWG""".split(),
)

MAX_MINOR_UNITS = 10**13  # 100 billion in a 2-decimal currency: far above any till, far below int64.


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def currency_exponent(currency: str) -> int:
    """Number of minor-unit digits of an ISO 4217 code; raises MoneyError for an unknown code."""
    if currency in _EXPONENT_2:
        return 2
    if currency in _EXPONENT_0:
        return 0
    if currency in _EXPONENT_3:
        return 3
    if currency in _EXPONENT_4:
        return 4
    raise MoneyError(f"unknown ISO 4217 currency code {currency[:8]!r}")


def is_known_currency(currency: str) -> bool:
    try:
        currency_exponent(currency)
    except MoneyError:
        return False
    return True


def to_decimal(amount_minor: int, currency: str) -> Decimal:
    """Minor units to a decimal amount with exactly the currency's places (1999 EUR -> Decimal('19.99'))."""
    exponent = currency_exponent(currency)
    return Decimal(amount_minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def to_minor(amount: Decimal | int | str, currency: str) -> int:
    """A decimal amount (as Vouchery sends it) to minor units, rounding half-up to the currency's places."""
    exponent = currency_exponent(currency)
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(amount)
        if not value.is_finite():
            raise MoneyError(f"amount {amount!r} is not a finite number")
        minor = value.scaleb(exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise MoneyError(f"amount {str(amount)[:32]!r} is not a number") from exc
    if abs(minor) > MAX_MINOR_UNITS:
        raise MoneyError("amount out of range")
    return int(minor)
