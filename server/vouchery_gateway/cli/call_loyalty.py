"""The loyalty and customer subcommands of `vouchery-gateway call` (plugged into `callcli`).

vouchery-gateway call account --customer alice
vouchery-gateway call activity --customer alice [--page-size 10] [--page-token TOKEN]
vouchery-gateway call grant --customer alice --points 50 --request-id R1 [--reason goodwill]
vouchery-gateway call revoke --customer alice --points 20 --request-id R2
vouchery-gateway call exchange --customer alice --campaign-id 11 --request-id R3
vouchery-gateway call record-transaction --transaction-id T1 --customer alice --total 42.50
vouchery-gateway call customer | customer-vouchers | available-vouchers --customer alice
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, Final, TextIO

import grpc
from google.protobuf.message import Message

from vouchery.gateway.v1 import customer_pb2, customer_pb2_grpc, loyalty_pb2, loyalty_pb2_grpc
from vouchery_gateway.cli.call_common import add_cart_options

LOYALTY_METHODS: Final = frozenset(loyalty_pb2.DESCRIPTOR.services_by_name["LoyaltyService"].methods_by_name)
CUSTOMER_METHODS: Final = frozenset(
    customer_pb2.DESCRIPTOR.services_by_name["CustomerService"].methods_by_name
)


def add_loyalty_rpcs(rpcs: Any) -> None:
    """Add the loyalty and customer subcommands to the `call` subparsers."""
    for name, text in (
        ("account", "read a customer's points balance and expiring points"),
        ("customer", "read a customer"),
        ("available-vouchers", "list the vouchers a customer could use now"),
    ):
        rpcs.add_parser(name, help=text).add_argument("--customer", required=True, help="customer id")
    for name, text in (
        ("activity", "list points movements"),
        ("customer-vouchers", "list assigned vouchers"),
    ):
        sub = rpcs.add_parser(name, help=text)
        sub.add_argument("--customer", required=True, help="customer id")
        sub.add_argument("--page-size", type=int, default=0, help="items per page (1..100)")
        sub.add_argument("--page-token", default="", help="next_page_token of the previous page")
    for name in ("grant", "revoke"):
        sub = rpcs.add_parser(name, help=f"{name} loyalty points (idempotent on --request-id)")
        sub.add_argument("--customer", required=True, help="customer id")
        sub.add_argument("--points", type=int, required=True, help="number of points")
        sub.add_argument("--request-id", required=True, help="idempotency key; reuse it when retrying")
        sub.add_argument("--reason", default="", help="text for the activity log")
    sub = rpcs.add_parser("exchange", help="spend points on a voucher (idempotent on --request-id)")
    sub.add_argument("--customer", required=True, help="customer id")
    sub.add_argument("--campaign-id", type=int, required=True, help="points-shop campaign id")
    sub.add_argument("--request-id", required=True, help="idempotency key; reuse it when retrying")
    sub = rpcs.add_parser("record-transaction", help="record a purchase for earning rules")
    sub.add_argument("--transaction-id", required=True, help="POS transaction id")
    sub.add_argument("--customer", default="", help="customer id (empty: anonymous)")
    add_cart_options(sub)


def loyalty_request_for(
    args: argparse.Namespace, build_cart: Callable[[argparse.Namespace], Any]
) -> tuple[str, Message] | None:
    """The stub method and request of a loyalty / customer subcommand; None for other subcommands."""
    rpc = args.rpc
    if rpc == "account":
        return "GetLoyaltyAccount", loyalty_pb2.GetLoyaltyAccountRequest(customer_id=args.customer)
    if rpc == "customer":
        return "GetCustomer", customer_pb2.GetCustomerRequest(customer_id=args.customer)
    if rpc == "available-vouchers":
        return "ListAvailableVouchers", customer_pb2.ListAvailableVouchersRequest(customer_id=args.customer)
    if rpc in ("activity", "customer-vouchers"):
        paging = {"customer_id": args.customer, "page_size": args.page_size, "page_token": args.page_token}
        if rpc == "activity":
            return "ListPointsActivity", loyalty_pb2.ListPointsActivityRequest(**paging)
        return "ListCustomerVouchers", customer_pb2.ListCustomerVouchersRequest(**paging)
    if rpc in ("grant", "revoke"):
        fields = {"request_id": args.request_id, "customer_id": args.customer, "points": args.points,
                  "reason": args.reason}  # fmt: skip
        if rpc == "grant":
            return "GrantPoints", loyalty_pb2.GrantPointsRequest(**fields)
        return "RevokePoints", loyalty_pb2.RevokePointsRequest(**fields)
    if rpc == "exchange":
        return "ExchangePoints", loyalty_pb2.ExchangePointsRequest(
            request_id=args.request_id, customer_id=args.customer, campaign_id=args.campaign_id
        )
    if rpc == "record-transaction":
        return "RecordTransaction", loyalty_pb2.RecordTransactionRequest(
            transaction_id=args.transaction_id, customer_id=args.customer, cart=build_cart(args)
        )
    return None


def stub_for(method: str, channel: grpc.Channel) -> Any | None:
    """The loyalty or customer stub serving `method`; None for checkout methods."""
    if method in LOYALTY_METHODS:
        return loyalty_pb2_grpc.LoyaltyServiceStub(channel)  # type: ignore[no-untyped-call]
    if method in CUSTOMER_METHODS:
        return customer_pb2_grpc.CustomerServiceStub(channel)  # type: ignore[no-untyped-call]
    return None


def print_loyalty_answer(answer: Message, out: TextIO) -> bool:
    """Print a loyalty or customer answer readably; False when `answer` is not one of theirs."""
    if answer.DESCRIPTOR.file not in (loyalty_pb2.DESCRIPTOR, customer_pb2.DESCRIPTOR):
        return False
    if isinstance(answer, loyalty_pb2.GetLoyaltyAccountResponse):
        account = answer.account
        print(f"customer {account.customer_id}: {account.balance} points", file=out)
        for lot in account.expirations:
            print(f"  {lot.points} expire at {lot.expires_at.ToJsonString()}", file=out)
    elif isinstance(answer, loyalty_pb2.GrantPointsResponse | loyalty_pb2.RevokePointsResponse):
        change = answer.change
        balance = str(change.balance) if change.HasField("balance") else "unknown"
        print(f"customer {change.customer_id}: {change.points:+d} points, balance {balance}", file=out)
    elif isinstance(answer, loyalty_pb2.ExchangePointsResponse):
        print(
            f"voucher {answer.voucher.code} for {answer.points_spent} points, balance {answer.balance}",
            file=out,
        )
    elif isinstance(answer, loyalty_pb2.RecordTransactionResponse):
        earned = str(answer.points_earned) if answer.HasField("points_earned") else "unknown"
        print(f"transaction {answer.transaction_id}: {earned} points earned", file=out)
    elif isinstance(answer, customer_pb2.GetCustomerResponse):
        customer = answer.customer
        print(
            f"customer {customer.customer_id} ({customer.name or '-'}): {customer.loyalty_points} points",
            file=out,
        )
    else:
        _print_list(answer, out)
    return True


def _print_list(answer: Any, out: TextIO) -> None:
    for item in getattr(answer, "activities", ()):
        print(f"  #{item.id} {item.type_name:8} {item.points:+d} -> {item.balance}  {item.reason}", file=out)
    for voucher in getattr(answer, "vouchers", ()):
        print(f"  {voucher.code}: {voucher.status or '-'}", file=out)
    token = getattr(answer, "next_page_token", "")
    if token:
        print(f"next page: --page-token {token}", file=out)
