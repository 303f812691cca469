"""Baseline scenarios, run beside the gateway scenarios so every figure has its reference point.

* ``raw-call``: one unary call of ``/loadtest.Bench/Call`` on ``hop_server`` (raw bytes, no protobuf).
  Against ``--hop none`` this is the echo baseline: the ceiling of the Python gRPC stack here.
* ``http-get-voucher``: a direct ``GET /vouchers/{code}`` with one pooled httpx client per process:
  what a POS calling Vouchery's REST API directly would pay. ``target`` is the API base URL
  (e.g. ``http://127.0.0.1:8080/api/v2.1``); option ``api_key`` sets the Bearer key (sandbox keys only).
* ``http-validate-voucher``: a direct ``PUT /vouchers/{code}/validate`` with the body the gateway sends
  for ``ValidateVoucher`` of the same cart (options ``code``, ``total``): the baseline the gateway's
  added latency is measured against.

The HTTP baselines hold one plain ``httpx.AsyncClient`` per generator process with a pool of
``connections`` (option, default 8) and never hand it more requests than that at once: a call waits
for a free connection in the scenario (an ``asyncio.Semaphore``, FIFO), not in httpx's pool. The reason
is httpcore's pool (1.0, ``_assign_requests_to_connections``): every request added or finished walks
all its connections (and, for each connection, the connections again to count the idle ones) and
every queued request, so its CPU per call grows with the connections open and the requests queued.
An open-loop generator that fell behind for a moment (the shared machine, a GC pause) used to open up
to 64 connections and queue up to 256 requests per process, get slower per call, fall further behind
and end in ``PoolTimeout``: that was the baseline's collapse, not the sandbox's. Waiting in the
semaphore costs the same whatever the backlog, the wait still counts in the latency (measured from
the intended send time), and a generator that fell behind can catch up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httpx

from loadtest.experiments.hop_server import METHOD
from loadtest.harness.scenarios import CallFailed, CallFn, FixedRequest, Scenario, ScenarioContext, register

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
    client, free = await _http_client(ctx)

    async def call(seq: int) -> None:
        async with free:
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
    client, free = await _http_client(ctx)

    async def call(seq: int) -> None:
        async with free:
            response = await client.put(f"/vouchers/{code}/validate", content=body, headers=headers)
        if response.status_code != 200:
            raise CallFailed(f"HTTP_{response.status_code}")
        response.json()

    return call


async def _http_client(ctx: ScenarioContext) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
    """One pooled httpx client per generator process, as a POS calling Vouchery directly would hold,
    and the semaphore that keeps its in-flight requests within its connections (see the module doc)."""
    connections = int(ctx.option("connections", "8"))
    if connections < 1:
        raise ValueError(f"option connections must be >= 1, got {connections}")
    headers = {"Authorization": f"Bearer {ctx.option('api_key', 'sandbox-pos-key')}"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    client = httpx.AsyncClient(base_url=ctx.target, headers=headers, limits=limits, timeout=ctx.timeout_s)
    await ctx.resources.enter_async_context(client)
    return client, asyncio.Semaphore(connections)


register(
    Scenario(
        name="raw-call",
        description="one raw-bytes unary call on the bare echo server (hop_server --hop none)",
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
