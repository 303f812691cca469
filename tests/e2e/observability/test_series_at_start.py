"""A gateway that has served nothing yet already exports the series its alerts watch, at zero.

go-grpc-prometheus creates every method's series when the server starts; so does the gateway, so that
the first error of a kind is an increase that `rate()` and `increase()` see, not a new series they miss.
"""

from __future__ import annotations

from tests.support.gateway import GatewayStarter, SettingsFactory


async def test_the_series_alerts_watch_exist_before_the_first_call(
    start_gateway: GatewayStarter, gateway_settings: SettingsFactory
) -> None:
    """Every method x OK and each server-fault code, retries and auth failures per route group, outbox
    failures per delivered kind, all at 0; process metrics present; a 10 s bucket for deadline-less calls."""
    running = await start_gateway(gateway_settings(sandbox=True))
    registry = running.gateway.registry

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    for service, method in (
        ("vouchery.gateway.v1.CheckoutService", "RedeemVoucher"),
        ("vouchery.gateway.v1.CheckoutService", "ReturnItems"),
        ("vouchery.gateway.v1.LoyaltyService", "GrantPoints"),
        ("vouchery.gateway.v1.CustomerService", "GetCustomer"),
        ("grpc.health.v1.Health", "Check"),
    ):
        for code in ("OK", "Unknown", "Internal", "Unavailable", "DeadlineExceeded", "ResourceExhausted"):
            labels = {"grpc_type": "unary", "grpc_service": service, "grpc_method": method, "grpc_code": code}
            assert value("grpc_server_handled_total", **labels) == 0.0, (method, code)
        assert (
            value("grpc_server_started_total", grpc_type="unary", grpc_service=service, grpc_method=method)
            == 0.0
        )
    watch = {"grpc_type": "server_stream", "grpc_service": "grpc.health.v1.Health", "grpc_method": "Watch"}
    assert value("grpc_server_handled_total", **watch, grpc_code="OK") == 0.0
    for group in ("redemptions", "vouchers", "customers", "loyalty", "subscriptions"):
        assert value("vouchery_gateway_upstream_retries_total", route_group=group) == 0.0
        assert value("vouchery_gateway_upstream_auth_failures_total", route_group=group) == 0.0
    for kind in ("redemption.confirm", "redemption.cancel", "loyalty.transaction", "loyalty.grant"):
        assert value("vouchery_gateway_outbox_failures_total", kind=kind) == 0.0
    resident = value("process_resident_memory_bytes")
    assert resident is not None
    assert resident > 0
    redeem = {
        "grpc_type": "unary",
        "grpc_service": "vouchery.gateway.v1.CheckoutService",
        "grpc_method": "RedeemVoucher",
    }
    assert value("grpc_server_handling_seconds_bucket", **redeem, le="10.0") == 0.0
