"""The switch model: defaults, documents, and the refusal of unknown switches and bad values."""

from __future__ import annotations

from typing import Any

import pytest

from vouchery_sandbox import SandboxConfig, create_app
from vouchery_sandbox.contract import DEFAULT_CONTRACT, EARN_SPEND, ContractError, ContractSwitches
from vouchery_sandbox.routes import ROUTE_NAMES, ROUTER, router_for

DEFAULTS = {
    "transaction_id_scope": "project",
    "redemption_customer": "both",
    "cancel_answer": "redemption",
    "me_role": "display",
    "me_shape": "flat",
    "unknown_fields": "refuse",
    "activity_order": "oldest_first",
    "activity_reason": "kept",
    "activity_types": {},
    "missing_route": "envelope",
    "moved_routes": {},
    "renamed_answer_fields": {},
}


def test_defaults_are_the_sandbox_guesses() -> None:
    """Every switch and its default, exactly; the default router is the route table itself."""
    assert ContractSwitches().to_json() == DEFAULTS
    assert DEFAULT_CONTRACT.changed() == {}
    assert router_for(DEFAULT_CONTRACT) is ROUTER


def test_a_document_names_only_what_it_changes() -> None:
    """Unnamed switches keep their defaults; `changed` reports only the named ones."""
    switches = ContractSwitches.from_json(
        {
            "cancel_answer": "no_content",
            "renamed_answer_fields": {"revoke_points": {"loyalty_points": "balance"}},
        }
    )
    assert switches.to_json() == {
        **DEFAULTS,
        "cancel_answer": "no_content",
        "renamed_answer_fields": {"revoke_points": {"loyalty_points": "balance"}},
    }
    assert switches.changed() == {
        "cancel_answer": "no_content",
        "renamed_answer_fields": {"revoke_points": {"loyalty_points": "balance"}},
    }
    assert ContractSwitches.from_json(None) == DEFAULT_CONTRACT
    assert ContractSwitches.from_json(switches) is switches


def test_earn_spend_preset() -> None:
    """``activity_types: "earn_spend"`` answers credits as earn and debits as spend."""
    assert dict(ContractSwitches(activity_types="earn_spend").activity_types) == dict(EARN_SPEND)  # type: ignore[arg-type]
    assert ContractSwitches(activity_types={"use": "spend"}).activity_types == {"use": "spend"}


@pytest.mark.parametrize(
    ("document", "switch", "words"),
    [
        ({"transaction_scope": "none"}, "transaction_scope", "unknown switch"),
        ({"transaction_id_scope": "global"}, "transaction_id_scope", "'global' is not one of"),
        ({"cancel_answer": 204}, "cancel_answer", "is not one of: redemption, empty, no_content"),
        ({"missing_route": "json"}, "missing_route", "envelope, text, html, empty"),
        ({"me_shape": None}, "me_shape", "is not one of"),
        ({"activity_types": "debit_credit"}, "activity_types", "not 'earn_spend'"),
        ({"activity_types": {"bonus": "earn"}}, "activity_types.bonus", "not an activity type"),
        ({"activity_types": {"use": ""}}, "activity_types.use", "not a type name"),
        (
            {"moved_routes": {"get_redemption": "redemptions/x"}},
            "moved_routes.get_redemption",
            "path template",
        ),
        ({"moved_routes": {"get_redemption": "FETCH /x"}}, "moved_routes.get_redemption", "method 'FETCH'"),
        ({"moved_routes": ["get_redemption"]}, "moved_routes", "must be an object"),
        (
            {"renamed_answer_fields": {"revoke_points": {}}},
            "renamed_answer_fields.revoke_points",
            "non-empty",
        ),
        (
            {"renamed_answer_fields": {"revoke_points": {"points": "x", "loyalty_points": "x"}}},
            "renamed_answer_fields.revoke_points",
            "same name",
        ),
        ([1, 2], "contract", "JSON object"),
    ],
)
def test_bad_documents_are_refused_naming_the_switch(document: Any, switch: str, words: str) -> None:
    with pytest.raises(ContractError) as caught:
        ContractSwitches.from_json(document)
    assert caught.value.switch == switch
    assert words in caught.value.message
    assert switch in str(caught.value)


@pytest.mark.parametrize(
    ("document", "switch", "words"),
    [
        (
            {"moved_routes": {"read_by_transaction": "/x"}},
            "moved_routes.read_by_transaction",
            "unknown route",
        ),
        ({"renamed_answer_fields": {"revoke": {"a": "b"}}}, "renamed_answer_fields.revoke", "unknown route"),
        (
            {"moved_routes": {"get_redemption_by_id": "/r/{rid}"}},
            "moved_routes.get_redemption_by_id",
            "['id']",
        ),
        ({"moved_routes": {"points_activity": "/a/{x}/{x}"}}, "moved_routes.points_activity", "twice"),
        (
            {
                "moved_routes": {
                    "points_activity": "/same/{identifier}",
                    "points_expirations": "/same/{identifier}",
                }
            },
            "moved_routes",
            "same method and path",
        ),
    ],
)
def test_route_switches_are_checked_against_the_router(document: Any, switch: str, words: str) -> None:
    """Route names must be the router's; a moved path keeps the route's placeholders."""
    with pytest.raises(ContractError) as caught:
        router_for(ContractSwitches.from_json(document))
    assert (caught.value.switch, words in caught.value.message) == (switch, True)


def test_a_bad_contract_in_the_configuration_is_a_value_error() -> None:
    """`create_app` refuses a bad contract before serving anything, naming the switch."""
    with pytest.raises(ValueError, match="contract switch 'unknown_fields'"):
        create_app(SandboxConfig(contract={"unknown_fields": "warn"}))
    with pytest.raises(ValueError, match=r"moved_routes\.nope"):
        create_app(SandboxConfig(contract={"moved_routes": {"nope": "/x"}}))


def test_route_names_include_the_gateway_names() -> None:
    """The names tests use for the gateway's routes exist in the sandbox router."""
    assert {
        "me",
        "create_redemption",
        "validate_voucher",
        "confirm_redemption",
        "cancel_redemption",
        "get_redemption",
        "get_redemption_by_id",
        "get_voucher",
        "grant_points",
        "revoke_points",
        "exchange_points",
        "points_activity",
        "points_expirations",
        "create_transaction",
    } <= ROUTE_NAMES
    assert len(ROUTE_NAMES) == len(ROUTER.routes)
