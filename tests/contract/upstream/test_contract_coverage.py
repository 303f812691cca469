"""The client's tables against the contract and the sandbox: every route served, every answer mapped."""

from __future__ import annotations

import re

import pytest

from tests.support.paths import REPO
from vouchery_gateway.domain import RejectionReason
from vouchery_gateway.errors import InvalidArgument, Rejected
from vouchery_gateway.upstream.errors import FALLBACK_RULE, Envelope, match_rule
from vouchery_gateway.upstream.rejections import REJECTION_REASONS
from vouchery_gateway.upstream.routes import ROUTES, Route
from vouchery_sandbox import errors as sandbox_errors
from vouchery_sandbox.faults import FaultSpec
from vouchery_sandbox.routes import ROUTER

CONTRACT = (REPO / "docs" / "vouchery-contract.md").read_text(encoding="utf-8")
SAMPLE_PARAMS = {"code": "SAVE10", "id": "1", "identifier": "alice"}

# Validation codes the client turns into a typed rejection; every other contract code is INVALID_ARGUMENT.
REDEMPTION_STATE_CODES = {"already_confirmed", "already_cancelled", "expired", "must_be_unique"}


def contract_statuses() -> set[int]:
    """Every HTTP status in the contract's error-envelope table (rows like "| 500/502/503 | ...")."""
    statuses: set[int] = set()
    for cell in re.findall(r"^\| ([1-5][0-9]{2}(?:/[1-5][0-9]{2})*) \| `", CONTRACT, flags=re.MULTILINE):
        statuses.update(int(s) for s in cell.split("/"))
    return statuses


def contract_validation_codes() -> set[str]:
    start = CONTRACT.index("Validation `errors[].code` values used:")
    paragraph = CONTRACT[start : CONTRACT.index("\n\n", start)]
    return set(re.findall(r"`([a-z_]+)`", paragraph.split(":", 1)[1]))


@pytest.mark.parametrize("route", ROUTES.values(), ids=list(ROUTES))
def test_every_client_route_is_served_by_the_sandbox(route: Route) -> None:
    """Each (method, path) of the client's table is a route of the sandbox, in the same route group."""
    path = route.path_for(**{name: SAMPLE_PARAMS[name] for name in route.params})
    found = ROUTER.match(route.method, path)
    assert found is not None, f"{route.method} {path} is not served by the sandbox"
    assert found[0].group == route.group


def test_route_table_is_well_formed() -> None:
    """Names are unique keys, groups and sources come from the fixed sets, paths start with a slash."""
    for name, route in ROUTES.items():
        assert name == route.name
        assert route.path.startswith("/")
        assert route.group in {
            "redemptions",
            "vouchers",
            "customers",
            "loyalty",
            "campaigns",
            "me",
            "subscriptions",
        }
        assert route.source in {"confirmed", "inferred"}
        assert route.method in {"GET", "POST", "PUT", "DELETE"}


def test_every_contract_status_has_its_own_row() -> None:
    """No status the contract lists falls through to the catch-all row."""
    statuses = contract_statuses()
    assert {400, 401, 403, 404, 413, 422, 429, 500, 502, 503} <= statuses
    for status in statuses:
        assert match_rule(status, Envelope(code="invalid")) is not FALLBACK_RULE, status


def test_every_status_the_sandbox_can_emit_has_its_own_row() -> None:
    """The sandbox's envelope statuses and its fault statuses are all mapped on purpose."""
    emitted = set(sandbox_errors._STATUS_MESSAGES) | set(FaultSpec().error_statuses) | {429}
    for status in emitted:
        assert match_rule(status, Envelope(code="unknown_error")) is not FALLBACK_RULE, status


def test_every_contract_validation_code_is_classified_on_purpose() -> None:
    """Each errors[].code of the contract is either a redemption-state rejection or INVALID_ARGUMENT."""
    codes = contract_validation_codes()
    assert codes >= REDEMPTION_STATE_CODES
    for code in codes:
        entry = {"attribute": "transaction_id", "code": code}
        rule = match_rule(422, Envelope(code="invalid", errors=(entry,)))
        expected = Rejected if code in REDEMPTION_STATE_CODES else InvalidArgument
        assert rule.error is expected, code


def test_every_sandbox_rejection_code_is_known_with_the_same_message() -> None:
    """The sandbox's rejection table and the client's agree code by code."""
    assert set(sandbox_errors.REJECTIONS) == set(REJECTION_REASONS)
    for code, message in sandbox_errors.REJECTIONS.items():
        reason, ours = REJECTION_REASONS[code]
        assert reason is not RejectionReason.OTHER
        assert ours == message
