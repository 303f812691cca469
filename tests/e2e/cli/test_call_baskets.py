"""`vouchery-gateway call` basket and return subcommands against a live gateway on the live sandbox."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from tests.support.gateway import RunningGateway
from vouchery_gateway.cli import commands as cli

CART = ("--line", "SHIRT:2:15.00", "--line", "SHOES:1:20.00")  # 50.00 of goods


async def call(gateway: RunningGateway, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await asyncio.to_thread(cli.main, ["call", "--target", gateway.target, *args], out)
    return code, out.getvalue()


async def test_validate_basket_prints_each_code_each_line_and_the_totals(gateway: RunningGateway) -> None:
    """FIVEOFF, then SAVE10 on what is left, then GIFT-50 pays the rest; nothing reserved; exit 0."""
    code, text = await call(
        gateway, "validate-basket", "--code", "SAVE10", "--code", "GIFT-50", "--code", "FIVEOFF", *CART
    )
    assert code == 0, text
    lines = text.splitlines()
    assert lines[0] == "basket (validation, nothing reserved): every code applied"
    assert [line.split()[0] for line in lines[1:4]] == ["FIVEOFF", "SAVE10", "GIFT-50"]
    assert "applied  discount 5.00 EUR" in lines[1]
    assert "applied  discount 4.50 EUR" in lines[2]
    assert "applied  tender (gift card) 40.50 EUR" in lines[3]
    assert "line 0: subtotal 30.00 EUR, discount 5.70 EUR, paid 24.30 EUR" in text
    assert "line 1: subtotal 20.00 EUR, discount 3.80 EUR, paid 16.20 EUR" in text
    assert "discount  : 9.50 EUR" in text
    assert "gift cards: 40.50 EUR" in text
    assert "amount due: 0.00 EUR" in text


async def test_redeem_confirm_and_read_a_basket(gateway: RunningGateway) -> None:
    """redeem-basket reserves (PENDING), confirm-basket --json confirms with amounts as exact strings,
    get-basket reads the sale back."""
    code, text = await call(
        gateway, "redeem-basket", "--transaction-id", "CLI-B1", "--code", "SAVE10", "--code", "FIVEOFF", *CART
    )
    assert code == 0, text
    assert text.startswith("basket CLI-B1: PENDING, every code applied (sync: SYNCED, revision 1)")
    assert "[PENDING]" in text
    code, text = await call(gateway, "--json", "confirm-basket", "--transaction-id", "CLI-B1")
    assert code == 0, text
    basket = json.loads(text)["basket"]
    assert basket["state"] == "REDEMPTION_STATE_CONFIRMED"
    assert basket["discount"] == {"amount": "950", "currency_code": "EUR"}
    assert [c["redemption"]["state"] for c in basket["codes"]] == ["REDEMPTION_STATE_CONFIRMED"] * 2
    code, text = await call(gateway, "get-basket", "--transaction-id", "CLI-B1")
    assert code == 0, text
    assert text.startswith("basket CLI-B1: CONFIRMED")
    assert text.count("[CONFIRMED]") == 2


async def test_a_refused_code_names_its_reason_and_exits_3(gateway: RunningGateway) -> None:
    """All-or-nothing: DRAFT-1 is refused with Vouchery's code, ONCE-1 is released for it; exit 3."""
    code, text = await call(
        gateway, "redeem-basket", "--transaction-id", "CLI-B2", "--code", "ONCE-1", "--code", "DRAFT-1", *CART
    )
    assert code == 3, text
    assert "a code was refused (nothing reserved)" in text
    assert "refused  CAMPAIGN_INACTIVE (Vouchery 3001)" in text
    assert "refused  ANOTHER_CODE_REFUSED" in text
    assert "amount due: 50.00 EUR" in text


async def test_a_cancelled_sale_cannot_start_again(gateway: RunningGateway) -> None:
    """cancel-basket releases the codes; the same sale id again is an error answer (exit 1) with its
    reason, as JSON too."""
    redeem = ("redeem-basket", "--transaction-id", "CLI-B3", "--code", "ONCE-1", *CART)
    assert (await call(gateway, *redeem))[0] == 0
    code, text = await call(gateway, "cancel-basket", "--transaction-id", "CLI-B3")
    assert code == 0, text
    assert text.startswith("basket CLI-B3: CANCELLED (sync: SYNCED")
    code, text = await call(gateway, *redeem)
    assert code == 1
    assert text.startswith("error: FAILED_PRECONDITION SALE_CANCELLED:")
    code, text = await call(gateway, "--json", "get-basket", "--transaction-id", "CLI-NONE")
    assert code == 1
    assert json.loads(text)["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--line", "SHIRT:2"), "expected SKU:QTY:PRICE"),
        (("--line", "SHIRT:0:15.00"), "is not a whole number from 1"),
        (("--line", "SHIRT:\u00b2:15.00"), "expected SKU:QTY:PRICE"),
        (("--line", "SHIRT:99999999999999999999:1.00"), "expected SKU:QTY:PRICE"),
        (("--line", "SHIRT:1:15.001"), "more decimal places than EUR"),
        (("--line", "SHIRT:1:-1.00"), "is negative"),
        (("--total", "1e400"), "not an amount in EUR"),
        (("--total", "50", "--currency", "EURO"), "not an amount in EURO"),
        ((), "give --total or at least one --line"),
    ],
)
def test_bad_input_is_a_usage_error_before_any_call(
    args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cart that cannot become a request exits 2 and says why; nothing is sent (no gateway listens)."""
    argv = ["call", "--target", "127.0.0.1:1", "redeem-basket", "--transaction-id", "T", "--code", "A", *args]
    assert cli.main(argv, io.StringIO()) == 2
    assert message in capsys.readouterr().err


def test_a_basket_without_a_code_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """validate-basket needs at least one --code: argparse exits 2 naming it."""
    with pytest.raises(SystemExit) as exited:
        cli.main(["call", "--target", "127.0.0.1:1", "validate-basket", "--total", "5"], io.StringIO())
    assert exited.value.code == 2
    assert "--code" in capsys.readouterr().err


async def test_returns_print_the_refund_per_line_and_each_code(gateway: RunningGateway) -> None:
    """FIVEOFF (5.00 off 20.00 or more) on a confirmed sale: the shoes back keep the code; a shirt back
    leaves 15.00, below the minimum, so 1.50 is deducted; the last shirt as JSON; get-basket lists all."""
    sell = ("redeem-basket", "--transaction-id", "CLI-R1", "--code", "FIVEOFF", "--confirm", *CART)
    code, text = await call(gateway, *sell)
    assert code == 0, text
    assert text.startswith("basket CLI-R1: CONFIRMED")
    back = ("return-items", "--transaction-id", "CLI-R1")
    code, text = await call(gateway, *back, "--return-id", "RET-1", "--return-line", "1:1")
    assert code == 0, text
    assert text.splitlines() == [
        "return RET-1 of CLI-R1 (sync: SYNCED)",
        "  line 1: 1 unit, refund 18.00 EUR",
        "  FIVEOFF  KEPT",
        "  refund    : 18.00 EUR",
        "  sale fully returned: no",
    ]
    code, text = await call(gateway, *back, "--return-id", "RET-2", "--return-line", "0:1")
    assert code == 0, text
    assert "  FIVEOFF  DEDUCTED, 1.50 EUR taken from the refund" in text
    assert "  deduction : 1.50 EUR" in text
    assert "  refund    : 12.00 EUR" in text
    code, text = await call(gateway, "--json", *back, "--return-id", "RET-3", "--return-line", "0:1")
    assert code == 0, text
    last = json.loads(text)["sale_return"]
    assert last["refund"] == {"amount": "1500", "currency_code": "EUR"}
    assert last["sale_fully_returned"] is True
    code, text = await call(gateway, "get-basket", "--transaction-id", "CLI-R1")
    assert code == 0, text
    assert "  return RET-1: refund 18.00 EUR (sync: SYNCED)" in text
    assert "  return RET-3: refund 15.00 EUR (sync: SYNCED)" in text


async def test_a_return_of_more_than_was_sold_is_an_error_answer(gateway: RunningGateway) -> None:
    """The gateway refuses a line returned beyond what was sold, naming the field; exit 1."""
    sell = ("redeem-basket", "--transaction-id", "CLI-R2", "--code", "SAVE10", "--confirm", *CART)
    assert (await call(gateway, *sell))[0] == 0
    code, text = await call(
        gateway, "return-items", "--transaction-id", "CLI-R2", "--return-id", "RET-1", "--return-line", "1:2"
    )
    assert code == 1
    assert text.startswith("error: INVALID_ARGUMENT")
    assert "lines[0].quantity:" in text


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0", "expected INDEX:QTY"),
        ("first:1", "index: 'first' is not a whole number"),
        ("-1:1", "is not a whole number from 0 to 2147483647"),
        ("2147483648:1", "is not a whole number from 0 to 2147483647"),
        ("0:0", "quantity: '0' is not a whole number from 1"),
        ("0:1.5", "quantity: '1.5' is not a whole number from 1"),
    ],
)
def test_a_bad_return_line_is_a_usage_error(
    spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--return-line must be INDEX:QTY with a line index and at least one unit: exit 2, nothing sent."""
    argv = ["call", "--target", "127.0.0.1:1", "return-items", "--transaction-id", "T", "--return-id", "R",
            f"--return-line={spec}"]  # fmt: skip
    assert cli.main(argv, io.StringIO()) == 2
    assert message in capsys.readouterr().err
