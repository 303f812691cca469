"""Baseline scenarios, run beside the gateway scenarios so every figure has its reference point.

* ``raw-call``: one unary call of ``/loadtest.Bench/Call`` on ``hop_server`` (raw bytes, no protobuf).
  Against ``--hop none`` this is the echo baseline: the ceiling of the Python gRPC stack here.
* ``http-get-voucher``: a direct ``GET /vouchers/{code}`` with one pooled httpx client per process:
  what a POS calling Vouchery's REST API directly would pay. ``target`` is the API base URL
  (e.g. ``http://127.0.0.1:8080/api/v2.1``); option ``api_key`` sets the Bearer key (sandbox keys only).
* ``http-validate-voucher``: a direct ``PUT /vouchers/{code}/validate`` with the body the gateway sends
  for ``ValidateVoucher`` of the same cart (options ``code``, ``total``): the baseline the gateway's
  added latency is measured against.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from loadtest.hop_server import METHOD
from loadtest.scenarios import CallFailed, CallFn, FixedRequest, Scenario, ScenarioContext, register

DEFAULT_CODE = "SUMMER-0001"


def _raw_request(options: Mapping[str, str]) -> FixedRequest:
    return FixedRequest(METHOD, options.get("code", DEFAULT_CODE).encode())


async def _prepare_raw_call(ctx: ScenarioContext) -> CallFn:
    request = _raw_request(ctx.options).message
    stub = ctx.grpc_channel().unary_unary(METHOD)  # no serializers: bytes in, bytes out

    async def call(seq: int) -> None:
        await stub(request, timeout=ctx.timeout_s)

    return call


async def _prepare_http_get(ctx: ScenarioContext) -> CallFn:
    code = ctx.option("code", DEFAULT_CODE)
    client = _http_client(ctx)
    await ctx.resources.enter_async_context(client)

    async def call(seq: int) -> None:
        response = await client.get(f"/vouchers/{code}")
        if response.status_code != 200:
            raise CallFailed(f"HTTP_{response.status_code}")
        response.json()

    return call


async def _prepare_http_validate(ctx: ScenarioContext) -> CallFn:
    code = ctx.option("code", "SAVE10")
    total = int(ctx.option("total", "5000"))
    # The body the gateway's upstream client sends for ValidateVoucher of the same cart (money is a
    # JSON number with two decimals, as Vouchery reads it).
    body = (
        f'{{"total_transaction_cost":{total // 100}.{total % 100:02d},"additional_categories":{{}},'
        f'"confirmed":false,"user_agent":"loadtest/1"}}'
    ).encode()
    headers = {"Content-Type": "application/json"}
    client = _http_client(ctx)
    await ctx.resources.enter_async_context(client)

    async def call(seq: int) -> None:
        response = await client.put(f"/vouchers/{code}/validate", content=body, headers=headers)
        if response.status_code != 200:
            raise CallFailed(f"HTTP_{response.status_code}")
        response.json()

    return call


def _http_client(ctx: ScenarioContext) -> httpx.AsyncClient:
    """One pooled httpx client per generator process, as a POS calling Vouchery directly would hold."""
    headers = {"Authorization": f"Bearer {ctx.option('api_key', 'sandbox-pos-key')}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    return httpx.AsyncClient(base_url=ctx.target, headers=headers, limits=limits, timeout=ctx.timeout_s)


register(
    Scenario(
        name="raw-call",
        description="one raw-bytes unary call on loadtest.hop_server (echo baseline with --hop none)",
        prepare=_prepare_raw_call,
        fixed_request=_raw_request,
    )
)
register(
    Scenario(
        name="http-get-voucher",
        description="direct httpx GET /vouchers/{code} against the upstream (no gateway)",
        prepare=_prepare_http_get,
    )
)
register(
    Scenario(
        name="http-validate-voucher",
        description="direct httpx PUT /vouchers/{code}/validate (the upstream call of ValidateVoucher)",
        prepare=_prepare_http_validate,
    )
)
