"""The upstream package's public surface is pinned: a change here is a change for its callers."""

from __future__ import annotations

import inspect

import vouchery_gateway.upstream as upstream
from vouchery_gateway.upstream import VoucheryClient


def test_all_is_pinned() -> None:
    """`__all__` lists exactly the names servicers and the composition root use."""
    assert sorted(upstream.__all__) == sorted(
        [
            "ROUTES", "CallPolicy", "Customer", "Page", "PointsActivity", "PointsChange", "PointsExchange",
            "PointsExpiration", "PurchaseTransaction", "Reply", "Route", "Send", "TransactionRecord",
            "UpstreamAmbiguous", "UpstreamBadResponse", "UpstreamIdentity", "UpstreamObserver",
            "UpstreamTimeout", "VoucheryClient", "aiohttp_transport", "maybe_committed",
        ]
    )  # fmt: skip
    for name in upstream.__all__:
        assert hasattr(upstream, name), name


def test_checkout_methods_keep_their_signatures() -> None:
    """The checkout calls servicers are written against keep their exact parameters."""
    expected = {
        "me": ["self", "timeout"],
        "validate_voucher": ["self", "request", "timeout"],
        "create_redemption": ["self", "request", "timeout"],
        "confirm_redemption": ["self", "transaction_id", "timeout"],
        "cancel_redemption": ["self", "transaction_id", "timeout"],
        "get_redemption": ["self", "transaction_id", "timeout"],
        "get_voucher": ["self", "code", "timeout"],
        "aclose": ["self"],
    }
    for name, params in expected.items():
        signature = inspect.signature(getattr(VoucheryClient, name))
        assert list(signature.parameters) == params, name
        if "timeout" in signature.parameters:
            assert signature.parameters["timeout"].kind is inspect.Parameter.KEYWORD_ONLY
    init = inspect.signature(VoucheryClient.__init__).parameters
    assert list(init)[:3] == ["self", "base_url", "api_key"]
    for keyword in ("transport", "max_connections", "verify", "user_agent", "observer"):
        assert init[keyword].kind is inspect.Parameter.KEYWORD_ONLY
