"""VoucheryClient against the real sandbox app, in-process through httpx.ASGITransport."""

from __future__ import annotations

import httpx
import pytest

from tests.contract.upstream.conftest import RecordingObserver
from tests.support.sandbox import ADMIN_KEY, IN_PROCESS_URL, POS_KEY
from vouchery_gateway.domain import Cart, CartLine, RedemptionRequest, RedemptionState, RejectionReason
from vouchery_gateway.errors import InvalidArgument, NotFound, Rejected, UpstreamAuth
from vouchery_gateway.upstream import (
    PurchaseTransaction,
    Reply,
    Route,
    Send,
    UpstreamAmbiguous,
    VoucheryClient,
    maybe_committed,
)
from vouchery_sandbox.app import SandboxApp

T = 2.0  # seconds: each call's budget
CART = Cart("EUR", 10000)


def redeem(code: str, transaction_id: str, *, cart: Cart = CART, **kwargs: object) -> RedemptionRequest:
    return RedemptionRequest(code, cart, transaction_id=transaction_id, **kwargs)  # type: ignore[arg-type]


async def test_me_identifies_the_key_without_email(client: VoucheryClient) -> None:
    """GET /me answers the key's role and project, for health checks."""
    identity = await client.me(timeout=T)
    assert identity.role.lower() == "admin"
    assert identity.project_name


async def test_validate_returns_the_would_be_discount(client: VoucheryClient) -> None:
    """A valid voucher validates with its discount in exact minor units and no side effect."""
    validation = await client.validate_voucher(RedemptionRequest("SAVE10", CART), timeout=T)
    assert validation.valid
    assert validation.redemption is not None
    assert validation.redemption.id is None
    assert validation.redemption.discount_minor == 1000
    assert validation.redemption.voucher_code == "SAVE10"


@pytest.mark.parametrize(
    ("code", "reason", "vouchery_code"),
    [
        ("EXPIRED-1", RejectionReason.VOUCHER_EXPIRED, "1001"),
        ("USED-1", RejectionReason.VOUCHER_USED_OR_RESERVED, "1002"),
        ("VIP-ALICE", RejectionReason.CUSTOMER_REQUIRED, "1006"),
        ("NO-SUCH-CODE", RejectionReason.VOUCHER_NOT_FOUND, ""),
    ],
)
async def test_validate_reports_rejections_in_the_answer(
    client: VoucheryClient, code: str, reason: RejectionReason, vouchery_code: str
) -> None:
    """A 422 rejection or an unknown code is valid=False with a typed reason, not an exception."""
    validation = await client.validate_voucher(RedemptionRequest(code, CART), timeout=T)
    assert not validation.valid
    assert validation.rejection is not None
    assert validation.rejection.reason is reason
    assert validation.rejection.vouchery_code == vouchery_code


async def test_two_step_redemption_lifecycle(client: VoucheryClient) -> None:
    """Create pending, read back by transaction id, confirm, then cancel: each state typed and exact."""
    lines = (CartLine("SHIRT-1", "123", "T-shirt", 2, 2500), CartLine("CAP", "9", "Cap", 1, 1999))
    cart = Cart("EUR", 6999, shipping_minor=499, lines=lines)
    created = await client.create_redemption(redeem("FIVEOFF", "POS-1-0001", cart=cart), timeout=T)
    assert created.state is RedemptionState.PENDING
    assert (created.total_minor, created.discount_minor, created.currency) == (6999, 500, "EUR")
    read = await client.get_redemption("POS-1-0001", timeout=T)
    assert read.id == created.id
    confirmed = await client.confirm_redemption("POS-1-0001", timeout=T)
    assert confirmed.state is RedemptionState.CONFIRMED
    assert confirmed.confirmed_at is not None
    assert created.id is not None
    assert (await client.get_redemption_by_id(created.id, timeout=T)).state is RedemptionState.CONFIRMED
    cancelled = await client.cancel_redemption("POS-1-0001", timeout=T)
    assert cancelled.state is RedemptionState.CANCELLED


async def test_single_step_redemption_is_confirmed(client: VoucheryClient) -> None:
    """confirm=True redeems in one call."""
    redemption = await client.create_redemption(redeem("SAVE10", "POS-1-0002", confirm=True), timeout=T)
    assert redemption.state is RedemptionState.CONFIRMED


async def test_redemption_state_conflicts_are_typed_rejections(client: VoucheryClient) -> None:
    """Same transaction twice, confirm twice, cancel twice: each a specific rejection reason."""
    await client.create_redemption(redeem("SAVE10", "POS-1-0003"), timeout=T)
    with pytest.raises(Rejected) as duplicate:
        await client.create_redemption(redeem("SAVE10", "POS-1-0003"), timeout=T)
    assert duplicate.value.rejection.reason is RejectionReason.TRANSACTION_ID_IN_USE
    await client.confirm_redemption("POS-1-0003", timeout=T)
    with pytest.raises(Rejected) as again:
        await client.confirm_redemption("POS-1-0003", timeout=T)
    assert again.value.rejection.reason is RejectionReason.REDEMPTION_ALREADY_CONFIRMED
    await client.cancel_redemption("POS-1-0003", timeout=T)
    with pytest.raises(Rejected) as twice:
        await client.cancel_redemption("POS-1-0003", timeout=T)
    assert twice.value.rejection.reason is RejectionReason.REDEMPTION_ALREADY_CANCELLED


async def test_rejected_write_raises_rejected(client: VoucheryClient) -> None:
    """A business rejection of a write is Rejected with Vouchery's code (FAILED_PRECONDITION)."""
    with pytest.raises(Rejected) as caught:
        await client.create_redemption(redeem("EXPIRED-1", "POS-1-0004"), timeout=T)
    assert caught.value.rejection.reason is RejectionReason.VOUCHER_EXPIRED
    assert caught.value.metadata == {"vouchery_code": "1001"}


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda c: c.get_redemption("NOPE", timeout=T), "REDEMPTION_NOT_FOUND"),
        (lambda c: c.confirm_redemption("NOPE", timeout=T), "REDEMPTION_NOT_FOUND"),
        (lambda c: c.get_voucher("NOPE", timeout=T), "VOUCHER_NOT_FOUND"),
        (lambda c: c.create_redemption(redeem("NOPE", "T-404"), timeout=T), "VOUCHER_NOT_FOUND"),
        (lambda c: c.get_customer("nobody", timeout=T), "CUSTOMER_NOT_FOUND"),
        (lambda c: c.get_campaign(999_999, timeout=T), "NOT_FOUND"),
    ],
)
async def test_missing_things_are_not_found_by_route(
    client: VoucheryClient, call: object, reason: str
) -> None:
    """404s become NotFound with the reason of what the route looks up."""
    with pytest.raises(NotFound) as caught:
        await call(client)  # type: ignore[operator]
    assert caught.value.reason == reason


@pytest.mark.parametrize("code", ["../me", "..", ".", "SAVE10/../../me", "SAVE10?x=1", "SAVE10#x", "%2E%2E"])
async def test_codes_cannot_change_the_path(
    client: VoucheryClient, observer: RecordingObserver, code: str
) -> None:
    """A code full of path syntax stays one segment: it is an unknown voucher, never another route."""
    with pytest.raises(NotFound) as caught:
        await client.get_voucher(code, timeout=T)
    assert caught.value.reason == "VOUCHER_NOT_FOUND"
    assert observer.events == [("vouchers", "4xx")]


async def test_unicode_codes_are_encoded(client: VoucheryClient) -> None:
    """Any unicode code is sent percent-encoded and answered (here: not found) without a crash."""
    with pytest.raises(NotFound):
        await client.get_voucher("ÄÖÜ-€-🎁", timeout=T)


async def test_gift_card_voucher_values_are_exact(client: VoucheryClient) -> None:
    """A gift card's value and value left come back in minor units."""
    voucher = await client.get_voucher("GIFT-50", timeout=T)
    assert (voucher.gift_card_value_minor, voucher.gift_card_value_left_minor) == (5000, 5000)
    extended = await client.get_voucher_extended("VIP-ALICE", timeout=T)
    assert extended.customer_id == "alice"


async def test_customer_and_assigned_vouchers_are_paged(client: VoucheryClient) -> None:
    """Customer lookups are typed; lists carry the Total-Count."""
    customer = await client.get_customer("alice", timeout=T)
    assert customer.identifier == "alice"
    assert customer.loyalty_points >= 0
    page = await client.list_customer_vouchers("alice", page=1, per_page=10, timeout=T)
    assert [v.code for v in page.items] == ["VIP-ALICE"]
    assert page.total == 1
    assert not page.has_next
    available = await client.list_available_vouchers("someone-new", timeout=T)
    assert {"SAVE10", "FIVEOFF"} <= {v.code for v in available}
    history = await client.list_customer_redemptions("bob", timeout=T)
    assert [r.transaction_id for r in history.items] == ["DEMO-USED-1"]


async def test_points_grant_revoke_and_activity(client: VoucheryClient) -> None:
    """Grant and revoke move the balance; revoking more than the balance is INVALID_ARGUMENT."""
    before = (await client.get_customer("carol", timeout=T)).loyalty_points
    granted = await client.grant_points("carol", 100, "welcome", timeout=T)
    assert granted.balance == before + 100
    revoked = await client.revoke_points("carol", 30, timeout=T)
    assert revoked.balance == before + 70
    with pytest.raises(InvalidArgument) as caught:
        await client.revoke_points("carol", 10**6, timeout=T)
    assert caught.value.violations[0].field == "points"
    activity = await client.points_activity("carol", per_page=100, timeout=T)
    assert activity.items[-1].balance == before + 70
    assert activity.total == len(activity.items)
    assert isinstance(await client.points_expirations("carol", timeout=T), tuple)


async def test_points_exchange_issues_a_voucher(client: VoucheryClient, sandbox_app: SandboxApp) -> None:
    """Exchanging points for a points-shop campaign returns the issued voucher and the new balance."""
    shop = httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox_app))
    auth = {"authorization": f"Bearer {ADMIN_KEY}"}
    campaigns = (await shop.get(f"{IN_PROCESS_URL}/campaigns?per_page=100", headers=auth)).json()
    await shop.aclose()
    priced = [c["id"] for c in campaigns if c.get("loyalty_points_price")]
    assert priced, "the demo fixture has a points-shop campaign"
    await client.grant_points("bob", 500, timeout=T)
    exchange = await client.exchange_points("bob", priced[0], timeout=T)
    assert exchange.voucher.code
    assert exchange.points != 0


async def test_purchase_transaction_earns_points(client: VoucheryClient) -> None:
    """POST /transactions records a purchase and reports the points earned."""
    record = await client.create_transaction(
        PurchaseTransaction("TX-1", Cart("EUR", 4200), "alice"), timeout=T
    )
    assert record.transaction_id == "TX-1"
    assert record.points_earned is not None


async def test_get_campaign_reads_a_campaign_by_id(
    client: VoucheryClient, observer: RecordingObserver
) -> None:
    """GET /campaigns/{id} answers the demo's "Ten percent off" campaign, in the campaigns route group."""
    campaign = await client.get_campaign(2, timeout=T)
    assert (campaign.id, campaign.name, campaign.currency) == (2, "Ten percent off", "EUR")
    assert campaign.template == "sub_redemption"
    assert observer.events == [("campaigns", "2xx")]


async def test_unknown_campaign_is_a_conclusive_not_found(client: VoucheryClient) -> None:
    """An id Vouchery does not know is Vouchery's 404 on a confirmed route: proof it does not exist."""
    with pytest.raises(NotFound) as caught:
        await client.get_campaign(999_999, timeout=T)
    assert caught.value.conclusive
    assert caught.value.message == "campaign not found"


async def test_wrong_key_is_upstream_auth(sandbox_app: SandboxApp, caplog: pytest.LogCaptureFixture) -> None:
    """A key Vouchery does not know is INTERNAL/UPSTREAM_AUTH, logged without the key."""
    secret = "wrong-key-must-not-leak"
    vouchery = VoucheryClient(IN_PROCESS_URL, secret, transport=httpx.ASGITransport(app=sandbox_app))
    with pytest.raises(UpstreamAuth) as caught:
        await vouchery.get_voucher("SAVE10", timeout=T)
    await vouchery.aclose()
    assert secret not in str(caught.value)
    assert "refused the gateway's API key" in caplog.text
    assert secret not in caplog.text


async def test_point_of_sale_key_on_a_customer_route_is_upstream_auth(sandbox_app: SandboxApp) -> None:
    """403 (the key's role may not use the route) is an operator problem too."""
    vouchery = VoucheryClient(IN_PROCESS_URL, POS_KEY, transport=httpx.ASGITransport(app=sandbox_app))
    with pytest.raises(UpstreamAuth):
        await vouchery.get_customer("alice", timeout=T)
    await vouchery.aclose()


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.create_redemption(RedemptionRequest("SAVE10", CART), timeout=T),
        lambda c: c.confirm_redemption("", timeout=T),
        lambda c: c.get_voucher("", timeout=T),
        lambda c: c.get_voucher("SAVE10", timeout=0),
        lambda c: c.get_voucher("SAVE10", timeout=float("nan")),
        lambda c: c.list_customer_vouchers("alice", per_page=1000, timeout=T),
        lambda c: c.grant_points("alice", 0, timeout=T),
        lambda c: c.exchange_points("alice", -1, timeout=T),
        lambda c: c.get_campaign(0, timeout=T),
        lambda c: c.get_campaign(True, timeout=T),
        lambda c: c.get_redemption_by_id(0, timeout=T),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    client: VoucheryClient, observer: RecordingObserver, call: object
) -> None:
    """Missing ids, bad paging, points or timeouts are INVALID_ARGUMENT and nothing is sent."""
    with pytest.raises(InvalidArgument):
        await call(client)  # type: ignore[operator]
    assert observer.events == []


async def test_observer_sees_each_attempt_by_group_and_class(
    client: VoucheryClient, observer: RecordingObserver
) -> None:
    """Metrics get the route group and status class of every upstream call."""
    await client.get_voucher("SAVE10", timeout=T)
    await client.validate_voucher(RedemptionRequest("EXPIRED-1", CART), timeout=T)
    await client.grant_points("alice", 1, timeout=T)
    assert observer.events == [("vouchers", "2xx"), ("redemptions", "4xx"), ("loyalty", "2xx")]


async def test_dropped_connection_after_commit_is_ambiguous_and_reconcilable(
    client: VoucheryClient, sandbox_app: SandboxApp
) -> None:
    """The answer to a redemption POST is lost after it landed: ambiguous, and a read finds it."""
    sandbox_app.sandbox.faults.replace(
        {"groups": {"redemptions": {"drop_after_commit_rate": 1, "methods": ["POST"], "times": 1}}}
    )
    with pytest.raises(UpstreamAmbiguous) as caught:
        await client.create_redemption(redeem("SAVE10", "POS-1-0005"), timeout=T)
    assert maybe_committed(caught.value)
    landed = await client.get_redemption("POS-1-0005", timeout=T)
    assert landed.state is RedemptionState.PENDING


class RetryOnce:
    """A minimal CallPolicy: one more attempt after an ambiguous failure of a read."""

    def __init__(self) -> None:
        self.routes: list[str] = []

    async def __call__(self, route: Route, send: Send, timeout: float) -> Reply:  # noqa: ASYNC109
        self.routes.append(route.name)
        try:
            return await send(timeout / 2)
        except Exception:
            if route.is_write:
                raise
            return await send(timeout / 2)


async def test_call_policy_wraps_every_call(sandbox_app: SandboxApp) -> None:
    """A retry/breaker policy injected once sees every call and can run more attempts."""
    policy = RetryOnce()
    vouchery = VoucheryClient(
        IN_PROCESS_URL, ADMIN_KEY, transport=httpx.ASGITransport(app=sandbox_app), policy=policy
    )
    sandbox_app.sandbox.faults.replace({"groups": {"vouchers": {"drop_rate": 1, "times": 1}}})
    voucher = await vouchery.get_voucher("SAVE10", timeout=T)
    await vouchery.aclose()
    assert voucher.code == "SAVE10"
    assert policy.routes == ["get_voucher"]
