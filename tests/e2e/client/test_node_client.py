"""The Node.js client (client_stubs/node, `@vouchery/gateway-client`) against live gateways on port 0:
its own test suite (`npm test`: unit tests, then every RPC against the gateways started here), the
examples built on it (checkout.js, basket.js), and the same methods as the Python client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.support.gateway import GatewayStarter, LiveGatewayStarter, SettingsFactory
from tests.support.keys import key_entry, new_key, write_keys
from tests.support.paths import REPO
from vouchery_gateway_client import AsyncGatewayClient

NODE_DIR = REPO / "client_stubs" / "node"
NODE = shutil.which("node")
NPM = shutil.which("npm")
INSTALL = "run `npm ci --prefix client_stubs/node` (installs the npm packages and builds the client)"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (NODE_DIR / "dist" / "index.js").is_file(), reason=f"the Node client is not built: {INSTALL}"
    ),
]


async def run(*args: str, cwd: Path = NODE_DIR, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def run_example(*args: str, script: str = "checkout.js") -> tuple[int, dict[str, object]]:
    assert NODE is not None
    code, stdout, stderr = await run(NODE, str(NODE_DIR / script), *args)
    assert stdout, stderr
    return code, json.loads(stdout.strip().splitlines()[-1])


# ---- the package's own suite --------------------------------------------------------------------------


@pytest.mark.skipif(NPM is None, reason="npm is not installed")
@pytest.mark.skipif(
    not (NODE_DIR / "node_modules" / "typescript").is_dir(), reason=f"npm dev packages missing: {INSTALL}"
)
async def test_node_client_suite_against_live_gateways(
    live_gateway: LiveGatewayStarter, tmp_path: Path
) -> None:
    """`npm test`: the unit tests (money, error decoding, retries against an in-test server) and every
    RPC against a live gateway, plus RetryInfo honoured against a rate-limited one. None may skip."""
    till, reader = new_key(), new_key()
    keys = write_keys(
        tmp_path / "keys.toml",
        key_entry(till, "node-till", "till"),
        key_entry(reader, "node-reader", "reader"),
    )
    running = await live_gateway(keys_file=str(keys))
    limited = await live_gateway(keys_file=str(keys), rate_limit=1.0, rate_burst=1.0)
    assert NPM is not None
    code, stdout, stderr = await run(
        NPM,
        "test",
        env={
            "VOUCHERY_TEST_GATEWAY_TARGET": running.target,
            "VOUCHERY_TEST_GATEWAY_KEY": till,
            "VOUCHERY_TEST_GATEWAY_READER_KEY": reader,
            "VOUCHERY_TEST_LIMITED_GATEWAY_TARGET": limited.target,
        },
    )
    report = f"{stdout[-6000:]}\n{stderr[-3000:]}"
    assert code == 0, report
    assert re.search(r"\bfail 0\b", stdout), report
    assert re.search(r"\bskipped 0\b", stdout), report


async def test_node_client_has_the_python_clients_methods() -> None:
    """Every RPC has the same typed method in both clients (redeemVoucher in Node, redeem_voucher)."""
    assert NODE is not None
    script = "process.stdout.write(JSON.stringify(Object.keys(require('./dist').METHODS)))"
    code, stdout, stderr = await run(NODE, "-e", script)
    assert code == 0, stderr
    node = {re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name) for name in json.loads(stdout)}
    python = {name for name in dir(AsyncGatewayClient) if not name.startswith("_")} - {"call", "close"}
    assert node == python


# ---- the examples -------------------------------------------------------------------------------------


async def test_node_checkout_validates_redeems_and_confirms(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """With its key, the example ends with a CONFIRMED, SYNCED redemption and the 10% discount of
    --total 40.00 (forty euros, as in the Python CLI)."""
    key = new_key()
    keys = write_keys(tmp_path / "keys.toml", key_entry(key, "node-till", "till"))
    running = await start_gateway(gateway_settings(sandbox=True, keys_file=str(keys)))
    code, result = await run_example(
        "--target", running.target, "--api-key", key, "--code", "SAVE10", "--total", "40.00"
    )
    assert code == 0, result
    assert result["state"] == "REDEMPTION_STATE_CONFIRMED"
    assert result["redeemed_state"] == "REDEMPTION_STATE_PENDING"
    assert result["discount"] == {"amount": "400", "currency_code": "EUR"}
    assert result["replay"] is False


async def test_node_example_reports_a_rejection_and_an_auth_error(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """An expired voucher exits 3 with its reason; no key exits 1 with UNAUTHENTICATED."""
    key = new_key()
    keys = write_keys(tmp_path / "keys.toml", key_entry(key, "node-till", "till"))
    running = await start_gateway(gateway_settings(sandbox=True, keys_file=str(keys)))
    code, result = await run_example("--target", running.target, "--api-key", key, "--code", "EXPIRED-1")
    assert code == 3
    assert result["rejection"]["reason"] == "REJECTION_REASON_VOUCHER_EXPIRED"  # type: ignore[index]
    code, result = await run_example("--target", running.target, "--code", "SAVE10")
    assert code == 1
    assert result["error"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]
    assert result["error"]["reason"] == "UNAUTHENTICATED"  # type: ignore[index]


@pytest.mark.parametrize(
    ("total", "why"),
    [
        ("4000", "is ambiguous"),  # minor units in earlier versions of the example: refused, not guessed
        ("40.001", "more decimal places than EUR has"),
        ("-5.00", "is not an amount"),
    ],
)
async def test_node_checkout_refuses_an_ambiguous_or_inexact_total(total: str, why: str) -> None:
    """--total is decimal in the currency's unit; a bare whole number (once read as minor units) and
    more places than the currency has exit 2 before anything is sent."""
    assert NODE is not None
    code, stdout, stderr = await run(
        NODE, str(NODE_DIR / "checkout.js"), "--target", "127.0.0.1:1", "--total", total
    )
    assert (code, stdout) == (2, "")
    assert why in stderr


async def test_node_examples_write_nothing_into_the_package(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory
) -> None:
    """Run from client_stubs/node, the example leaves no file behind (no data/, no keys)."""
    running = await start_gateway(gateway_settings(sandbox=True))
    ignored = {"node_modules", "dist", "dist-test", "generated"}

    def files() -> set[Path]:
        return {p for p in NODE_DIR.rglob("*") if not ignored & set(p.relative_to(NODE_DIR).parts)}

    before = files()
    code, result = await run_example("--target", running.target, "--total", "25.00")
    assert code == 0, result
    assert files() == before


BASKET_CART = ("--line", "SHIRT:2:15.00", "--line", "SHOES:1:20.00")  # 50.00 EUR of goods


async def test_node_basket_validates_redeems_and_confirms_several_codes(
    live_gateway: LiveGatewayStarter, tmp_path: Path
) -> None:
    """FIVEOFF, SAVE10 on what it left, GIFT-50 paying the rest: CONFIRMED, every amount an exact string."""
    key = new_key()
    keys = write_keys(tmp_path / "keys.toml", key_entry(key, "node-till", "till"))
    running = await live_gateway(keys_file=str(keys))
    code, result = await run_example(
        "--target", running.target, "--api-key", key, "--transaction-id", "NODE-B1",
        "--code", "SAVE10", "--code", "GIFT-50", "--code", "FIVEOFF", *BASKET_CART,
        script="basket.js",
    )  # fmt: skip
    assert code == 0, result
    assert result["redeemed_state"] == "REDEMPTION_STATE_PENDING"
    assert result["state"] == "REDEMPTION_STATE_CONFIRMED"
    assert result["sync_state"] == "SYNC_STATE_SYNCED"
    codes = result["codes"]
    assert isinstance(codes, list)
    assert [(c["voucher_code"], c["tender"], c["discount"]["amount"], c["state"]) for c in codes] == [
        ("FIVEOFF", False, "500", "REDEMPTION_STATE_CONFIRMED"),
        ("SAVE10", False, "450", "REDEMPTION_STATE_CONFIRMED"),
        ("GIFT-50", True, "4050", "REDEMPTION_STATE_CONFIRMED"),
    ]
    assert result["total"] == {"amount": "5000", "currency_code": "EUR"}
    assert result["discount"] == {"amount": "950", "currency_code": "EUR"}
    assert result["gift_card_tender"] == {"amount": "4050", "currency_code": "EUR"}
    assert result["amount_due"] == {"amount": "0", "currency_code": "EUR"}
    lines = result["lines"]
    assert isinstance(lines, list)
    assert [(line["discount"]["amount"], line["paid"]["amount"]) for line in lines] == [
        ("570", "2430"),
        ("380", "1620"),
    ]


async def test_node_basket_reports_a_refused_code_and_bad_options(
    live_gateway: LiveGatewayStarter, tmp_path: Path
) -> None:
    """A code of an inactive campaign exits 3 with every code's result; a malformed line, or a price
    without its decimals, exits 2."""
    key = new_key()
    keys = write_keys(tmp_path / "keys.toml", key_entry(key, "node-till", "till"))
    running = await live_gateway(keys_file=str(keys))
    code, result = await run_example(
        "--target", running.target, "--api-key", key, "--code", "SAVE10", "--code", "DRAFT-1", *BASKET_CART,
        script="basket.js",
    )  # fmt: skip
    assert code == 3, result
    assert result["step"] == "validate"
    refused = {c["voucher_code"]: c for c in result["codes"]}  # type: ignore[attr-defined]
    assert refused["DRAFT-1"]["rejection"]["reason"] == "REJECTION_REASON_CAMPAIGN_INACTIVE"
    assert refused["SAVE10"]["applied"]
    assert NODE is not None
    for line, why in [("SHIRT:two:15.00", "expected SKU:QTY:UNIT_PRICE"), ("SHIRT:2:1500", "is ambiguous")]:
        code, stdout, stderr = await run(
            NODE, str(NODE_DIR / "basket.js"), "--code", "SAVE10", "--line", line
        )
        assert (code, stdout) == (2, "")
        assert why in stderr


async def test_node_basket_returns_a_line_after_the_sale(
    live_gateway: LiveGatewayStarter, tmp_path: Path
) -> None:
    """--return-line 0:1 after the confirm: one shirt back, refunded at what it cost after its discounts,
    the codes kept; every amount an exact string."""
    key = new_key()
    keys = write_keys(tmp_path / "keys.toml", key_entry(key, "node-till", "till"))
    running = await live_gateway(keys_file=str(keys))
    code, result = await run_example(
        "--target", running.target, "--api-key", key, "--transaction-id", "NODE-R1", "--code", "ONCE-1",
        *BASKET_CART, "--return-line", "0:1", "--return-id", "RET-N1",
        script="basket.js",
    )  # fmt: skip
    assert code == 0, result
    returned = result["returned"]
    assert isinstance(returned, dict)
    assert returned["return_id"] == "RET-N1"
    assert returned["refund"] == {"amount": "1275", "currency_code": "EUR"}
    assert [(line["line_index"], line["quantity"]) for line in returned["lines"]] == [(0, "1")]
    assert returned["codes"] == [{"voucher_code": "ONCE-1", "outcome": "CODE_RETURN_OUTCOME_KEPT"}]
    assert not returned["sale_fully_returned"]
