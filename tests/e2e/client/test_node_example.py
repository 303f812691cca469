"""The Node.js examples against a live gateway on port 0: the two-step checkout (embedded sandbox) and
the several-code basket (the live sandbox)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.support.gateway import GatewayStarter, LiveGatewayStarter, SettingsFactory
from tests.support.keys import key_entry, new_key, write_keys
from tests.support.paths import REPO

NODE_DIR = REPO / "client_stubs" / "node"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(NODE is None, reason="node is not installed"),
    pytest.mark.skipif(
        not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir(),
        reason="npm packages missing: run `npm ci --prefix client_stubs/node`",
    ),
]


async def run_example(*args: str, script: str = "checkout.js") -> tuple[int, dict[str, object]]:
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(NODE_DIR / script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    assert stdout, stderr.decode()
    return process.returncode, json.loads(stdout.decode().strip().splitlines()[-1])


async def test_node_checkout_validates_redeems_and_confirms(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory, tmp_path: Path
) -> None:
    """With its key, the example ends with a CONFIRMED, SYNCED redemption and the 10% discount."""
    key = new_key()
    keys = write_keys(tmp_path / "keys.toml", key_entry(key, "node-till", "till"))
    running = await start_gateway(gateway_settings(sandbox=True, keys_file=str(keys)))
    code, result = await run_example(
        "--target", running.target, "--api-key", key, "--code", "SAVE10", "--total", "4000"
    )
    assert code == 0, result
    assert result["state"] == "REDEMPTION_STATE_CONFIRMED"
    assert result["redeemed_state"] == "REDEMPTION_STATE_PENDING"
    assert result["discount"] == {"amount": "400", "currency_code": "EUR"}


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


BASKET_CART = ("--line", "SHIRT:2:1500", "--line", "SHOES:1:2000")  # 50.00 EUR of goods


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
    """A code of an inactive campaign exits 3 with every code's result; a malformed line exits 2."""
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
    process = await asyncio.create_subprocess_exec(
        NODE, str(NODE_DIR / "basket.js"), "--code", "SAVE10", "--line", "SHIRT:2:15.00",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert b"expected SKU:QTY:UNIT_PRICE" in stderr
    assert stdout == b""


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
