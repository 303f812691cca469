"""`vouchery-gateway call` loyalty and customer subcommands against a running gateway."""

from __future__ import annotations

import asyncio
import io
import json

from tests.support.till import Till
from vouchery_gateway import cli


async def call(till: Till, *args: str) -> tuple[int, str]:
    """Run `vouchery-gateway call --target <gateway> ARGS` (a blocking client: off the event loop)."""
    out = io.StringIO()
    argv = ["call", "--target", till.gateway.target, *args]
    code = await asyncio.to_thread(cli.main, argv, out)
    return code, out.getvalue()


async def test_grant_then_account_readably(till: Till) -> None:
    """`call grant` prints the change; `call account` prints the new balance."""
    code, text = await call(till, "grant", "--customer", "carol", "--points", "7", "--request-id", "cli-1")
    assert (code, text.strip()) == (0, "customer carol: +7 points, balance 7")
    code, text = await call(till, "account", "--customer", "carol")
    assert (code, text.strip()) == (0, "customer carol: 7 points")


async def test_record_transaction_as_json(till: Till) -> None:
    """`call --json record-transaction` prints the answer as JSON with the points earned."""
    code, text = await call(
        till,
        "--json",
        "record-transaction",
        "--transaction-id",
        "CLI-T-1",
        "--customer",
        "alice",
        "--total",
        "12.00",
    )
    assert code == 0
    assert json.loads(text)["points_earned"] == "12"


async def test_unknown_customer_exits_with_the_error(till: Till) -> None:
    """An error answer prints its code and reason and exits 1."""
    code, text = await call(till, "customer", "--customer", "nobody")
    assert code == 1
    assert text.startswith("error: NOT_FOUND CUSTOMER_NOT_FOUND")
