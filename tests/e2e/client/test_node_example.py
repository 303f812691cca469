"""The Node.js example runs its two-step checkout against a live gateway (sandbox) on port 0."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.support.gateway import GatewayStarter, SettingsFactory
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


async def run_example(*args: str) -> tuple[int, dict[str, object]]:
    assert NODE is not None
    process = await asyncio.create_subprocess_exec(
        NODE,
        str(NODE_DIR / "checkout.js"),
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
