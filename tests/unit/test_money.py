"""Money conversions between POS minor units and Vouchery decimals."""

from decimal import Decimal

import pytest

from vouchery_gateway.money import MoneyError, currency_exponent, is_known_currency, to_decimal, to_minor


@pytest.mark.parametrize(
    ("minor", "currency", "expected"),
    [
        (1999, "EUR", "19.99"),
        (0, "USD", "0.00"),
        (500, "JPY", "500"),
        (12345, "KWD", "12.345"),
        (-5, "GBP", "-0.05"),
    ],
)
def test_to_decimal_uses_the_currency_exponent(minor: int, currency: str, expected: str) -> None:
    """Minor units become a Decimal with exactly the currency's number of places."""
    assert str(to_decimal(minor, currency)) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("7.50", "EUR", 750),
        ("7.505", "EUR", 751),
        ("7.504", "EUR", 750),
        (Decimal("100"), "JPY", 100),
        ("1.0005", "BHD", 1001),
    ],
)
def test_to_minor_rounds_half_up_once(amount: str, currency: str, expected: int) -> None:
    """Vouchery decimals become minor units, rounding half-up to the currency's places."""
    assert to_minor(amount, currency) == expected


@pytest.mark.parametrize("amount", ["abc", "NaN", "Infinity", "1e30"])
def test_to_minor_refuses_non_numbers_and_huge_values(amount: str) -> None:
    """Anything that is not a finite, bounded number raises MoneyError rather than a silent wrong value."""
    with pytest.raises(MoneyError):
        to_minor(amount, "EUR")


@pytest.mark.parametrize("code", ["EURO", "eur", "", "XXX", "€"])
def test_unknown_currency_codes_are_refused(code: str) -> None:
    """Only active ISO 4217 codes pass; lower case and typos do not."""
    assert not is_known_currency(code)
    with pytest.raises(MoneyError):
        currency_exponent(code)
