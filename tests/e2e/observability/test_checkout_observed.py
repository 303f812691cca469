"""A scripted checkout through the real gateway and a live sandbox, then /metrics and the JSON log lines.

Values are exact: the gateway is fresh for each test, so every counter starts at zero and the script
fixes how many calls of each kind were made.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.gateway import LiveGatewayStarter, RunningGateway, cart
from tests.support.logs import JsonLog
from tests.support.metrics import sample, scrape
from tests.support.net import free_port
from vouchery.gateway.v1 import checkout_pb2 as pb
from vouchery.gateway.v1 import checkout_pb2_grpc
from vouchery_sandbox.testing import SandboxServer

SERVICE = "vouchery.gateway.v1.CheckoutService"
UNARY = {"grpc_type": "unary", "grpc_service": SERVICE}
PROMTOOL = shutil.which("promtool")


ACCESS_LINE_WAIT = 30.0  # seconds; generous for a loaded machine


def rid(name: str) -> tuple[tuple[str, str]]:
    return (("x-request-id", f"e2e-{name}"),)


async def scripted_checkout(checkout: checkout_pb2_grpc.CheckoutServiceStub) -> None:
    """Validate, redeem, confirm, read the voucher twice, a redemption refused because it expired, the first
    redemption sent again (a POS retry: replayed) and its transaction id reused for another cart."""
    await checkout.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500)), metadata=rid("validate")
    )
    await checkout.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="E2E-1", voucher_code="SAVE10", cart=cart(4000)),
        metadata=rid("redeem"),
    )
    await checkout.ConfirmRedemption(
        pb.ConfirmRedemptionRequest(transaction_id="E2E-1"), metadata=rid("confirm")
    )
    await checkout.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"), metadata=rid("voucher"))
    await checkout.GetVoucher(pb.GetVoucherRequest(voucher_code="SAVE10"), metadata=rid("voucher-again"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await checkout.RedeemVoucher(
            pb.RedeemVoucherRequest(transaction_id="E2E-2", voucher_code="EXPIRED-1", cart=cart(4000)),
            metadata=rid("expired"),
        )
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    retry = checkout.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="E2E-1", voucher_code="SAVE10", cart=cart(4000)),
        metadata=rid("retry"),
    )
    await retry
    assert ("x-idempotent-replay", "true") in tuple(await retry.trailing_metadata())
    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await checkout.RedeemVoucher(
            pb.RedeemVoucherRequest(transaction_id="E2E-1", voucher_code="SAVE10", cart=cart(9999)),
            metadata=rid("reused"),
        )
    assert reused.value.code() is grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture
async def observed(live_gateway: LiveGatewayStarter) -> RunningGateway:
    """A production-mode gateway on the live sandbox, serving /metrics on a real port."""
    return await live_gateway(metrics_port=free_port())


def cache_lookups(text: str) -> dict[str, float]:
    """vouchery_gateway_cache_lookups_total summed over caches (whatever their names), by result."""
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == "vouchery_gateway_cache_lookups_total" and item.value:
                result = item.labels["result"]
                totals[result] = totals.get(result, 0.0) + item.value
    return totals


def metrics_port(running: RunningGateway) -> int:
    assert running.gateway.metrics is not None, "build_gateway did not start /metrics"
    return running.gateway.metrics.port


async def test_checkout_counts_every_call_by_method_and_code(observed: RunningGateway) -> None:
    """grpc_server_handled_total has one sample per method and final code, with the exact call counts."""
    await scripted_checkout(observed.stub)
    text = await scrape(metrics_port(observed))

    def handled(method: str, code: str) -> float | None:
        return sample(text, "grpc_server_handled_total", **UNARY, grpc_method=method, grpc_code=code)

    assert handled("ValidateVoucher", "OK") == 1
    assert handled("RedeemVoucher", "OK") == 2  # the first one and its replay
    assert handled("RedeemVoucher", "FailedPrecondition") == 2  # expired; key reused
    assert handled("ConfirmRedemption", "OK") == 1
    assert handled("GetVoucher", "OK") == 2
    assert sample(text, "grpc_server_started_total", **UNARY, grpc_method="RedeemVoucher") == 4
    assert sample(text, "grpc_server_handling_seconds_count", **UNARY, grpc_method="RedeemVoucher") == 4


async def test_idempotency_claims_replays_and_conflicts_are_counted(observed: RunningGateway) -> None:
    """Each first write claims its key once; the POS retry is a replay; the reused key is a conflict."""
    await scripted_checkout(observed.stub)
    text = await scrape(metrics_port(observed))

    def counted(name: str, **labels: str) -> float | None:
        return sample(text, f"vouchery_gateway_{name}_total", **labels)

    assert counted("idempotency_claims", operation="RedeemVoucher") == 2  # E2E-1 and the expired E2E-2
    assert counted("idempotency_claims", operation="ConfirmRedemption") == 1
    assert counted("idempotent_replays", grpc_service=SERVICE, grpc_method="RedeemVoucher") == 1
    assert counted("idempotency_key_conflicts", operation="RedeemVoucher") == 1


async def test_rejections_are_counted_by_reason(observed: RunningGateway) -> None:
    """The refused redemption is counted once under its RejectionReason; nothing else is."""
    await scripted_checkout(observed.stub)
    text = await scrape(metrics_port(observed))
    labels = {"grpc_service": SERVICE, "grpc_method": "RedeemVoucher", "reason": "VOUCHER_EXPIRED"}
    assert sample(text, "vouchery_gateway_rejections_total", **labels) == 1
    rejection_lines = [
        line for line in text.splitlines() if line.startswith("vouchery_gateway_rejections_total")
    ]
    assert len(rejection_lines) == 1


async def test_upstream_calls_are_timed_by_route_group_and_status_class(observed: RunningGateway) -> None:
    """Each Vouchery request lands in the duration histogram under its route group and status class."""
    await scripted_checkout(observed.stub)
    text = await scrape(metrics_port(observed))

    def upstream(group: str, status_class: str) -> float | None:
        return sample(
            text,
            "vouchery_gateway_upstream_request_duration_seconds_count",
            route_group=group,
            status_class=status_class,
        )

    # 2xx: the validation, the redemption POST and the confirm. The confirm does not read the redemption
    # first: the reservation record is open, so an "already confirmed" would be judged by the outbox layer.
    # 4xx: the expired code's redemption POST (422). The replay and the reused key never reach Vouchery.
    assert upstream("redemptions", "2xx") == 3
    assert upstream("redemptions", "4xx") == 1
    assert upstream("me", "2xx") == 1  # the start-up health probe
    # Voucher reads go through the lookup cache. Misses: the campaign (currency check) and the voucher of
    # SAVE10 for the redemption, SAVE10 again for GetVoucher (our own redemption and confirm dropped the
    # voucher, not its campaign), the campaign and voucher of EXPIRED-1; the second GetVoucher hits.
    assert cache_lookups(text) == {"miss": 5, "hit": 1}
    assert upstream("vouchers", "2xx") == 3
    assert sample(text, "vouchery_gateway_upstream_auth_failures_total", route_group="redemptions") == 0.0


async def test_every_breaker_is_published_closed_from_start(observed: RunningGateway) -> None:
    """Before any failure each route group's breaker gauge reads 0 (closed), so alerts have a series."""
    text = await scrape(metrics_port(observed))
    for group in ("redemptions", "vouchers", "customers", "loyalty", "me"):
        assert sample(text, "vouchery_gateway_breaker_state", route_group=group) == 0


async def test_checkout_access_log_lines(observed: RunningGateway, json_log: JsonLog) -> None:
    """One JSON access line per RPC with method, final code, rejection reason and the caller's request id."""
    await scripted_checkout(observed.stub)
    expected = {"validate", "redeem", "confirm", "voucher", "voucher-again", "expired", "retry", "reused"}
    wanted = {f"e2e-{name}" for name in expected}
    # The server writes a call's line as the call ends, which may be just after the client has its
    # answer: wait (bounded) for the lines instead of reading the log at once.
    deadline = asyncio.get_running_loop().time() + ACCESS_LINE_WAIT
    lines = {line["request_id"]: line for line in json_log.access()}
    while set(lines) != wanted and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
        lines = {line["request_id"]: line for line in json_log.access()}
    assert set(lines) == wanted
    redeem, expired = lines["e2e-redeem"], lines["e2e-expired"]
    assert redeem["method"] == f"/{SERVICE}/RedeemVoucher"
    assert redeem["code"] == "OK"
    assert redeem["rejection_reason"] is None
    assert redeem["replay"] is False
    assert redeem["level"] == "info"
    assert isinstance(redeem["duration_ms"], float)
    assert expired["code"] == "FAILED_PRECONDITION"
    assert expired["rejection_reason"] == "VOUCHER_EXPIRED"
    assert lines["e2e-confirm"]["method"] == f"/{SERVICE}/ConfirmRedemption"
    assert lines["e2e-validate"]["code"] == "OK"
    assert lines["e2e-retry"]["replay"] is True
    assert lines["e2e-retry"]["code"] == "OK"
    assert lines["e2e-reused"]["code"] == "FAILED_PRECONDITION"
    assert lines["e2e-reused"]["rejection_reason"] is None  # a client mistake, not a business refusal


async def test_request_id_is_echoed_to_the_caller(observed: RunningGateway) -> None:
    """The caller's x-request-id comes back in the trailing metadata of every answer: an OK, a business
    rejection (beside its rich status details) and a replay (beside the replay flag)."""
    call = observed.stub.ValidateVoucher(
        pb.ValidateVoucherRequest(voucher_code="SAVE10", cart=cart(2500)), metadata=rid("echo")
    )
    await call
    assert dict(await call.trailing_metadata())["x-request-id"] == "e2e-echo"
    assert "x-request-id" not in dict(await call.initial_metadata())

    expired = observed.stub.RedeemVoucher(
        pb.RedeemVoucherRequest(transaction_id="E2E-ECHO-2", voucher_code="EXPIRED-1", cart=cart(2500)),
        metadata=rid("echo-expired"),
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await expired
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    trailers = dict(refused.value.trailing_metadata())
    assert trailers["x-request-id"] == "e2e-echo-expired"
    assert "grpc-status-details-bin" in trailers

    redeem = pb.RedeemVoucherRequest(transaction_id="E2E-ECHO-1", voucher_code="SAVE10", cart=cart(2500))
    first = observed.stub.RedeemVoucher(redeem, metadata=rid("echo-redeem-1"))
    await first
    again = observed.stub.RedeemVoucher(redeem, metadata=rid("echo-redeem-2"))
    await again
    assert "x-idempotent-replay" not in dict(await first.trailing_metadata())
    replay_trailers = dict(await again.trailing_metadata())
    assert replay_trailers["x-idempotent-replay"] == "true"
    assert replay_trailers["x-request-id"] == "e2e-echo-redeem-2"


async def test_logs_hold_no_api_key_or_email(
    observed: RunningGateway, json_log: JsonLog, live_sandbox: SandboxServer
) -> None:
    """Nothing the gateway logged during a checkout contains the Vouchery API key or an e-mail address."""
    await scripted_checkout(observed.stub)
    assert json_log.access(), "no access lines captured"
    assert live_sandbox.api_key not in json_log.text
    assert "@" not in json_log.text


@pytest.mark.promtool
@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus')")
async def test_exposition_after_checkout_passes_promtool(observed: RunningGateway) -> None:
    """promtool check metrics finds no problem in the exposition of a gateway that served a checkout."""
    await scripted_checkout(observed.stub)
    text = await scrape(metrics_port(observed))
    assert PROMTOOL is not None
    result = await asyncio.to_thread(
        subprocess.run,
        [PROMTOOL, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
