"""The sandbox package's public surface, pinned so changes to it are deliberate."""

from __future__ import annotations

import httpx

import vouchery_sandbox
from vouchery_sandbox import DEMO_CODES, REJECTIONS, testing
from vouchery_sandbox.errors import DOCUMENTED_REJECTIONS
from vouchery_sandbox.routes import ROUTES


def test_public_names() -> None:
    """The package exports exactly these names."""
    assert set(vouchery_sandbox.__all__) == {
        "DEMO_CODES",
        "DEMO_CUSTOMERS",
        "REJECTIONS",
        "ConnectionDropped",
        "Role",
        "SandboxApp",
        "SandboxConfig",
        "WebhookSettings",
        "create_app",
    }
    assert sorted(testing.__all__) == ["CallbackServer", "SandboxAdmin", "SandboxProcess", "SandboxServer"]


def test_documented_rejections_are_in_the_table() -> None:
    """Every rejection Vouchery documents has its verbatim message."""
    assert set(REJECTIONS) >= DOCUMENTED_REJECTIONS
    assert REJECTIONS["1003"] == "Voucher assigned to a different customer"


def test_every_route_is_unique_and_grouped() -> None:
    """No two routes share a method and pattern; each belongs to a fault group."""
    keys = [(r.method, r.pattern) for r in ROUTES]
    assert len(keys) == len(set(keys))
    assert {r.group for r in ROUTES} == {
        "redemptions",
        "vouchers",
        "customers",
        "loyalty",
        "campaigns",
        "subscriptions",
        "me",
    }


async def test_demo_codes_exist_after_seeding(api: httpx.AsyncClient) -> None:
    """Every code the CLI prints for the demo fixture exists in it."""
    for code in DEMO_CODES:
        assert (await api.get(f"/vouchers/{code}")).status_code == 200, code
