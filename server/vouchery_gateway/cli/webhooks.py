"""`vouchery-gateway webhooks subscribe|list|verify|delete`: the gateway's subscription in Vouchery.

    vouchery-gateway webhooks subscribe --callback-base https://gateway.example.com:8443
    vouchery-gateway webhooks list
    vouchery-gateway webhooks verify --id 7
    vouchery-gateway webhooks delete --id 7

`subscribe` registers `<callback base>/webhooks/<webhook_secret>/<nonce>` for the events that touch the
gateway's caches, stores the verification code Vouchery returns in the shared store under `<nonce>` (so
whichever replica Vouchery reaches answers its GET with it), and asks Vouchery to verify. The receiver
must be running and reachable at the callback base. Re-running it is safe: an active subscription of
this gateway (same base and secret) is kept as it is, an unverified one is verified again, and nothing is
created past Vouchery's limit of 10 subscriptions per project. The secret never appears in the output:
callback URLs are shown with `***` in its place.

Settings come as for `serve` (flags, `VOUCHERY_GATEWAY_*`, `--config`): the Vouchery URL and API key,
`webhook_secret`, and the store. Exit codes: 0 done; 1 Vouchery or the store refused or could not be
reached (the message says which); 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from pathlib import Path
from typing import Any, Final, TextIO
from urllib.parse import urlsplit

from vouchery_gateway.config import ENV_PREFIX, ConfigError, Settings, load_settings

__all__ = ["add_webhooks_parser"]

EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
SUBSCRIPTION_LIMIT: Final = 10
TIMEOUT: Final = 10.0


class WebhookCommandError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_webhooks_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "webhooks",
        help="manage the gateway's webhook subscription in Vouchery",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog=f"Settings as for serve: {ENV_PREFIX}UPSTREAM_URL, {ENV_PREFIX}UPSTREAM_API_KEY, "
        f"{ENV_PREFIX}WEBHOOK_SECRET, {ENV_PREFIX}STORE, or --config.",
    )
    sub = parser.add_subparsers(dest="webhooks_command", required=True, metavar="WEBHOOKS_COMMAND")
    subscribe = sub.add_parser("subscribe", help="subscribe this gateway (idempotent) and verify it")
    subscribe.add_argument(
        "--callback-base",
        required=True,
        help="where Vouchery reaches the receiver, e.g. https://gw.example:8443",
    )
    subscribe.add_argument(
        "--events", default="", help="comma-separated event types (default: every one that touches a cache)"
    )
    listing = sub.add_parser("list", help="the project's subscriptions (secrets hidden)")
    verify = sub.add_parser("verify", help="ask Vouchery to verify a subscription of this gateway again")
    verify.add_argument("--id", type=int, required=True, dest="subscription_id")
    delete = sub.add_parser("delete", help="remove a subscription")
    delete.add_argument("--id", type=int, required=True, dest="subscription_id")
    for command in (subscribe, listing, verify, delete):
        command.add_argument("--config", type=Path, default=None, help="the gateway's TOML file")
        command.add_argument("--upstream-url", default=None, help="Vouchery API base URL (…/api/v2.1)")
        command.add_argument(
            "--upstream-api-key-file", default=None, help="file holding the Vouchery API key"
        )
        command.add_argument(
            "--store", default=None, help="the store the gateway uses (default: its data dir)"
        )
        command.add_argument("--data-dir", default=None, help="the gateway's data dir")
        command.set_defaults(handler=cmd_webhooks)


def cmd_webhooks(args: argparse.Namespace, out: TextIO) -> int:
    try:
        settings = load_settings(
            config_file=args.config,
            environ=dict(os.environ),
            overrides={
                "upstream_url": args.upstream_url,
                "upstream_api_key_file": args.upstream_api_key_file,
                "store": args.store,
                "data_dir": args.data_dir,
            },
        )
    except ConfigError as exc:
        print(f"vouchery-gateway webhooks: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not settings.upstream_url or not settings.upstream_api_key:
        print(
            "vouchery-gateway webhooks: needs the Vouchery URL (--upstream-url) and API key "
            f"({ENV_PREFIX}UPSTREAM_API_KEY or --upstream-api-key-file)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        return asyncio.run(_run(settings, args, out))
    except WebhookCommandError as exc:
        print(f"vouchery-gateway webhooks {args.webhooks_command}: {exc}", file=sys.stderr)
        return exc.exit_code


async def _run(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    from vouchery_gateway.app.gateway import route_table, upstream_verify
    from vouchery_gateway.upstream.client import VoucheryClient

    client = VoucheryClient(
        settings.upstream_url,
        settings.upstream_api_key,
        routes=route_table(settings),
        verify=upstream_verify(settings),
    )
    try:
        command = args.webhooks_command
        if command == "list":
            return await _list(client, settings, out)
        if command == "delete":
            await _upstream(client.delete_subscription(args.subscription_id, timeout=TIMEOUT))
            print(f"subscription {args.subscription_id} deleted", file=out)
            return 0
        secret = _secret(settings)
        if command == "verify":
            found = await _upstream(client.get_subscription(args.subscription_id, timeout=TIMEOUT))
            return await _verify(client, settings, found, secret, out)
        return await _subscribe(client, settings, args, secret, out)
    finally:
        await client.aclose()


async def _subscribe(
    client: Any, settings: Settings, args: argparse.Namespace, secret: str, out: TextIO
) -> int:
    from vouchery_gateway.webhooks.events import KNOWN_EVENTS, SUBSCRIBED_EVENTS

    base = _callback_base(args.callback_base)
    events = tuple(e.strip() for e in args.events.split(",") if e.strip()) or SUBSCRIBED_EVENTS
    unknown = sorted(set(events) - KNOWN_EVENTS)
    if unknown:
        raise WebhookCommandError(f"unknown event types: {', '.join(unknown)}", EXIT_USAGE)
    prefix = f"{base}/webhooks/{secret}/"
    existing = await _upstream(client.list_subscriptions(timeout=TIMEOUT))
    mine = [s for s in existing if s.callback_url.startswith(prefix)]
    for found in mine:
        if found.active and found.url_verified:
            missing = sorted(set(events) - set(found.events))
            note = f"; it lacks {', '.join(missing)} (delete it and subscribe again)" if missing else ""
            print(f"already subscribed: subscription {found.id} is active{note}", file=out)
            return 0
    if mine:
        return await _verify(client, settings, mine[0], secret, out)
    if len(existing) >= SUBSCRIPTION_LIMIT:
        raise WebhookCommandError(
            f"Vouchery allows {SUBSCRIPTION_LIMIT} subscriptions per project and {len(existing)} exist; "
            "delete one first (vouchery-gateway webhooks list / delete --id N)"
        )
    nonce = secrets.token_urlsafe(12)
    created = await _upstream(client.create_subscription(prefix + nonce, events, timeout=TIMEOUT))
    print(f"subscription {created.id} created for {len(created.events)} event types", file=out)
    return await _verify(client, settings, created, secret, out)


async def _verify(client: Any, settings: Settings, found: Any, secret: str, out: TextIO) -> int:
    from vouchery_gateway.errors import GatewayError

    marker = f"/webhooks/{secret}/"
    if marker not in found.callback_url:
        raise WebhookCommandError(f"subscription {found.id} is not this gateway's (another callback URL)")
    nonce = found.callback_url.split(marker, 1)[1].strip("/")
    if not found.verification_code:
        raise WebhookCommandError(f"Vouchery did not say the verification code of subscription {found.id}")
    await _remember(settings, nonce, found.verification_code)
    try:
        await client.verify_subscription(found.id, timeout=TIMEOUT)
    except GatewayError as exc:
        raise WebhookCommandError(
            f"Vouchery could not verify subscription {found.id} ({exc.reason}): is the receiver running "
            f"(webhook_port) and reachable at {_shown(found.callback_url, secret)}? Then run "
            f"`vouchery-gateway webhooks verify --id {found.id}`"
        ) from None
    print(
        f"subscription {found.id} verified: Vouchery delivers to {_shown(found.callback_url, secret)}",
        file=out,
    )
    return 0


async def _remember(settings: Settings, nonce: str, code: str) -> None:
    """Store the verification code where every replica's receiver finds it."""
    from vouchery_gateway.idempotency import StoredOutcome, StoreUnavailable, open_store
    from vouchery_gateway.webhooks.receiver import verification_key

    try:
        store = await open_store(settings.store_url, retention=settings.idempotency_retention)
    except (StoreUnavailable, ValueError) as exc:
        raise WebhookCommandError(f"the store cannot be opened: {exc}") from None
    try:
        key = verification_key(nonce)
        claim = await store.claim(
            key, "webhook-verification", owner="webhooks-cli", lease_until=store.clock() + 60
        )
        if claim.claimed:
            await store.complete(
                key, owner="webhooks-cli", outcome=StoredOutcome(code.encode(), "verification")
            )
        elif claim.record.outcome is None or claim.record.outcome.body != code.encode():
            raise WebhookCommandError(f"the store already holds another verification code for {nonce!r}")
    except StoreUnavailable as exc:
        raise WebhookCommandError(f"the store cannot be written: {exc}") from None
    finally:
        await store.close()


async def _list(client: Any, settings: Settings, out: TextIO) -> int:
    found = await _upstream(client.list_subscriptions(timeout=TIMEOUT))
    secret = settings.webhook_secret
    if not found:
        print("no subscriptions", file=out)
    for item in found:
        state = "active" if item.active and item.url_verified else "not verified"
        url = _shown(item.callback_url, secret) if secret else item.callback_url
        print(f"{item.id:>6}  {state:<12}  {len(item.events):>2} events  {url}", file=out)
    print(f"{len(found)} of {SUBSCRIPTION_LIMIT} subscriptions used", file=out)
    return 0


async def _upstream(call: Any) -> Any:
    from vouchery_gateway.errors import GatewayError

    try:
        return await call
    except GatewayError as exc:
        raise WebhookCommandError(f"Vouchery: {exc.reason}: {exc}") from None


def _secret(settings: Settings) -> str:
    secret = settings.webhook_secret
    if len(secret) < 32:
        raise WebhookCommandError(
            f"needs the receiver's webhook_secret ({ENV_PREFIX}WEBHOOK_SECRET or webhook_secret_file)",
            EXIT_USAGE,
        )
    return secret


def _callback_base(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise WebhookCommandError(
            "--callback-base must be an http(s) URL such as https://gw.example:8443", EXIT_USAGE
        )
    return value.rstrip("/")


def _shown(url: str, secret: str) -> str:
    return url.replace(secret, "***") if secret else url
