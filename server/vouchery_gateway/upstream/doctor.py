"""`vouchery-gateway doctor`: check a live Vouchery project against the route table before go-live.

Each check sends real requests with the gateway's API key and compares the answers with what the
gateway relies on (`routes.ROUTES`, the answer fields `decode` reads, Vouchery's error envelope). A
finding per route says what was sent, what came back and a verdict:

- ``matches``: the route answers as the table expects (an inferred route that provably exists is
  suggested as ``verified = true``);
- ``differs``: how, and, where an override can fix it, the override (a path, a field name);
- ``not checked``: the check needs an option (a voucher, a customer) or ``--write``.

Read-only by default, so it is safe on production. ``--write`` (on a designated test campaign and test
customer only) reserves, reads back, repeats a transaction id, confirms twice, cancels twice, grants and
revokes one point and records a purchase twice; everything it creates is cancelled or reversed where
Vouchery allows and listed. The suggested override file and redacted request/answer pairs (fixtures for
the contract tests) are written where asked. Nothing here raises on a strange answer: a strange answer is
a finding.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, Literal

import httpx
import orjson

from vouchery_gateway.upstream.decode import ME_WRAPPERS
from vouchery_gateway.upstream.overrides import render_routes
from vouchery_gateway.upstream.rejections import clean_message
from vouchery_gateway.upstream.routes import DEFAULT_TABLE, Route, RouteTable, get_path

Verdict = Literal["matches", "differs", "not checked"]
ROLES: Final = frozenset({"Admin", "Point of sale", "Reader"})  # as v2.1's /me names them
MOVEMENT_TYPES: Final = frozenset({"grant", "revoke", "use", "expire", "earn"})
TOLERATED: Final = "tolerated, no override needed"
# A field the gateway reads, and names Vouchery has been seen (or is likely) to use for it instead.
SYNONYMS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "loyalty_points": ("balance", "points_balance", "loyalty_points_balance"),
        "balance": ("loyalty_points", "points_balance", "balance_after"),
        "customer.identifier": ("customer_identifier",),
        "customer_identifier": ("customer.identifier",),
        "reason": ("description", "note", "comment"),
        "type": ("kind", "movement_type", "activity_type"),
        "activity_id": ("id",),
    }
)
ACTIVITY_PAGES: Final = 5
# Where an inferred route may live instead, when its path in the table answers like a missing route:
# v2.0's and the docs' hints, and the shapes seen in similar APIs. The first that answers as the route
# should is suggested as its path.
CANDIDATE_PATHS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "get_redemption": ("/redemptions/by-transaction", "/redemptions/lookup"),
        "points_activity": (
            "/loyalty-points/{identifier}/history",
            "/customers/{identifier}/loyalty-points/activity",
        ),
        "points_expirations": (
            "/loyalty-points/{identifier}/expiring",
            "/customers/{identifier}/loyalty-points/expirations",
        ),
    }
)
NEVER_CHECKED: Final = frozenset(
    {
        "create_subscription",
        "get_subscription",
        "verify_subscription",
        "delete_subscription",
        "update_customer",
    }
)
"""Routes even --write leaves alone: a subscription needs a callback URL Vouchery can reach, and the
heartbeat's customer update is proved by its own deliveries (docs/webhooks.md)."""
_UNCHECKED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "get_voucher_extended": "needs --voucher CODE or --campaign ID",
        "validate_voucher": "needs --voucher CODE or --campaign ID",
        "campaign_vouchers": "needs --campaign ID",
        "exchange_points": "needs --write and --exchange-campaign ID",
        "update_customer": "the webhook heartbeat's write: proved by its own deliveries (docs/webhooks.md)",
        **dict.fromkeys(
            ("create_subscription", "get_subscription", "verify_subscription", "delete_subscription"),
            "checked by `vouchery-gateway webhooks subscribe` (a subscription is a project setting)",
        ),
    }
)


@dataclass
class Finding:
    """One check of one route."""

    route: str
    source: str  # "C" confirmed by the docs, "I" inferred
    sent: str
    got: str
    verdict: Verdict
    how: str = ""
    override: dict[str, Any] = field(default_factory=dict)  # {"verified": True, "answer": {...}, ...}

    def as_json(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "source": self.source,
            "sent": self.sent,
            "got": self.got,
            "verdict": self.verdict,
            "how": self.how,
            "override": self.override,
        }


@dataclass
class Exchange:
    """One request and its answer, redacted, kept as a contract-test fixture."""

    route: str
    method: str
    path: str
    body: Any
    status: int
    headers: dict[str, str]
    answer: Any

    def as_json(self) -> dict[str, Any]:
        return {
            "route": self.route,
            "request": {"method": self.method, "path": self.path, "body": self.body},
            "answer": {"status": self.status, "headers": self.headers, "body": self.answer},
        }


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # what --write made, and what became of it
    error: str = ""  # set when the doctor could not run at all

    @property
    def exit_code(self) -> int:
        if self.error:
            return 2
        return 1 if any(f.verdict == "differs" for f in self.findings) else 0

    def suggested(self, base: RouteTable) -> RouteTable:
        """`base` with every finding's override applied."""
        routes = dict(base.routes)
        for finding in self.findings:
            if finding.override and finding.route in routes:
                routes[finding.route] = _apply(routes[finding.route], finding.override)
        return RouteTable(MappingProxyType(routes), base.rejections, base.source)

    def override_file(self, base: RouteTable) -> str:
        notes = {f.route: f.how for f in self.findings if f.override and f.how}
        return render_routes(self.suggested(base), DEFAULT_TABLE, notes)

    def as_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "error": self.error,
            "findings": [f.as_json() for f in self.findings],
            "created": self.created,
        }


def _apply(route: Route, override: Mapping[str, Any]) -> Route:
    changes: dict[str, Any] = {}
    for key, value in override.items():
        if key in ("verified", "path", "method"):
            changes[key] = value
        elif key in ("answer", "request", "query"):
            attr = f"{key}_names"
            merged = {**getattr(route, attr), **value}
            changes[attr] = MappingProxyType(merged)
    return replace(route, **changes)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON, or None
    text: str  # the first bytes, for describing a non-JSON answer (never stored unredacted)

    @property
    def envelope(self) -> Mapping[str, Any] | None:
        """Vouchery's error envelope ({"code": ..., "message": ...}), or None."""
        body = self.body
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            return body
        return None

    def describe(self) -> str:
        if self.body is None:
            kind = self.headers.get("content-type", "").split(";")[0] or "no content type"
            return f"{self.status} {kind}, {len(self.text)} bytes, not JSON"
        env = self.envelope
        if env is not None and self.status >= 400:
            return f"{self.status} error code={env.get('code')!r}"
        if isinstance(self.body, list):
            return f"{self.status} list of {len(self.body)}"
        if isinstance(self.body, dict):
            keys = ", ".join(sorted(self.body)[:12])
            return f"{self.status} object {{{keys}}}"
        return f"{self.status} {type(self.body).__name__}"


class Doctor:
    """Runs the checks against one Vouchery project (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        routes: RouteTable = DEFAULT_TABLE,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        verify: bool | str = True,
    ) -> None:
        self._routes = routes
        self._prefix = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            transport=transport,
            headers={"authorization": f"Bearer {api_key}", "accept": "application/json"},
            timeout=timeout,
            verify=verify,
            follow_redirects=False,
            trust_env=False,
        )
        self.report = Report()
        self._tag = secrets.token_hex(4)

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- plumbing -------------------------------------------------------------------------------------

    async def _send(
        self,
        route_name: str,
        *,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        raw_path: str | None = None,
        method: str | None = None,
    ) -> tuple[str, Answer]:
        route = self._routes[route_name] if route_name in self._routes.routes else None
        verb = method or (route.method if route is not None else "GET")
        if raw_path is not None:
            url_path = raw_path
        else:
            assert route is not None
            url_path = route.path_for(**path) if path else route.path
        if query and route is not None:
            query = {route.query_names.get(k, k): v for k, v in query.items()}
        if body is not None and route is not None:
            body = {route.request_names.get(k, k): v for k, v in body.items()}
        content = orjson.dumps(body) if body is not None else None
        headers = {"content-type": "application/json"} if content is not None else {}
        response = await self._http.request(
            verb, self._prefix + url_path, params=dict(query or {}), content=content, headers=headers
        )
        text = response.text[:2000]
        try:
            parsed: Any = orjson.loads(response.content) if response.content.strip() else None
        except orjson.JSONDecodeError:
            parsed = None
        kept = {k: v for k, v in response.headers.items() if k in ("content-type", "total-count", "link")}
        answer = Answer(response.status_code, kept, parsed, text)
        shown = f"{verb} {url_path}" + (f"?{httpx.QueryParams(dict(query))}" if query else "")
        self.report.exchanges.append(
            Exchange(route_name, verb, shown, _redact(body), answer.status, kept, _redact(parsed))
        )
        return shown, answer

    def _find(
        self, route: str, sent: str, got: Answer, verdict: Verdict, how: str = "", **override: Any
    ) -> Finding:
        known = self._routes.routes.get(route)
        source = "-" if known is None else "C" if known.source == "confirmed" else "I"
        finding = Finding(route, source, sent, got.describe(), verdict, how, dict(override))
        self.report.findings.append(finding)
        return finding

    def _skip(self, route: str, why: str) -> None:
        source = "C" if self._routes[route].source == "confirmed" else "I"
        self.report.findings.append(Finding(route, source, "-", "-", "not checked", why))

    def _verify(self, route: str) -> dict[str, Any]:
        """The override that marks an inferred route verified (nothing for a confirmed one)."""
        return {} if self._routes[route].trusted else {"verified": True}

    # ---- read-only checks -------------------------------------------------------------------------------

    async def run(
        self,
        *,
        voucher: str = "",
        customer: str = "",
        campaign: int | None = None,
        write: bool = False,
        total: str = "100.00",
        exchange_campaign: int | None = None,
    ) -> Report:
        try:
            if not await self.check_me():
                return self.report
            missing = await self.probe_missing_route()
            await self.check_unknown_voucher()
            await self.check_campaign(campaign)
            await self.check_points_shop()
            await self.check_subscriptions()
            if not voucher and campaign is not None:
                voucher = await self.pick_voucher(campaign)
            await self.check_voucher(voucher, total)
            await self.check_lookup_by_transaction(missing)
            await self.check_customer(customer)
            if write:
                if not (campaign is not None and customer and voucher):
                    self.report.error = (
                        "--write needs --campaign and --customer (and a voucher of that campaign)"
                    )
                    return self.report
                await WriteChecks(self, voucher, customer, total, exchange_campaign).run()
        except httpx.HTTPError as exc:
            self.report.error = f"cannot reach Vouchery: {type(exc).__name__}"
        checked = {f.route for f in self.report.findings}
        for name in self._routes.routes:
            if name not in checked:
                self._skip(name, _UNCHECKED.get(name, "needs --write"))
        return self.report

    async def check_me(self) -> bool:
        sent, got = await self._send("me")
        if got.status in (401, 403):
            self.report.error = f"Vouchery refused the API key (HTTP {got.status})"
            self._find("me", sent, got, "differs", "the API key is not accepted")
            return False
        data = got.body if isinstance(got.body, dict) else None
        wrapper = None
        if data is not None and "id" not in data:
            wrapper = next(
                (k for k in ME_WRAPPERS if isinstance(data.get(k), dict) and "id" in data[k]), None
            )
            data = data[wrapper] if wrapper else None
        if got.status != 200 or data is None or not isinstance(data.get("id"), int):
            self._find(
                "me", sent, got, "differs", "GET /me does not answer the API user (health probes fail)"
            )
            return True
        role = data.get("role")
        role_text = f"role {role!r}" if isinstance(role, str) else "no role"
        if wrapper is not None:
            self._find(
                "me", sent, got, "differs", f"the user is nested under {wrapper!r} ({TOLERATED}); {role_text}"
            )
        elif not isinstance(role, str) or role not in ROLES:
            self._find("me", sent, got, "differs", f"{role_text}, not as v2.1 names it ({TOLERATED})")
        else:
            self._find("me", sent, got, "matches", role_text)
        return True

    async def probe_missing_route(self) -> Answer:
        """What a route that cannot exist answers: the shape a wrong path would have."""
        _, got = await self._send("-", raw_path=f"/gateway-doctor-{self._tag}/{secrets.token_hex(4)}")
        return got

    async def check_unknown_voucher(self) -> None:
        code = f"DOCTOR-NO-SUCH-{secrets.token_hex(6).upper()}"
        sent, got = await self._send("get_voucher", path={"code": code})
        env = got.envelope
        if got.status == 404 and env is not None:
            self._find("get_voucher", sent, got, "matches", "an unknown code is Vouchery's not-found error")
        else:
            self._find(
                "get_voucher", sent, got, "differs",
                "an unknown code should be 404 with Vouchery's error body; the gateway reads anything "
                "else as a contract mismatch (UNAVAILABLE), not as VOUCHER_NOT_FOUND",
            )  # fmt: skip

    async def check_campaign(self, campaign: int | None) -> None:
        """An unknown campaign id must be Vouchery's not-found error (the gateway takes it as proof that
        the campaign does not exist); with --campaign, that campaign's fields too."""
        route = "get_campaign"
        unknown = str(10**15 + secrets.randbelow(10**15))
        sent, got = await self._send(route, path={"id": unknown})
        if got.status == 404 and got.envelope is not None:
            self._find(route, sent, got, "matches", "an unknown id is Vouchery's not-found error")
        elif got.status == 403:
            how = "the API key may not read campaigns (a point-of-sale key?): campaign ids cannot be checked"
            self._find(route, sent, got, "differs", how)
        else:
            self._find(
                route, sent, got, "differs",
                "an unknown campaign id should be 404 with Vouchery's error body; the gateway reads "
                "anything else as a contract mismatch (UNAVAILABLE), not as an unknown campaign",
            )  # fmt: skip
        if campaign is not None:
            sent, got = await self._send(route, path={"id": str(campaign)})
            self._fields(route, sent, got, required=("id",))

    async def check_points_shop(self) -> None:
        """The campaigns sold for points (ListPointsOffers): a list of campaign objects."""
        route = "points_shop_campaigns"
        query: dict[str, str | int] = {
            "loyalty_program": "true",
            "status_eq": "active",
            "page": 1,
            "per_page": 25,
        }
        sent, got = await self._send(route, query=query)
        items = got.body if isinstance(got.body, list) else None
        if got.status == 200 and items is not None and all(isinstance(i, dict) and "id" in i for i in items):
            priced = sum(1 for i in items if isinstance(i, dict) and i.get("loyalty_points_price"))
            how = f"{len(items)} campaign(s), {priced} with a points price"
            self._find(route, sent, got, "matches", how, **self._verify(route))
        else:
            how = "expected a JSON array of campaigns; ListPointsOffers reads it (loyalty_points_price)"
            self._find(route, sent, got, "differs", how)

    async def check_subscriptions(self) -> None:
        """The project's webhook subscriptions (webhooks list / subscribe): a list of subscriptions."""
        route = "list_subscriptions"
        sent, got = await self._send(route)
        body = got.body
        items = body.get("data", body.get("subscriptions")) if isinstance(body, dict) else body
        if (
            got.status == 200
            and isinstance(items, list)
            and all(isinstance(i, dict) and "id" in i for i in items)
        ):
            self._find(route, sent, got, "matches", f"{len(items)} subscription(s)", **self._verify(route))
        elif got.status == 403:
            how = "the API key may not read subscriptions: `webhooks subscribe` needs a key that may"
            self._find(route, sent, got, "differs", how)
        else:
            self._find(route, sent, got, "differs", "expected a JSON array of subscriptions")

    async def pick_voucher(self, campaign: int) -> str:
        route = "campaign_vouchers"
        sent, got = await self._send(route, path={"id": str(campaign)}, query={"page": 1, "per_page": 25})
        items = got.body if isinstance(got.body, list) else []
        codes = [v.get("code") for v in items if isinstance(v, dict) and v.get("active", True) is not False]
        code = next((c for c in codes if isinstance(c, str) and c), "")
        if got.status == 200 and code:
            self._find(route, sent, got, "matches", f"{len(items)} voucher(s); checking with one of them")
        else:
            self._find(route, sent, got, "differs", "no active voucher listed for the campaign")
        return code

    async def check_voucher(self, code: str, total: str) -> None:
        if not code:
            self._skip("get_voucher_extended", "needs --voucher CODE or --campaign ID")
            self._skip("validate_voucher", "needs --voucher CODE or --campaign ID")
            return
        sent, got = await self._send("get_voucher", path={"code": code})
        self._fields("get_voucher", sent, got, required=("code",))
        sent, got = await self._send("get_voucher_extended", path={"code": code})
        self._fields("get_voucher_extended", sent, got, required=("code",))
        body = {"total_transaction_cost": _number(total), "confirmed": False}
        sent, got = await self._send("validate_voucher", path={"code": code}, body=body)
        env = got.envelope
        if got.status == 200 and isinstance(got.body, dict):
            self._fields("validate_voucher", sent, got, required=())
        elif got.status == 422 and env is not None:
            message = clean_message(str(env.get("message", "")))
            self._find("validate_voucher", sent, got, "matches", f"refused with Vouchery's error ({message})")
        else:
            self._find(
                "validate_voucher", sent, got, "differs", "neither a redemption nor Vouchery's refusal"
            )

    async def check_lookup_by_transaction(self, missing: Answer) -> None:
        """Route missing vs resource missing: only a lookup whose 404 differs from a made-up route's
        proves the route exists, read-only."""
        route = "get_redemption"
        txid = f"doctor-{self._tag}-{secrets.token_hex(6)}"
        sent, got = await self._send(route, query={"transaction_id": txid})
        env = got.envelope
        if got.status == 404 and env is not None:
            alike = missing.status == 404 and _same_error(env, missing.envelope)
            if alike:
                self._find(
                    route, sent, got, "not checked",
                    "a missing route answers the same not-found error: whether this route exists can "
                    "only be shown by --write (reserve, then read back)",
                )  # fmt: skip
            else:
                how = "an unknown transaction is Vouchery's not-found error, unlike a missing route"
                self._find(route, sent, got, "matches", how, **self._verify(route))
        elif got.status in (404, 405):
            for candidate in CANDIDATE_PATHS.get(route, ()):
                _, there = await self._send(route, raw_path=candidate, query={"transaction_id": txid})
                here = there.envelope
                if there.status == 404 and here is not None and not _same_error(here, missing.envelope):
                    self._moved(route, candidate)
                    how = f"the route looks missing at its path; it answers at {candidate}"
                    self._find(route, sent, there, "differs", how, path=candidate, verified=True)
                    return
            self._find(
                route, sent, got, "differs",
                f"the route looks missing (HTTP {got.status} without Vouchery's error body): set its path "
                "in the override file; until then lost redemption answers stay UNAVAILABLE",
            )  # fmt: skip
        else:
            self._find(route, sent, got, "differs", "an unknown transaction should be 404 not-found")

    async def check_customer(self, customer: str) -> None:
        names = (
            "get_customer", "customer_vouchers", "available_vouchers", "customer_redemptions",
            "points_activity", "points_expirations",
        )  # fmt: skip
        if not customer:
            for name in names:
                self._skip(name, "needs --customer ID")
            return
        sent, got = await self._send("get_customer", path={"identifier": customer})
        self._fields("get_customer", sent, got, required=("identifier",))
        paging = {"page": 1, "per_page": 1}
        for name, query in (
            ("customer_vouchers", paging),
            ("available_vouchers", None),
            ("customer_redemptions", paging),
        ):
            sent, got = await self._send(name, path={"identifier": customer}, query=query)
            if got.status == 200 and isinstance(got.body, list):
                entries = [e for e in got.body if isinstance(e, dict)]
                if entries:
                    self._fields(name, sent, got, required=(), item=entries[0], how="a list")
                else:
                    self._find(name, sent, got, "matches", "an empty list")
            else:
                await self._missing_or_other(name, sent, got)
        sent, got = await self._send("points_activity", path={"identifier": customer}, query=paging)
        if got.status == 200 and isinstance(got.body, list):
            has_count = "total-count" in got.headers or "link" in got.headers
            how = "paged" + ("" if has_count else "; no Total-Count or Link header (read from the start)")
            entries = [e for e in got.body if isinstance(e, dict)]
            if entries:
                self._fields(
                    "points_activity", sent, got, required=("id", "points"), item=entries[0], how=how
                )
            else:
                self._find("points_activity", sent, got, "matches", how + "; no movements yet")
        else:
            await self._missing_or_other("points_activity", sent, got, customer, paging)
        sent, got = await self._send("points_expirations", path={"identifier": customer}, query=paging)
        if got.status == 200 and isinstance(got.body, list):
            self._find(
                "points_expirations", sent, got, "matches", "a list", **self._verify("points_expirations")
            )
        else:
            await self._missing_or_other("points_expirations", sent, got, customer, paging)

    async def _missing_or_other(
        self, route: str, sent: str, got: Answer, customer: str = "", query: Mapping[str, Any] | None = None
    ) -> None:
        """A list route that did not answer a list: moved (found at a candidate path), missing, or other."""
        if got.envelope is None and got.status in (404, 405):
            for candidate in CANDIDATE_PATHS.get(route, ()):
                path = candidate.replace("{identifier}", customer)
                _, there = await self._send(route, raw_path=path, query=query)
                if there.status == 200 and isinstance(there.body, list):
                    self._moved(route, candidate)
                    how = f"the route looks missing at its path; it answers at {candidate}"
                    override: dict[str, Any] = {"path": candidate}
                    if route == "points_expirations":
                        override["verified"] = True  # reading it is all it is used for
                    self._find(route, sent, there, "differs", how, **override)
                    return
            how = "the route looks missing (no Vouchery error body): set its path in the override file"
        else:
            how = f"expected 200 with a list, got HTTP {got.status}"
        self._find(route, sent, got, "differs", how)

    def _moved(self, route: str, path: str) -> None:
        """Use `path` for `route` in the rest of the run (the suggestion will carry it too)."""
        routes = dict(self._routes.routes)
        routes[route] = replace(routes[route], path=path)
        self._routes = RouteTable(MappingProxyType(routes), self._routes.rejections, self._routes.source)

    def _fields(
        self,
        route: str,
        sent: str,
        got: Answer,
        *,
        required: tuple[str, ...],
        item: Mapping[str, Any] | None = None,
        how: str = "",
        verify: bool = False,
    ) -> Finding:
        """Compare an answer object's fields with the ones the gateway reads; suggest renames."""
        data = item if item is not None else got.body
        if got.status not in (200, 201) or not isinstance(data, dict):
            return self._find(route, sent, got, "differs", f"expected a JSON object, got HTTP {got.status}")
        wanted = self._routes[route].answer_fields
        renames: dict[str, str] = {}
        lacking: list[str] = []
        for name in wanted:
            if has_path(data, name):
                continue
            theirs = next(
                (alt for alt in SYNONYMS.get(name, ()) if has_path(data, alt) and alt not in wanted), None
            )
            if theirs is not None:
                renames[name] = theirs
            elif name in required:
                lacking.append(name)
        if "customer.identifier" in wanted and "customer" not in data and "customer_identifier" in data:
            lacking_nested = f"the customer only as top-level customer_identifier, as v2.0 ({TOLERATED})"
        else:
            lacking_nested = ""
        override: dict[str, Any] = {"answer": renames} if renames else {}
        if verify:
            override.update(self._verify(route))
        notes = [how] if how else []
        if renames:
            notes.append("named otherwise: " + ", ".join(f"{k} is {v!r}" for k, v in renames.items()))
        if lacking_nested:
            notes.append(lacking_nested)
        if lacking:
            notes.append("lacks " + ", ".join(lacking))
            return self._find(route, sent, got, "differs", "; ".join(notes), **override)
        verdict: Verdict = "differs" if renames or lacking_nested else "matches"
        return self._find(route, sent, got, verdict, "; ".join(notes), **override)


class WriteChecks:
    """The ``--write`` checks, on a designated test campaign and customer (see the module docstring)."""

    def __init__(
        self, doctor: Doctor, voucher: str, customer: str, total: str, exchange_campaign: int | None
    ) -> None:
        self.d = doctor
        self.exchange_campaign = exchange_campaign
        self.voucher = voucher
        self.customer = customer
        self.total = _number(total)
        self.prefix = f"doctor-{doctor._tag}"

    def _txid(self, n: int) -> str:
        return f"{self.prefix}-{n}"

    async def run(self) -> None:
        await self.reserve_and_read_back()
        await self.cancel_twice()
        await self.by_redemption_id()
        await self.points()
        await self.exchange()
        await self.transactions()

    async def _redeem(self, txid: str) -> tuple[str, Answer]:
        body = {"transaction_id": txid, "total_transaction_cost": self.total, "confirmed": False}
        return await self.d._send("create_redemption", path={"code": self.voucher}, body=body)

    async def reserve_and_read_back(self) -> None:
        d, txid = self.d, self._txid(1)
        sent, got = await self._redeem(txid)
        if got.status not in (200, 201):
            d._find("create_redemption", sent, got, "differs", "the test voucher could not be reserved")
            return
        d.report.created.append(f"redemption {txid} (pending)")
        d._fields("create_redemption", sent, got, required=("transaction_id",))
        sent, got = await d._send("get_redemption", query={"transaction_id": txid})
        found = got.body if isinstance(got.body, dict) else {}
        if got.status == 200 and found.get("transaction_id") == txid:
            d._fields("get_redemption", sent, got, required=("transaction_id",), how="read back", verify=True)
            if isinstance(found.get("id"), int):
                sent, got = await d._send("get_redemption_by_id", path={"id": str(found["id"])})
                d._fields("get_redemption_by_id", sent, got, required=("transaction_id",), how="read by id")
        else:
            d._find(
                "get_redemption", sent, got, "differs",
                "a reserved redemption cannot be read back by its transaction id: lost answers stay "
                "UNAVAILABLE until the path is corrected",
            )  # fmt: skip
        sent, got = await self._redeem(txid)
        await self._uniqueness(sent, got, txid)
        sent, got = await d._send("confirm_redemption", query={"transaction_id": txid})
        if got.status == 200:
            d.report.created[-1] = f"redemption {txid} (confirmed: Vouchery cannot undo a confirmation)"
        first = got.describe()
        sent, again = await d._send("confirm_redemption", query={"transaction_id": txid})
        codes = _detail_codes(again)
        if got.status == 200 and again.status == 422 and "already_confirmed" in codes:
            d._find("confirm_redemption", sent, again, "matches", f"first {first}; again: already_confirmed")
        elif got.status == 200 and again.status == 200:
            d._find(
                "confirm_redemption", sent, again, "matches", "a second confirm succeeds again (read as done)"
            )
        else:
            d._find("confirm_redemption", sent, again, "differs", f"first {first}; again {again.describe()}")

    async def _uniqueness(self, sent: str, got: Answer, txid: str) -> None:
        d = self.d
        if got.status == 422 and "must_be_unique" in _detail_codes(got):
            d._find(
                "create_redemption",
                sent,
                got,
                "matches",
                "a repeated transaction id is refused (must_be_unique)",
            )
            return
        if got.status in (200, 201):
            d.report.created.append(f"redemption {txid} (a second one: transaction ids are not unique)")
            await d._send("cancel_redemption", query={"transaction_id": txid})
            how = (
                "Vouchery accepted the same transaction id twice: the gateway never re-sends a redemption "
                "it cannot prove missing, so keep get_redemption verified"
            )
        else:
            how = f"a repeated transaction id answered {got.describe()}"
        d._find("create_redemption", sent, got, "differs", how)

    async def cancel_twice(self) -> None:
        d, txid = self.d, self._txid(2)
        sent, got = await self._redeem(txid)
        if got.status not in (200, 201):
            d._skip("cancel_redemption", "a second test reservation failed")
            return
        d.report.created.append(f"redemption {txid} (pending)")
        sent, first = await d._send("cancel_redemption", query={"transaction_id": txid})
        if first.status in (200, 204):
            d.report.created[-1] = f"redemption {txid} (cancelled)"
        sent, again = await d._send("cancel_redemption", query={"transaction_id": txid})
        empty = first.status == 204 or first.body is None
        if first.status in (200, 204) and again.status in (404, 422):
            how = "cancelled" + (f"; the answer has no body (read back: {TOLERATED})" if empty else "")
            d._find("cancel_redemption", sent, again, "differs" if empty else "matches",
                    how + f"; again {again.describe()}", **d._verify("cancel_redemption"))  # fmt: skip
        else:
            d._find(
                "cancel_redemption",
                sent,
                again,
                "differs",
                f"first {first.describe()}; again {again.describe()}",
            )

    async def by_redemption_id(self) -> None:
        """What baskets sharing the sale's transaction id use: a voucher's redemptions of one
        transaction, and confirm / cancel of one redemption by its id."""
        d = self.d
        routes = ("voucher_redemptions", "cancel_redemption_by_id", "confirm_redemption_by_id")
        txid = self._txid(3)
        sent, got = await self._redeem(txid)
        found = got.body if isinstance(got.body, dict) else {}
        if got.status not in (200, 201) or not isinstance(found.get("id"), int):
            for route in routes:
                d._skip(route, "a test reservation failed")
            return
        d.report.created.append(f"redemption {txid} (pending)")
        sent, listed = await d._send(
            "voucher_redemptions", path={"code": self.voucher}, query={"transaction_id": txid}
        )
        rows = listed.body if isinstance(listed.body, list) else []
        if listed.status == 200 and [r.get("id") for r in rows if isinstance(r, dict)] == [found["id"]]:
            how = "lists exactly the transaction's redemption"
            d._find("voucher_redemptions", sent, listed, "matches", how, **d._verify("voucher_redemptions"))
        else:
            d._find("voucher_redemptions", sent, listed, "differs",
                    "the voucher's redemptions are not filtered by transaction id")  # fmt: skip
        sent, cancelled = await d._send("cancel_redemption_by_id", path={"id": str(found["id"])})
        if cancelled.status in (200, 204):
            d.report.created[-1] = f"redemption {txid} (cancelled)"
            d._find("cancel_redemption_by_id", sent, cancelled, "matches", "cancelled by its id")
        else:
            d._find("cancel_redemption_by_id", sent, cancelled, "differs", "not cancelled by its id")
        txid = self._txid(4)
        sent, got = await self._redeem(txid)
        found = got.body if isinstance(got.body, dict) else {}
        if got.status not in (200, 201) or not isinstance(found.get("id"), int):
            d._skip("confirm_redemption_by_id", "a test reservation failed")
            return
        d.report.created.append(f"redemption {txid} (pending)")
        sent, confirmed = await d._send("confirm_redemption_by_id", path={"id": str(found["id"])})
        if confirmed.status == 200:
            d.report.created[-1] = f"redemption {txid} (confirmed: Vouchery cannot undo a confirmation)"
            d._find("confirm_redemption_by_id", sent, confirmed, "matches", "confirmed by its id",
                    **d._verify("confirm_redemption_by_id"))  # fmt: skip
        else:
            d._find("confirm_redemption_by_id", sent, confirmed, "differs", "not confirmed by its id")

    async def points(self) -> None:
        d = self.d
        grant_ref, revoke_ref = secrets.token_hex(8), secrets.token_hex(8)
        body = {"points": 1, "reason": f"vouchery-gateway doctor [ref:{grant_ref}]"}
        sent, got = await d._send("grant_points", path={"identifier": self.customer}, body=body)
        if got.status not in (200, 201):
            d._find("grant_points", sent, got, "differs", "a 1-point grant failed")
            return
        d.report.created.append(f"1 point granted to {self.customer}")
        grant = d._fields("grant_points", sent, got, required=("points",))
        entry, order = await self._find_reference(grant_ref)
        await self._activity_verdict(entry, order, "grant_points", grant)
        body = {"points": 1, "reason": f"vouchery-gateway doctor [ref:{revoke_ref}]"}
        sent, got = await d._send("revoke_points", path={"identifier": self.customer}, body=body)
        if got.status not in (200, 201):
            d._find("revoke_points", sent, got, "differs", "revoking the doctor's point failed")
            return
        d.report.created[-1] = f"1 point granted to {self.customer}, then revoked"
        revoke = d._fields("revoke_points", sent, got, required=("points",))
        entry, order = await self._find_reference(revoke_ref)
        await self._activity_verdict(entry, order, "revoke_points", revoke)

    async def _find_reference(self, reference: str) -> tuple[dict[str, Any] | None, str]:
        """The activity entry carrying the reference, and the log's order as read."""
        d = self.d
        stamps: list[datetime] = []
        for page in range(1, ACTIVITY_PAGES + 1):
            query = {"page": page, "per_page": 100}
            _, got = await d._send("points_activity", path={"identifier": self.customer}, query=query)
            if got.status != 200 or not isinstance(got.body, list):
                return None, "unreadable"
            for entry in got.body:
                if not isinstance(entry, dict):
                    continue
                stamp = _stamp(entry.get("created_at"))
                if stamp is not None:
                    stamps.append(stamp)
                if any(f"[ref:{reference}]" in str(v) for v in entry.values() if isinstance(v, str)):
                    return entry, _order(stamps)
            if len(got.body) < 100:
                break
        return None, _order(stamps)

    async def _activity_verdict(
        self, entry: Mapping[str, Any] | None, order: str, write: str, answer: Finding
    ) -> None:
        d = self.d
        route = "points_activity"
        sent = f"GET activity of {self.customer} (looking for the doctor's reference)"
        got = Answer(200, {}, entry, "")
        if entry is None:
            d._find(
                route, sent, got, "differs",
                f"the {write} reference was not found in the activity log (the reason is not kept?): "
                "points writes whose answer is lost will answer UNAVAILABLE, never a second write",
            )  # fmt: skip
            return
        kind = entry.get("type")
        where = next((k for k, v in entry.items() if isinstance(v, str) and "[ref:" in v), "reason")
        renames = {} if where == "reason" else {"reason": where}
        how = f"found, type {kind!r}, log {order}"
        odd = order == "newest first" or kind not in MOVEMENT_TYPES
        if odd:
            how += f" ({TOLERATED}: reconciliation relies on the reference alone)"
        override = {"verified": True} | ({"answer": renames} if renames else {})
        d._find(route, sent, got, "differs" if renames or odd else "matches", how, **override)
        write_override = {"verified": True} if not d._routes[write].trusted else {}
        answer.override.update(write_override)

    async def exchange(self) -> None:
        """Points for a voucher of the loyalty campaign, found again in the log by its reference; the
        points spent are granted back afterwards (the voucher bought stays: listed)."""
        d = self.d
        if self.exchange_campaign is None:
            d._skip("exchange_points", "needs --exchange-campaign ID (a campaign sold for points)")
            return
        reference = secrets.token_hex(8)
        body = {"campaign_id": self.exchange_campaign, "reason": f"vouchery-gateway doctor [ref:{reference}]"}
        sent, got = await d._send("exchange_points", path={"identifier": self.customer}, body=body)
        if got.status not in (200, 201) or not isinstance(got.body, dict):
            how = f"the exchange was refused ({got.describe()}): does the test customer have the points?"
            d._find("exchange_points", sent, got, "differs", how)
            return
        spent = got.body.get("points")
        code = got.body.get("voucher", {}).get("code") if isinstance(got.body.get("voucher"), dict) else None
        d.report.created.append(f"voucher {code} bought for {spent} points by {self.customer}")
        finding = d._fields("exchange_points", sent, got, required=("voucher", "points"))
        entry, _ = await self._find_reference(reference)
        if entry is None:
            finding.verdict = "differs"
            finding.how = "the exchange's reference is not in the activity log: lost answers stay UNAVAILABLE"
        if isinstance(spent, int) and spent != 0:
            back = {
                "points": abs(spent),
                "reason": "vouchery-gateway doctor: points of the test exchange back",
            }
            _, again = await d._send("grant_points", path={"identifier": self.customer}, body=back)
            if again.status in (200, 201):
                d.report.created[-1] += f"; {abs(spent)} points granted back"

    async def transactions(self) -> None:
        """A purchase recorded twice under one transaction id: the second must be refused."""
        d, txid = self.d, self._txid(3)
        body = {
            "transaction_id": txid,
            "customer_identifier": self.customer,
            "total_transaction_cost": 0.01,
            "product_items": [],
        }
        sent, first = await d._send("create_transaction", body=body)
        if first.status not in (200, 201):
            d._find("create_transaction", sent, first, "differs", "a test purchase was not recorded")
            return
        d.report.created.append(f"purchase {txid} of 0.01 (a purchase cannot be taken back)")
        sent, again = await d._send("create_transaction", body=body)
        if again.status == 422 and "must_be_unique" in _detail_codes(again):
            how = "a repeated purchase is refused (must_be_unique): recorded once"
            d._find("create_transaction", sent, again, "matches", how)
        else:
            d._find("create_transaction", sent, again, "differs", f"a repeated purchase: {again.describe()}")


# ---- helpers --------------------------------------------------------------------------------------------


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() else value


def _same_error(found: Mapping[str, Any] | None, other: Mapping[str, Any] | None) -> bool:
    """Two error envelopes that cannot be told apart (same code and message)."""
    if found is None or other is None:
        return False
    return (found.get("code"), found.get("message")) == (other.get("code"), other.get("message"))


def _detail_codes(answer: Answer) -> set[str]:
    env = answer.envelope or {}
    errors = env.get("errors")
    if not isinstance(errors, list):
        return set()
    return {str(e.get("code")) for e in errors if isinstance(e, dict)}


def _stamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _order(stamps: list[datetime]) -> str:
    if len(stamps) < 2 or stamps[0] == stamps[-1]:
        return "order unknown"
    return "newest first" if stamps[0] > stamps[-1] else "oldest first"


def _redact(value: Any) -> Any:
    """A body fit for a fixture: e-mail-like strings masked, everything else kept."""
    if isinstance(value, dict):
        return {k: ("[redacted]" if k in ("email", "e_mail") else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, str) and "@" in value:
        return "[redacted]"
    return value


def has_path(data: Mapping[str, Any], dotted: str) -> bool:
    return get_path(data, dotted)[0]
