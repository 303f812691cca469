"""The vouchery-gateway command: serve refuses without upstream config, call talks to a live gateway,
and `serve --sandbox` starts, prints the demo codes, answers and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.gateway import RunningGateway, cart
from vouchery.gateway.v1 import checkout_pb2
from vouchery_gateway.cli import commands as cli

ENV_CLEAN = {k: v for k, v in os.environ.items() if not k.startswith("VOUCHERY_GATEWAY_")}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vouchery_gateway", *args],
        capture_output=True, text=True, timeout=60, env=env or ENV_CLEAN, check=False,
    )  # fmt: skip


def test_serve_refuses_without_upstream_config() -> None:
    """Production mode without URL and key exits 2 and says what is missing (and how to demo)."""
    result = run_cli("serve")
    assert result.returncode == 2
    assert "upstream_url" in result.stderr
    assert "VOUCHERY_GATEWAY_UPSTREAM_API_KEY" in result.stderr
    assert "--sandbox" in result.stderr


def test_serve_rejects_a_bad_value_naming_the_flag() -> None:
    """A bad flag value exits 2 with the option and the flag named."""
    result = run_cli("serve", "--sandbox", "--port", "http")
    assert result.returncode == 2
    assert "option port (flag --port)" in result.stderr


def test_help_documents_every_option() -> None:
    """`serve --help` lists each settings option with its environment variable."""
    parser = cli.build_parser()
    text = parser._subparsers._group_actions[0].choices["serve"].format_help()  # type: ignore[union-attr]
    for flag in ("--upstream-url", "--metrics-port", "--reservation-timeout", "--store", "--data-dir"):
        assert flag in text
    assert "VOUCHERY_GATEWAY_UPSTREAM_API_KEY" in text
    assert "--upstream-api-key " not in text


async def call(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await asyncio.to_thread(cli.main, ["call", *args], out)
    return code, out.getvalue()


async def test_call_validate_prints_the_discount(embedded_gateway: RunningGateway) -> None:
    """`call validate` prints a readable answer with the discount and exits 0."""
    code, text = await call(
        "--target", embedded_gateway.target, "validate", "--code", "SAVE10", "--total", "25.00"
    )
    assert code == 0
    assert "valid: yes" in text
    assert "2.50 EUR" in text
    assert "nothing is reserved" in text
    assert "PENDING" not in text  # a check is no redemption: no state, no sync state


async def test_a_validation_answer_has_no_creation_time(embedded_gateway: RunningGateway) -> None:
    """Nothing was created by a validation, so its preview carries no created_at."""
    answer = await embedded_gateway.stub.ValidateVoucher(
        checkout_pb2.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500))
    )
    assert answer.valid
    assert not answer.redemption.HasField("created_at")


async def test_get_voucher_says_whether_a_gift_card_can_still_pay(embedded_gateway: RunningGateway) -> None:
    """A gift card shows its value left and whether it can pay with it."""
    code, text = await call("--target", embedded_gateway.target, "get-voucher", "--code", "GIFT-50")
    assert code == 0
    assert "gift card value left: 50.00 EUR (can pay: yes)" in text


async def test_call_validate_rejection_is_readable(embedded_gateway: RunningGateway) -> None:
    """A refused voucher prints its reason and Vouchery code, exit code 3."""
    code, text = await call(
        "--target", embedded_gateway.target, "validate", "--code", "EXPIRED-1", "--total", "5"
    )
    assert code == 3
    assert "VOUCHER_EXPIRED (Vouchery 1001)" in text


async def test_call_redeem_and_confirm_as_json(embedded_gateway: RunningGateway) -> None:
    """`call --json redeem` and `confirm` print JSON a script can read."""
    target = embedded_gateway.target
    code, text = await call(
        "--target", target, "--json", "redeem", "--code", "SAVE10", "--transaction-id", "CLI-1",
        "--line", "SHIRT-1:2:12.50",
    )  # fmt: skip
    assert code == 0
    assert json.loads(text)["redemption"]["state"] == "REDEMPTION_STATE_PENDING"
    code, text = await call("--target", target, "--json", "confirm", "--transaction-id", "CLI-1")
    assert json.loads(text)["redemption"]["state"] == "REDEMPTION_STATE_CONFIRMED"


async def test_call_error_shows_reason_and_fields(embedded_gateway: RunningGateway) -> None:
    """An error answer prints code, reason and each bad field, and exits 1."""
    code, text = await call(
        "--target", embedded_gateway.target, "validate", "--code", "X" * 65, "--total", "1"
    )
    assert code == 1
    assert "INVALID_ARGUMENT" in text
    assert "voucher_code:" in text


def read_until(stream: io.TextIOBase, needle: str, deadline: float) -> str:
    seen = ""
    while needle not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not printed; got {seen!r}")
        line = stream.readline()
        if not line:
            raise AssertionError(f"process ended before printing {needle!r}; got {seen!r}")
        seen += line
    return seen


def test_serve_sandbox_runs_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`serve --sandbox` prints its address and demo codes, answers a call, and exits 0 on SIGTERM."""
    env = ENV_CLEAN | {"VOUCHERY_GATEWAY_DATA_DIR": str(tmp_path), "VOUCHERY_GATEWAY_METRICS_PORT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vouchery_gateway", "serve", "--sandbox", "--host", "127.0.0.1", "--port=0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        banner = read_until(proc.stdout, "try: vouchery-gateway call", time.monotonic() + 30)
        assert "SAVE10" in banner
        assert "EXPIRED-1" in banner
        target = banner.split("listening on ", 1)[1].split()[0]
        answer = run_cli(
            "call", "--target", target, "validate", "--code", "SAVE10", "--total", "40.00", env=env
        )
        assert answer.returncode == 0, answer.stdout + answer.stderr
        assert "4.00 EUR" in answer.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert (tmp_path / "sandbox.db").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize("line", ["SHIRT", "SHIRT:x:1.00", "SHIRT:1:abc"])
def test_call_rejects_a_malformed_line(line: str) -> None:
    """A --line that is not SKU:QTY:PRICE is a usage error (exit 2) before any network call."""
    err = io.StringIO()
    code = cli.main(["call", "--target", "127.0.0.1:1", "validate", "--code", "A", "--line", line], err)
    assert code == 2
