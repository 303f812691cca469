"""One upstream validate PUT through the gateway's own upstream client, with no gateway around it.

Scenario ``upstream-validate-voucher``: each call is ``VoucheryClient.validate_voucher`` (the call
``ValidateVoucher`` makes upstream) of the request the ``validate-voucher`` scenario sends, converted
by the gateway's own edge conversion (``edge.convert.validate_request``). The client is the gateway's,
built by its composition root (``app.gateway.build_upstream``) from ``Settings`` read as
``vouchery-gateway serve --upstream-url TARGET`` reads them (this process's environment, the API key
in ``VOUCHERY_GATEWAY_UPSTREAM_API_KEY``): the httpx API over the aiohttp transport by default, its
pool size, default headers and prebuilt requests. ``target`` is the API base URL (e.g.
``http://127.0.0.1:8080/api/v2.1``), option ``api_key`` the upstream key, ``code`` and ``total`` the cart.

The client is built without the gateway's metrics observer and retry/breaker policy: those are work
the gateway adds around the PUT, which the suite's targets measure, not part of "one PUT". A call the
upstream refuses (``valid`` false) counts as an error ``NOT_VALID/<reason>``.

The suite drives it in one generator process pinned where the gateway runs (``suite_plan``), at the
gateway rows' concurrency: the process's CPU per call over the measured window is the "upstream PUT"
part of the ValidateVoucher and two-step checkout targets (``suite_targets``). It also holds the
driver's own per-call work (the closed-loop task, the latency histogram), a few µs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from loadtest.experiments.gateway_scenarios import validate_request
from loadtest.harness.scenarios import CallFailed, CallFn, Scenario, ScenarioContext, register
from vouchery_gateway.app.gateway import build_upstream
from vouchery_gateway.config import ENV_PREFIX, Settings, load_settings
from vouchery_gateway.domain import RedemptionRequest
from vouchery_gateway.edge import convert

SCENARIO = "upstream-validate-voucher"
API_KEY_ENV = f"{ENV_PREFIX}UPSTREAM_API_KEY"


def client_settings(upstream_url: str, api_key: str, environ: Mapping[str, str] | None = None) -> Settings:
    """The gateway's settings as ``serve --upstream-url upstream_url`` reads them from ``environ``
    (this process's environment by default) with the upstream key set, as the suite starts it."""
    env = dict(os.environ if environ is None else environ)
    env[API_KEY_ENV] = api_key
    return load_settings(environ=env, overrides={"upstream_url": upstream_url})


def redemption_request(options: Mapping[str, str]) -> RedemptionRequest:
    """What the gateway hands its upstream client for the ``validate-voucher`` scenario's request."""
    return convert.validate_request(validate_request(options))


async def _prepare(ctx: ScenarioContext) -> CallFn:
    settings = client_settings(ctx.target, ctx.option("api_key", "sandbox-pos-key"))
    client = build_upstream(settings, None)
    ctx.resources.push_async_callback(client.aclose)
    request = redemption_request(ctx.options)
    timeout = min(ctx.timeout_s, settings.upstream_timeout_cap)

    async def call(seq: int) -> None:
        result = await client.validate_voucher(request, timeout=timeout)
        if not result.valid:
            reason = result.rejection.reason.name if result.rejection else "UNKNOWN"
            raise CallFailed(f"NOT_VALID/{reason}")

    return call


register(
    Scenario(
        name=SCENARIO,
        description=(
            "the gateway's own upstream client (build_upstream) calling validate_voucher on the upstream "
            "directly (no gateway): one upstream PUT as the gateway makes it"
        ),
        prepare=_prepare,
    )
)
