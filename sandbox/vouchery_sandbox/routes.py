"""Every ``/api/v2.1`` route, its route group (for fault switches) and point-of-sale access.

Point-of-sale keys may use the redemption routes (create, validate, confirm, cancel, read, update,
lists), read vouchers and ``GET /me``; everything else is 403 for them. Reader keys may use every GET.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final

from .contract import ContractError, ContractSwitches
from .handlers import campaigns as c
from .handlers import customers as cu
from .handlers import loyalty as lo
from .handlers import redemptions as r
from .handlers import subscriptions as su
from .handlers import vouchers as v
from .routing import Route, Router

RD, VO, CU, LO, CA, SU = "redemptions", "vouchers", "customers", "loyalty", "campaigns", "subscriptions"

ROUTES: Final = (
    Route("me", "GET", "/me", c.me, "me", pos=True),
    # redemptions: literal paths before /redemptions/{id}
    Route("confirm_redemption", "PUT", "/redemptions/confirm", r.confirm_by_transaction, RD, pos=True),
    Route("get_redemption", "GET", "/redemptions/transaction", r.get_by_transaction, RD, pos=True),
    Route("list_cancelled_redemptions", "GET", "/redemptions/cancelled", r.list_cancelled, RD, pos=True),
    Route("list_redemptions", "GET", "/redemptions", r.list_live, RD, pos=True),
    Route("cancel_redemption", "DELETE", "/redemptions", r.cancel_by_transaction, RD, pos=True),
    Route("confirm_redemption_by_id", "PUT", "/redemptions/{id:int}/confirm", r.confirm_by_id, RD, pos=True),
    Route("get_redemption_by_id", "GET", "/redemptions/{id:int}", r.get_by_id, RD, pos=True),
    Route("update_redemption", "PUT", "/redemptions/{id:int}", r.update, RD, pos=True),
    Route("cancel_redemption_by_id", "DELETE", "/redemptions/{id:int}", r.cancel_by_id, RD, pos=True),
    Route("list_invalid_redemptions", "GET", "/invalid_redemptions", r.list_invalid, RD, pos=True),
    # vouchers
    Route("create_redemption", "POST", "/vouchers/{code}/redemptions", r.create, RD, pos=True),
    Route("voucher_redemptions", "GET", "/vouchers/{code}/redemptions", r.list_voucher, RD, pos=True),
    Route("validate_voucher", "PUT", "/vouchers/{code}/validate", r.validate, RD, pos=True),
    Route("get_voucher_extended", "GET", "/vouchers/{code}/extended", v.get_extended, VO, pos=True),
    Route("expire_voucher", "PUT", "/vouchers/{code}/expire", v.expire, VO),
    Route("get_voucher", "GET", "/vouchers/{code}", v.get, VO, pos=True),
    # campaigns, their vouchers, rules, rewards and redemption lists
    Route("expire_vouchers", "POST", "/campaigns/vouchers/expire", v.expire_many, VO),
    Route("create_campaign", "POST", "/campaigns", c.create, CA),
    Route("list_campaigns", "GET", "/campaigns", c.list_all, CA),
    Route("get_campaign", "GET", "/campaigns/{id:int}", c.get, CA),
    Route("update_campaign", "PUT", "/campaigns/{id:int}", c.update, CA),
    Route("batch_create_vouchers", "POST", "/campaigns/{id:int}/vouchers/batch", v.batch, VO),
    Route("distribute_vouchers", "GET", "/campaigns/{id:int}/vouchers/distribute", v.distribute, VO),
    Route("create_voucher", "POST", "/campaigns/{id:int}/vouchers", v.create, VO),
    Route("campaign_vouchers", "GET", "/campaigns/{id:int}/vouchers", v.list_campaign, VO),
    Route("generate_voucher_code", "POST", "/campaigns/{id:int}/generate-voucher-code", v.generate, VO),
    Route(
        "campaign_cancelled_redemptions",
        "GET",
        "/campaigns/{id:int}/redemptions/cancelled",
        r.list_campaign_cancelled,
        RD,
        pos=True,
    ),
    Route("campaign_redemptions", "GET", "/campaigns/{id:int}/redemptions", r.list_campaign, RD, pos=True),
    Route(
        "campaign_invalid_redemptions",
        "GET",
        "/campaigns/{id:int}/invalid_redemptions",
        r.list_campaign_invalid,
        RD,
        pos=True,
    ),
    Route("create_reward", "POST", "/campaigns/{id:int}/rewards", c.create_reward, CA),
    Route("campaign_rewards", "GET", "/campaigns/{id:int}/rewards", c.list_rewards, CA),
    Route("create_rule", "POST", "/campaigns/{id:int}/rules", c.create_rule, CA),
    Route("campaign_rules", "GET", "/campaigns/{id:int}/rules", c.list_rules, CA),
    Route("get_reward", "GET", "/rewards/{id:int}", c.get_reward, CA),
    Route("update_reward", "PUT", "/rewards/{id:int}", c.update_reward, CA),
    Route("get_rule", "GET", "/rules/{id:int}", c.get_rule, CA),
    Route("update_rule", "PUT", "/rules/{id:int}", c.update_rule, CA),
    Route("delete_rule", "DELETE", "/rules/{id:int}", c.delete_rule, CA),
    # customers
    Route("create_customer", "POST", "/customers", cu.create, CU),
    Route("list_customers", "GET", "/customers", cu.list_all, CU),
    Route(
        "customer_redemptions", "GET", "/customers/{identifier}/redemptions", r.list_customer, RD, pos=True
    ),
    Route("available_vouchers", "GET", "/customers/{identifier}/available-vouchers", cu.available, CU),
    Route("customer_vouchers", "GET", "/customers/{identifier}/vouchers", cu.assigned, CU),
    Route("assign_vouchers", "PUT", "/customers/{identifier}/vouchers", cu.assign, CU),
    Route("unassign_vouchers", "DELETE", "/customers/{identifier}/vouchers", cu.unassign, CU),
    Route("get_customer", "GET", "/customers/{identifier}", cu.get, CU),
    Route("update_customer", "PUT", "/customers/{identifier}", cu.update, CU),
    Route("delete_customer", "DELETE", "/customers/{identifier}", cu.delete, CU),
    # loyalty and transactions
    Route("bulk_points", "POST", "/loyalty-points/bulk", lo.bulk, LO),
    Route("grant_points", "POST", "/loyalty-points/{identifier}/grant", lo.grant, LO),
    Route("revoke_points", "POST", "/loyalty-points/{identifier}/revoke", lo.revoke, LO),
    Route("exchange_points", "POST", "/loyalty-points/{identifier}/exchange", lo.exchange, LO),
    Route("points_activity", "GET", "/loyalty-points/{identifier}/activity", lo.activity, LO),
    Route("points_expirations", "GET", "/loyalty-points/{identifier}/expirations", lo.expirations, LO),
    Route("create_transaction", "POST", "/transactions", lo.create_transaction, LO),
    # webhooks: the Subscriptions API
    Route("create_subscription", "POST", "/subscriptions", su.create, SU),
    Route("list_subscriptions", "GET", "/subscriptions", su.list_all, SU),
    Route("verify_subscription", "GET", "/subscriptions/{id:int}/verify", su.verify, SU),
    Route("get_subscription", "GET", "/subscriptions/{id:int}", su.get, SU),
    Route("delete_subscription", "DELETE", "/subscriptions/{id:int}", su.delete, SU),
    Route("event_types", "GET", "/event-types", su.event_types, SU),
)

ROUTER: Final = Router(ROUTES)
ROUTE_NAMES: Final = frozenset(r.name for r in ROUTES)
_BY_NAME: Final = {r.name: r for r in ROUTES}
_PLACEHOLDER: Final = re.compile(r"\{(\w+)\}")


def _moved(route: Route, target: str) -> Route:
    """`route` served at `target` (``"/path/{param}"`` or ``"METHOD /path/{param}"``)."""
    switch = f"moved_routes.{route.name}"
    method, _, template = target.rpartition(" ")
    names = _PLACEHOLDER.findall(template)
    if len(names) != len(set(names)):
        raise ContractError(switch, "a placeholder appears twice")
    kinds = route.params
    missing = [name for name in kinds if name not in names]
    if missing:
        raise ContractError(switch, f"the path must keep the route's placeholder(s) {missing}")
    # A numeric parameter keeps its check; placeholders the route does not have become query parameters.
    pattern = _PLACEHOLDER.sub(
        lambda m: f"{{{m.group(1)}:int}}" if kinds.get(m.group(1)) else m.group(0), template
    )
    extra = tuple(name for name in names if name not in kinds)
    return dataclasses.replace(route, method=method or route.method, pattern=pattern, to_query=extra)


def check_contract(contract: ContractSwitches) -> None:
    """Refuse route names the router does not have (the switch is named in the `ContractError`)."""
    for switch in ("moved_routes", "renamed_answer_fields"):
        for name in getattr(contract, switch):
            if name not in ROUTE_NAMES:
                raise ContractError(
                    f"{switch}.{name}", "unknown route name; see the route table in sandbox/README.md"
                )


def router_for(contract: ContractSwitches) -> Router:
    """The router a contract asks for: `ROUTER` itself, or one where moved routes are tried first at
    their new paths (their old paths then match nothing: a missing route)."""
    check_contract(contract)
    if not contract.moved_routes:
        return ROUTER
    moved = [_moved(_BY_NAME[name], target) for name, target in contract.moved_routes.items()]
    keys = [(r.method, r.pattern) for r in moved]
    if len(keys) != len(set(keys)):
        raise ContractError("moved_routes", "two routes are moved to the same method and path")
    return Router([*moved, *(r for r in ROUTES if r.name not in contract.moved_routes)])
