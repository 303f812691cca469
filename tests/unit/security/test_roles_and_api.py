"""Role decisions as a table, bearer parsing, and the pinned public surface of the security package."""

from __future__ import annotations

import pytest

import vouchery_gateway.security as security
import vouchery_gateway_client as client
from vouchery_gateway.security.auth import bearer_token
from vouchery_gateway.security.roles import allowed, methods_for_role, normalize_patterns

C = "/vouchery.gateway.v1.CheckoutService/"
L = "/vouchery.gateway.v1.LoyaltyService/"


@pytest.mark.parametrize(
    ("role", "method", "ok"),
    [
        ("till", C + "RedeemVoucher", True),
        ("till", L + "GrantPoints", True),
        ("reader", C + "GetVoucher", True),
        ("reader", C + "ValidateVoucher", True),
        ("reader", L + "ListPointsActivity", True),
        ("reader", C + "RedeemVoucher", False),
        ("reader", L + "GrantPoints", False),
        ("till", "/other.Admin/Drop", False),
        ("admin", "/other.Admin/Drop", True),
        ("reader", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", True),
    ],
)
def test_role_table(role: str, method: str, ok: bool) -> None:
    """Each role covers exactly its methods (plus reflection for every caller)."""
    assert allowed(methods_for_role(role), method) is ok


def test_explicit_method_lists_are_relative_to_the_package() -> None:
    """'CheckoutService/GetVoucher' grants that one method only."""
    patterns = normalize_patterns(["CheckoutService/GetVoucher"])
    assert allowed(patterns, C + "GetVoucher")
    assert not allowed(patterns, C + "GetRedemption")


@pytest.mark.parametrize(
    ("metadata", "token"),
    [
        ((), None),
        ((("authorization", "Bearer abc"),), "abc"),
        ((("authorization", "bearer  abc "),), "abc"),
        ((("authorization", "Basic abc"),), ""),
        ((("authorization", "Bearer a"), ("authorization", "Bearer b")), ""),
        ((("authorization-bin", b"x"),), None),
    ],
)
def test_bearer_token_parsing(metadata: tuple[tuple[str, object], ...], token: str | None) -> None:
    """One Bearer entry yields its token; other schemes or repeats yield '' (refused), none yields None."""
    assert bearer_token(metadata) == token


def test_public_surfaces_are_pinned() -> None:
    """The names others import from the security package and the client package."""
    assert set(security.__all__) >= {
        "build_security", "SecurityConfig", "Security", "caller_id", "GuessingGuard", "LookupOutcome",
        "GateInterceptor", "new_key", "hash_key", "KeyFile", "server_credentials",
    }  # fmt: skip
    assert set(client.__all__) == {
        "RETRIED_SERVICES", "AsyncGatewayClient", "ChannelSettings", "FieldViolation", "GatewayClient",
        "GatewayError", "Rejection", "cart_line", "cart_with_lines", "from_rpc_error", "money",
        "returned_line", "service_config", "simple_cart",
    }  # fmt: skip
    for name in security.__all__:
        assert hasattr(security, name)
