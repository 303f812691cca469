"""Every ``/api/v2.1`` route, its route group (for fault switches) and point-of-sale access.

Point-of-sale keys may use the redemption routes (create, validate, confirm, cancel, read, update,
lists), read vouchers and ``GET /me``; everything else is 403 for them. Reader keys may use every GET.
"""

from __future__ import annotations

from typing import Final

from .handlers import campaigns as c
from .handlers import customers as cu
from .handlers import loyalty as lo
from .handlers import redemptions as r
from .handlers import vouchers as v
from .routing import Route, Router

RD, VO, CU, LO, CA = "redemptions", "vouchers", "customers", "loyalty", "campaigns"

ROUTES: Final = (
    Route("GET", "/me", c.me, "me", pos=True),
    # redemptions: literal paths before /redemptions/{id}
    Route("PUT", "/redemptions/confirm", r.confirm_by_transaction, RD, pos=True),
    Route("GET", "/redemptions/transaction", r.get_by_transaction, RD, pos=True),
    Route("GET", "/redemptions/cancelled", r.list_cancelled, RD, pos=True),
    Route("GET", "/redemptions", r.list_live, RD, pos=True),
    Route("DELETE", "/redemptions", r.cancel_by_transaction, RD, pos=True),
    Route("PUT", "/redemptions/{id:int}/confirm", r.confirm_by_id, RD, pos=True),
    Route("GET", "/redemptions/{id:int}", r.get_by_id, RD, pos=True),
    Route("PUT", "/redemptions/{id:int}", r.update, RD, pos=True),
    Route("DELETE", "/redemptions/{id:int}", r.cancel_by_id, RD, pos=True),
    Route("GET", "/invalid_redemptions", r.list_invalid, RD, pos=True),
    # vouchers
    Route("POST", "/vouchers/{code}/redemptions", r.create, RD, pos=True),
    Route("GET", "/vouchers/{code}/redemptions", r.list_voucher, RD, pos=True),
    Route("PUT", "/vouchers/{code}/validate", r.validate, RD, pos=True),
    Route("GET", "/vouchers/{code}/extended", v.get_extended, VO, pos=True),
    Route("PUT", "/vouchers/{code}/expire", v.expire, VO),
    Route("GET", "/vouchers/{code}", v.get, VO, pos=True),
    # campaigns, their vouchers, rules, rewards and redemption lists
    Route("POST", "/campaigns/vouchers/expire", v.expire_many, VO),
    Route("POST", "/campaigns", c.create, CA),
    Route("GET", "/campaigns", c.list_all, CA),
    Route("GET", "/campaigns/{id:int}", c.get, CA),
    Route("PUT", "/campaigns/{id:int}", c.update, CA),
    Route("POST", "/campaigns/{id:int}/vouchers/batch", v.batch, VO),
    Route("GET", "/campaigns/{id:int}/vouchers/distribute", v.distribute, VO),
    Route("POST", "/campaigns/{id:int}/vouchers", v.create, VO),
    Route("GET", "/campaigns/{id:int}/vouchers", v.list_campaign, VO),
    Route("POST", "/campaigns/{id:int}/generate-voucher-code", v.generate, VO),
    Route("GET", "/campaigns/{id:int}/redemptions/cancelled", r.list_campaign_cancelled, RD, pos=True),
    Route("GET", "/campaigns/{id:int}/redemptions", r.list_campaign, RD, pos=True),
    Route("GET", "/campaigns/{id:int}/invalid_redemptions", r.list_campaign_invalid, RD, pos=True),
    Route("POST", "/campaigns/{id:int}/rewards", c.create_reward, CA),
    Route("GET", "/campaigns/{id:int}/rewards", c.list_rewards, CA),
    Route("POST", "/campaigns/{id:int}/rules", c.create_rule, CA),
    Route("GET", "/campaigns/{id:int}/rules", c.list_rules, CA),
    Route("GET", "/rewards/{id:int}", c.get_reward, CA),
    Route("PUT", "/rewards/{id:int}", c.update_reward, CA),
    Route("GET", "/rules/{id:int}", c.get_rule, CA),
    Route("PUT", "/rules/{id:int}", c.update_rule, CA),
    Route("DELETE", "/rules/{id:int}", c.delete_rule, CA),
    # customers
    Route("POST", "/customers", cu.create, CU),
    Route("GET", "/customers", cu.list_all, CU),
    Route("GET", "/customers/{identifier}/redemptions", r.list_customer, RD, pos=True),
    Route("GET", "/customers/{identifier}/available-vouchers", cu.available, CU),
    Route("GET", "/customers/{identifier}/vouchers", cu.assigned, CU),
    Route("PUT", "/customers/{identifier}/vouchers", cu.assign, CU),
    Route("DELETE", "/customers/{identifier}/vouchers", cu.unassign, CU),
    Route("GET", "/customers/{identifier}", cu.get, CU),
    Route("PUT", "/customers/{identifier}", cu.update, CU),
    Route("DELETE", "/customers/{identifier}", cu.delete, CU),
    # loyalty and transactions
    Route("POST", "/loyalty-points/bulk", lo.bulk, LO),
    Route("POST", "/loyalty-points/{identifier}/grant", lo.grant, LO),
    Route("POST", "/loyalty-points/{identifier}/revoke", lo.revoke, LO),
    Route("POST", "/loyalty-points/{identifier}/exchange", lo.exchange, LO),
    Route("GET", "/loyalty-points/{identifier}/activity", lo.activity, LO),
    Route("GET", "/loyalty-points/{identifier}/expirations", lo.expirations, LO),
    Route("POST", "/transactions", lo.create_transaction, LO),
)

ROUTER: Final = Router(ROUTES)
