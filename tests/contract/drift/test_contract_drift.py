"""Contract drift: the gateway against a Vouchery that differs from the guesses, in each plausible way.

The sandbox plays each alternative (its contract switches and after-commit faults). For each:
- with the default route table (nothing verified), no write is ever applied twice and no wrong answer
  reaches the till: UNAVAILABLE is allowed, a second redemption or grant is not;
- `vouchery-gateway doctor --write` reports exactly the differences of that alternative, and the
  override file it writes, loaded, makes a till's checkout and loyalty day pass against it.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support.gateway import LiveGatewayStarter, RunningGateway
from vouchery.gateway.v1 import checkout_pb2 as co
from vouchery.gateway.v1 import common_pb2, loyalty_pb2, loyalty_pb2_grpc
from vouchery_gateway.cli import commands
from vouchery_sandbox.testing import SandboxServer

ACTIVITY = "points_activity"  # the sandbox names its routes as the gateway's route table does
EXPIRATIONS = "points_expirations"
LOOKUP = "get_redemption"
REVOKE = "revoke_points"
ATTEMPTS = 4  # a till's retries of one request

# name -> (contract switches, the routes `doctor --write` must report as differing)
ALTERNATIVES: dict[str, tuple[dict[str, Any], set[str]]] = {
    "transaction ids never unique": ({"transaction_id_scope": "none"}, {"create_redemption"}),
    "transaction ids unique per voucher": ({"transaction_id_scope": "voucher"}, set()),
    "v2.0 answer shapes": (
        {"redemption_customer": "top_level", "cancel_answer": "no_content", "me_role": "snake_case"},
        {
            "me",
            "cancel_redemption",
            "validate_voucher",
            "create_redemption",
            "get_redemption",
            "get_redemption_by_id",
        },
    ),
    "empty cancel answer": ({"cancel_answer": "empty"}, {"cancel_redemption"}),
    "nested /me": ({"me_shape": "data"}, {"me"}),
    "/me as user, project, company": ({"me_shape": "user"}, {"me"}),
    "missing routes answer plain text": ({"missing_route": "text"}, set()),
    "unknown fields dropped, reason not kept": (
        {"unknown_fields": "drop", "activity_reason": "omitted"},
        {"points_activity", "exchange_points"},
    ),
    "activity newest first, other types": (
        {"activity_order": "newest_first", "activity_types": {"grant": "earn", "revoke": "spend"}},
        {"points_activity"},
    ),
    "missing routes answer a bare 404": ({"missing_route": "html"}, set()),
    "lookup by transaction elsewhere": (
        {"missing_route": "html", "moved_routes": {LOOKUP: "/redemptions/by-transaction"}},
        {"get_redemption"},
    ),
    "activity elsewhere": (
        {"missing_route": "html", "moved_routes": {ACTIVITY: "/loyalty-points/{identifier}/history"}},
        {"points_activity"},
    ),
    "expirations elsewhere": (
        {"missing_route": "html", "moved_routes": {EXPIRATIONS: "/loyalty-points/{identifier}/expiring"}},
        {"points_expirations"},
    ),
    "revoke answers balance": (
        {"renamed_answer_fields": {REVOKE: {"loyalty_points": "balance"}}},
        {"revoke_points"},
    ),
}


def cart(total: int = 2500) -> common_pb2.Cart:
    return common_pb2.Cart(total=common_pb2.Money(amount=total, currency_code="EUR"))


async def unverified(live_gateway: LiveGatewayStarter) -> RunningGateway:
    """A production-mode gateway on the live sandbox and the default route table: no route proven, no
    override loaded."""
    return await live_gateway(upstream_routes_file="", retry_attempts=1, breaker_failures=1000)


async def until_settled(call: Any, request: Any) -> tuple[Any, list[grpc.StatusCode]]:
    """A till's retries of one request: its answer (None if it never got one) and the codes it saw."""
    seen: list[grpc.StatusCode] = []
    for _ in range(ATTEMPTS):
        try:
            return await call(request, timeout=10), seen
        except grpc.aio.AioRpcError as error:
            seen.append(error.code())
            if error.code() is not grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.05)
    return None, seen


def live(sandbox: SandboxServer, transaction_id: str) -> list[dict[str, Any]]:
    rows = sandbox.admin.ledger(transaction_id=transaction_id)["redemptions"]
    return [r for r in rows if r["state"] != "cancelled"]


def movements(sandbox: SandboxServer, customer: str, points: int) -> list[dict[str, Any]]:
    return [
        p
        for p in sandbox.admin.ledger()["points"]
        if p["customer_identifier"] == customer and abs(p["points"]) == points
    ]


# ---- the five reproduced cases, on the default table: never applied twice ----------------------------


@pytest.mark.parametrize("fault", ["error_after_commit_rate", "garble_after_commit_rate"])
async def test_a_redemption_that_landed_behind_a_502_or_garbage_is_read_back_not_posted_again(
    live_sandbox: SandboxServer, live_gateway: LiveGatewayStarter, fault: str
) -> None:
    """Case 1: the POST lands, then a 502 or an unreadable 201 comes back; with transaction ids never
    unique a second POST would redeem twice. The gateway reads it back and answers with it."""
    live_sandbox.admin.set_contract({"transaction_id_scope": "none"})
    live_sandbox.admin.set_faults(
        {"redemptions": {fault: 1.0, "methods": ["POST"], "times": 1, "error_statuses": [502]}}
    )
    gateway = await unverified(live_gateway)
    request = co.RedeemVoucherRequest(transaction_id="DRIFT-1", voucher_code="SAVE10", cart=cart())
    answer, _ = await until_settled(gateway.stub.RedeemVoucher, request)
    assert answer is not None
    assert answer.redemption.transaction_id == "DRIFT-1"
    assert len(live(live_sandbox, "DRIFT-1")) == 1


async def test_a_revoke_answered_under_another_field_name_is_applied_once(
    live_sandbox: SandboxServer, live_gateway: LiveGatewayStarter
) -> None:
    """Case 2: the revoke's answer names the balance `balance`: unreadable, so it may have landed; the
    gateway finds it by its reference instead of revoking again."""
    live_sandbox.admin.set_contract({"renamed_answer_fields": {REVOKE: {"loyalty_points": "balance"}}})
    gateway = await unverified(live_gateway)
    loyalty = loyalty_pb2_grpc.LoyaltyServiceStub(gateway.channel)
    request = loyalty_pb2.RevokePointsRequest(
        request_id="DRIFT-R1", customer_id="alice", points=7, reason="drift"
    )
    answer, _ = await until_settled(loyalty.RevokePoints, request)
    assert answer is None or answer.change.points == -7
    assert len(movements(live_sandbox, "alice", 7)) == 1


@pytest.mark.parametrize(
    "switches",
    [
        {"missing_route": "html", "moved_routes": {ACTIVITY: "/loyalty-points/{identifier}/history"}},
        {"activity_reason": "omitted", "unknown_fields": "drop"},
        {"activity_order": "newest_first", "activity_types": {"grant": "earn"}},
    ],
    ids=["activity elsewhere", "reason not kept", "newest first, other types"],
)
async def test_a_grant_whose_answer_is_lost_is_never_granted_twice(
    live_sandbox: SandboxServer,
    live_gateway: LiveGatewayStarter,
    switches: dict[str, Any],
) -> None:
    """Case 3: the grant's answer is lost and the activity log cannot prove it did not land (another path,
    no reason, another order and types, an unverified route): UNAVAILABLE, never a second grant."""
    live_sandbox.admin.set_contract(switches)
    live_sandbox.admin.set_faults(
        {"loyalty": {"drop_after_commit_rate": 1.0, "methods": ["POST"], "times": 1}}
    )
    gateway = await unverified(live_gateway)
    loyalty = loyalty_pb2_grpc.LoyaltyServiceStub(gateway.channel)
    request = loyalty_pb2.GrantPointsRequest(
        request_id="DRIFT-G1", customer_id="alice", points=31, reason="drift"
    )
    answer, seen = await until_settled(loyalty.GrantPoints, request)
    grants = movements(live_sandbox, "alice", 31)
    assert len(grants) == 1, grants
    assert answer is None or answer.change.points == 31
    assert set(seen) <= {grpc.StatusCode.UNAVAILABLE}


async def test_a_lost_redemption_answer_with_the_lookup_elsewhere_is_unavailable_not_in_use(
    live_sandbox: SandboxServer, live_gateway: LiveGatewayStarter
) -> None:
    """Case 4: the read-by-transaction path is not ours and the POST's answer is lost: the till hears
    UNAVAILABLE (never TRANSACTION_ID_IN_USE for its own sale), and the voucher is reserved once."""
    live_sandbox.admin.set_contract(
        {"missing_route": "html", "moved_routes": {LOOKUP: "/redemptions/by-transaction"}}
    )
    live_sandbox.admin.set_faults(
        {"redemptions": {"drop_after_commit_rate": 1.0, "methods": ["POST"], "times": 1}}
    )
    gateway = await unverified(live_gateway)
    request = co.RedeemVoucherRequest(transaction_id="DRIFT-4", voucher_code="SAVE10", cart=cart())
    answer, seen = await until_settled(gateway.stub.RedeemVoucher, request)
    assert answer is None
    assert seen == [grpc.StatusCode.UNAVAILABLE] * ATTEMPTS
    assert len(live(live_sandbox, "DRIFT-4")) == 1


async def test_a_balance_with_the_expirations_elsewhere_is_a_contract_mismatch_not_an_unknown_customer(
    live_sandbox: SandboxServer, live_gateway: LiveGatewayStarter
) -> None:
    """Case 5: the expirations path is not ours: UNAVAILABLE naming the contract, never "not found"."""
    live_sandbox.admin.set_contract(
        {"missing_route": "html", "moved_routes": {EXPIRATIONS: "/loyalty-points/{identifier}/expiring"}}
    )
    gateway = await unverified(live_gateway)
    loyalty = loyalty_pb2_grpc.LoyaltyServiceStub(gateway.channel)
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await loyalty.GetLoyaltyAccount(loyalty_pb2.GetLoyaltyAccountRequest(customer_id="alice"), timeout=10)
    assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "points_expirations" in (failed.value.details() or "")


# ---- every alternative: the doctor names exactly its differences, and its override makes it work --------


def run_doctor(sandbox: SandboxServer, suggest: Path) -> dict[str, Any]:
    """`vouchery-gateway doctor --write` on the demo's test campaign (a thread of its own: it runs its
    own event loop, as on the command line)."""
    out = io.StringIO()
    commands.main(
        [
            "doctor", "--upstream-url", sandbox.api_url, "--write", "--campaign", "2", "--customer", "alice",
            "--exchange-campaign", "11", "--json", "--suggest", str(suggest),
        ],
        out,
    )  # fmt: skip
    report: dict[str, Any] = json.loads(out.getvalue())
    return report


async def a_till_day(gateway: RunningGateway, sandbox: SandboxServer) -> None:
    """Redeem and confirm, redeem and cancel, read back; grant, revoke, read the account, record a sale."""
    checkout = gateway.stub
    done = await checkout.RedeemVoucher(
        co.RedeemVoucherRequest(transaction_id="DAY-1", voucher_code="SAVE10", cart=cart()), timeout=10
    )
    assert done.redemption.discount.amount == 250
    await checkout.ConfirmRedemption(co.ConfirmRedemptionRequest(transaction_id="DAY-1"), timeout=10)
    await checkout.RedeemVoucher(
        co.RedeemVoucherRequest(
            transaction_id="DAY-2", voucher_code="FIVEOFF", cart=cart(), customer_id="bob"
        ),
        timeout=10,
    )
    cancelled = await checkout.CancelRedemption(
        co.CancelRedemptionRequest(transaction_id="DAY-2"), timeout=10
    )
    assert cancelled.redemption.state == common_pb2.REDEMPTION_STATE_CANCELLED
    got = await checkout.GetRedemption(co.GetRedemptionRequest(transaction_id="DAY-1"), timeout=10)
    assert got.redemption.state == common_pb2.REDEMPTION_STATE_CONFIRMED
    loyalty = loyalty_pb2_grpc.LoyaltyServiceStub(gateway.channel)
    before = (
        await loyalty.GetLoyaltyAccount(loyalty_pb2.GetLoyaltyAccountRequest(customer_id="bob"), timeout=10)
    ).account
    await loyalty.GrantPoints(
        loyalty_pb2.GrantPointsRequest(request_id="DAY-G", customer_id="bob", points=30), timeout=10
    )
    revoked = await loyalty.RevokePoints(
        loyalty_pb2.RevokePointsRequest(request_id="DAY-R", customer_id="bob", points=10), timeout=10
    )
    assert revoked.change.balance == before.balance + 20
    after = (
        await loyalty.GetLoyaltyAccount(loyalty_pb2.GetLoyaltyAccountRequest(customer_id="bob"), timeout=10)
    ).account
    assert after.balance == before.balance + 20
    assert len(live(sandbox, "DAY-1")) == 1


@pytest.mark.parametrize("name", sorted(ALTERNATIVES))
async def test_the_doctor_names_each_difference_and_its_override_makes_the_till_work(
    name: str,
    live_sandbox: SandboxServer,
    live_gateway: LiveGatewayStarter,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    switches, differs = ALTERNATIVES[name]
    live_sandbox.admin.set_contract(switches)
    monkeypatch.setenv("VOUCHERY_GATEWAY_UPSTREAM_API_KEY", live_sandbox.api_key)
    report = await asyncio.to_thread(run_doctor, live_sandbox, tmp_path / "routes.toml")
    found = {f["route"] for f in report["findings"] if f["verdict"] == "differs"}
    assert found == differs, [f for f in report["findings"] if f["verdict"] == "differs"]
    assert report["exit_code"] == (1 if differs else 0)
    gateway = await live_gateway(upstream_routes_file=str(tmp_path / "routes.toml"))
    await a_till_day(gateway, live_sandbox)
