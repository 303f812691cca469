"""`vouchery-gateway call ...`: a command-line client of the checkout API, for people and scripts.

    vouchery-gateway call validate --code SAVE10 --total 25.00 --currency EUR --line SHIRT-1:2:12.50
    vouchery-gateway call redeem --code SAVE10 --total 25.00 --currency EUR --transaction-id T1 [--confirm]
    vouchery-gateway call confirm --transaction-id T1
    vouchery-gateway call --json get-voucher --code GIFT-50
    vouchery-gateway call redeem-basket --transaction-id S1 --code SAVE10 --code GIFT-50 \
        --line SHIRT:2:15.00 --line SHOES:1:20.00                                 # several codes, one sale

A gateway that checks callers and encrypts its port (docs/security.md):

    vouchery-gateway call --api-key-file till.key --tls-ca ca.pem --target gw.store-12:50051 confirm ...
    VOUCHERY_GATEWAY_CALL_API_KEY="$(cat till.key)" vouchery-gateway call --tls-ca ca.pem ...
    vouchery-gateway call --tls-ca ca.pem --tls-cert till.pem --tls-key till.key confirm ...    # mTLS

The key is sent as `authorization: Bearer <key>`; it comes from `--api-key-file` (the file's first line),
or `--api-key` (discouraged: a flag's value shows in process lists and shell history), else the
environment variable `VOUCHERY_GATEWAY_CALL_API_KEY`. `--tls-ca` (or `--tls` for the system's trust store)
switches to TLS; `--tls-cert` / `--tls-key` add a client certificate for mutual TLS.

Amounts are typed as decimals in the currency's unit (25.00) and sent as exact minor units (more places
than the currency has is refused, never rounded). Answers are printed readably, or as JSON with `--json`
(int64 amounts as strings); an error prints its code, reason and message (and every bad field) and exits
1; a voucher that is not valid, or a basket with a refused code, exits 3; a value that cannot become a
request exits 2 before anything is sent. The basket subcommands are in call_baskets.py, the loyalty and
customer ones in call_loyalty.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, TextIO

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc, common_pb2
from vouchery_gateway.cli.call_baskets import (
    add_basket_rpcs,
    basket_refused,
    basket_request_for,
    print_basket_answer,
)
from vouchery_gateway.cli.call_common import (
    UsageError,
    add_cart_options,
    build_cart,
    money_text,
    rejection_text,
)
from vouchery_gateway.cli.call_loyalty import (
    add_loyalty_rpcs,
    loyalty_request_for,
    print_loyalty_answer,
    stub_for,
)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NOT_VALID = 3
API_KEY_ENV: Final = "VOUCHERY_GATEWAY_CALL_API_KEY"
MAX_KEY_FILE_BYTES: Final = 4096


def add_call_parser(commands: Any) -> None:
    parser = commands.add_parser("call", help="call a running gateway")
    parser.add_argument("--target", default="127.0.0.1:50051", help="gateway address host:port")
    parser.add_argument("--timeout", type=float, default=5.0, help="deadline of the call, seconds")
    parser.add_argument("--json", action="store_true", help="print the answer (or error) as JSON")
    add_auth_options(parser)
    rpcs = parser.add_subparsers(dest="rpc", required=True, metavar="RPC")
    for name, with_tx in (("validate", False), ("redeem", True)):
        sub = rpcs.add_parser(name, help=f"{name} a voucher for a cart")
        sub.add_argument("--code", required=True, help="voucher code")
        add_cart_options(sub)
        sub.add_argument("--customer", default="", help="customer id")
        sub.add_argument("--transaction-id", required=with_tx, default="", help="POS transaction id")
        if with_tx:
            sub.add_argument("--confirm", action="store_true", help="confirm in one step")
    for name in ("confirm", "cancel", "get-redemption"):
        sub = rpcs.add_parser(name, help=f"{name} the redemption of a transaction")
        sub.add_argument("--transaction-id", required=True, help="POS transaction id")
    sub = rpcs.add_parser("get-voucher", help="read a voucher")
    sub.add_argument("--code", required=True, help="voucher code")
    add_basket_rpcs(rpcs)
    add_loyalty_rpcs(rpcs)
    parser.set_defaults(handler=cmd_call)


def add_auth_options(parser: Any) -> None:
    """Caller key and TLS options (see the module docstring)."""
    auth = parser.add_argument_group("caller authentication and TLS")
    auth.add_argument(
        "--api-key-file", metavar="FILE", help=f"file holding the caller's API key (or env {API_KEY_ENV})"
    )
    auth.add_argument(
        "--api-key", metavar="KEY", help="the API key itself: discouraged (visible to other users)"
    )
    auth.add_argument("--tls", action="store_true", help="use TLS, trusting the system's CAs")
    auth.add_argument("--tls-ca", metavar="FILE", help="use TLS, trusting this CA certificate (PEM)")
    auth.add_argument("--tls-cert", metavar="FILE", help="client certificate for mutual TLS (PEM)")
    auth.add_argument("--tls-key", metavar="FILE", help="private key of --tls-cert (PEM)")
    auth.add_argument("--tls-server-name", metavar="NAME", help="name expected in the gateway's certificate")


def read_file(path: str, what: str, *, limit: int | None = None) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{what} {path!r} cannot be read ({exc.strerror or exc})") from None
    if not data.strip() or (limit is not None and len(data) > limit):
        raise UsageError(f"{what} {path!r} is empty or too large")
    return data


def api_key(args: argparse.Namespace, environ: Mapping[str, str]) -> str | None:
    """The caller's key: --api-key-file or --api-key, else the environment; None to call without one."""
    if args.api_key_file and args.api_key:
        raise UsageError("give the API key once: --api-key-file or --api-key, not both")
    if args.api_key_file:
        lines = read_file(args.api_key_file, "--api-key-file", limit=MAX_KEY_FILE_BYTES).splitlines()
        key = next((line.strip() for line in lines if line.strip()), b"")
        try:
            text = key.decode("ascii")
        except UnicodeDecodeError:
            raise UsageError(f"--api-key-file {args.api_key_file!r} does not hold a key") from None
    else:
        text = (args.api_key or environ.get(API_KEY_ENV) or "").strip()
    if not text.isprintable() or " " in text:
        raise UsageError("the API key holds characters a key cannot have")  # never echo the key
    return text or None


def channel_credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    """TLS credentials from the --tls* options, or None for a plaintext channel."""
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if not (args.tls or args.tls_ca or args.tls_cert):
        if args.tls_server_name:
            raise UsageError("--tls-server-name needs TLS (--tls or --tls-ca)")
        return None
    ca = read_file(args.tls_ca, "--tls-ca") if args.tls_ca else None
    cert = read_file(args.tls_cert, "--tls-cert") if args.tls_cert else None
    key = read_file(args.tls_key, "--tls-key") if args.tls_key else None
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


def open_channel(args: argparse.Namespace) -> grpc.Channel:
    credentials = channel_credentials(args)
    if credentials is None:
        return grpc.insecure_channel(args.target)
    options = [("grpc.ssl_target_name_override", args.tls_server_name)] if args.tls_server_name else []
    return grpc.secure_channel(args.target, credentials, options=options)


def request_for(args: argparse.Namespace) -> tuple[str, Message]:
    """The stub method name and request message of the chosen RPC."""
    found = basket_request_for(args, build_cart) or loyalty_request_for(args, build_cart)
    if found is not None:
        return found
    if args.rpc == "validate":
        return "ValidateVoucher", checkout_pb2.ValidateVoucherRequest(
            voucher_code=args.code, cart=build_cart(args), customer_id=args.customer,
            transaction_id=args.transaction_id, user_agent="vouchery-gateway-cli",
        )  # fmt: skip
    if args.rpc == "redeem":
        return "RedeemVoucher", checkout_pb2.RedeemVoucherRequest(
            transaction_id=args.transaction_id, voucher_code=args.code, cart=build_cart(args),
            customer_id=args.customer, confirm=args.confirm, user_agent="vouchery-gateway-cli",
        )  # fmt: skip
    if args.rpc == "get-voucher":
        return "GetVoucher", checkout_pb2.GetVoucherRequest(voucher_code=args.code)
    message_types = {
        "confirm": ("ConfirmRedemption", checkout_pb2.ConfirmRedemptionRequest),
        "cancel": ("CancelRedemption", checkout_pb2.CancelRedemptionRequest),
        "get-redemption": ("GetRedemption", checkout_pb2.GetRedemptionRequest),
    }
    method, message_type = message_types[args.rpc]
    return method, message_type(transaction_id=args.transaction_id)


def cmd_call(args: argparse.Namespace, out: TextIO, environ: Mapping[str, str] | None = None) -> int:
    try:
        method, request = request_for(args)
        key = api_key(args, os.environ if environ is None else environ)
        channel = open_channel(args)
    except UsageError as exc:
        print(f"vouchery-gateway call: {exc}", file=sys.stderr)
        return EXIT_USAGE
    metadata = (("authorization", f"Bearer {key}"),) if key else ()
    with channel:
        stub = stub_for(method, channel) or checkout_pb2_grpc.CheckoutServiceStub(channel)  # type: ignore[no-untyped-call]
        try:
            answer = getattr(stub, method)(request, timeout=args.timeout, metadata=metadata)
        except grpc.RpcError as exc:
            print_error(exc, args.json, out)
            return EXIT_ERROR
    if args.json:
        print(json_format.MessageToJson(answer, preserving_proto_field_name=True, indent=2), file=out)
    else:
        print_answer(answer, out)
    if isinstance(answer, checkout_pb2.ValidateVoucherResponse) and not answer.valid:
        return EXIT_NOT_VALID
    if basket_refused(answer):
        return EXIT_NOT_VALID
    return 0


def error_fields(error: grpc.RpcError) -> dict[str, Any]:
    """Code, message, reason and bad fields of an error answer (from its google.rpc.Status details)."""
    fields: dict[str, Any] = {"code": error.code().name, "message": error.details() or ""}
    status = rpc_status.from_call(error)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        bad = error_details_pb2.BadRequest()
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            fields["reason"] = info.reason
            fields.update({f"metadata.{k}": v for k, v in info.metadata.items()})
        elif detail.Unpack(bad):
            fields["violations"] = [
                {"field": v.field, "description": v.description} for v in bad.field_violations
            ]
        elif detail.Unpack(retry):
            fields["retry_after_seconds"] = retry.retry_delay.ToTimedelta().total_seconds()
    return fields


def print_error(error: grpc.RpcError, as_json: bool, out: TextIO) -> None:
    fields = error_fields(error)
    if as_json:
        print(json.dumps({"error": fields}, indent=2), file=out)
        return
    reason = f" {fields['reason']}" if "reason" in fields else ""
    print(f"error: {fields['code']}{reason}: {fields['message']}", file=out)
    for violation in fields.get("violations", []):
        print(f"  {violation['field']}: {violation['description']}", file=out)
    if "retry_after_seconds" in fields:
        print(f"  retry after {fields['retry_after_seconds']:g}s", file=out)


def print_answer(answer: Message, out: TextIO) -> None:
    if print_loyalty_answer(answer, out) or print_basket_answer(answer, out):
        return
    if isinstance(answer, checkout_pb2.ValidateVoucherResponse):
        if answer.valid:
            preview = answer.redemption
            print("valid: yes", file=out)
            print("  a check only: nothing is reserved (redeem to reserve it)", file=out)
            print(f"  voucher : {preview.voucher_code}", file=out)
            print(f"  total   : {money_text(preview.total)}", file=out)
            print(f"  discount: {money_text(preview.discount)} (if redeemed now)", file=out)
            if preview.shipping_discount.amount:
                print(f"  shipping discount: {money_text(preview.shipping_discount)}", file=out)
        else:
            print(f"valid: no - {rejection_text(answer.rejection)}", file=out)
    elif isinstance(answer, checkout_pb2.GetVoucherResponse):
        voucher = answer.voucher
        print(
            f"voucher {voucher.code}: {voucher.status or '-'} (active: {'yes' if voucher.active else 'no'})",
            file=out,
        )
        if voucher.HasField("campaign"):
            print(f"  campaign: {voucher.campaign.name} ({voucher.campaign.currency_code})", file=out)
        if voucher.HasField("gift_card_value_left"):
            left = voucher.gift_card_value_left
            can_pay = "yes" if voucher.active and left.amount > 0 else "no"
            print(f"  gift card value left: {money_text(left)} (can pay: {can_pay})", file=out)
    else:
        print_redemption(answer.redemption, out)  # type: ignore[attr-defined]


def print_redemption(redemption: common_pb2.Redemption, out: TextIO) -> None:
    state = common_pb2.RedemptionState.Name(redemption.state).removeprefix("REDEMPTION_STATE_")
    sync = common_pb2.SyncState.Name(redemption.sync_state).removeprefix("SYNC_STATE_")
    ident = f" #{redemption.id}" if redemption.HasField("id") else ""
    print(f"redemption{ident} of {redemption.transaction_id or '-'}: {state} (sync: {sync})", file=out)
    print(f"  voucher : {redemption.voucher_code}", file=out)
    print(f"  total   : {money_text(redemption.total)}", file=out)
    print(f"  discount: {money_text(redemption.discount)}", file=out)
    if redemption.shipping_discount.amount:
        print(f"  shipping discount: {money_text(redemption.shipping_discount)}", file=out)
    if redemption.sync_error:
        print(f"  sync error: {redemption.sync_error}", file=out)
