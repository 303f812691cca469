"""The least a Python grpc.aio server can do to answer a cached GetVoucher: the floor under the gateway.

    python -m loadtest.experiments.floor_server --mode bare|observed --response FILE

Both modes serve ``CheckoutService.GetVoucher`` through the generated servicer code (the request
parsed, the response serialized by protobuf) and answer the ``GetVoucherResponse`` read from FILE (the
gateway's own answer for the code, captured by ``floor.py``) from a dict keyed by the code, on uvloop,
with the echo's server options. Nothing else:

* ``bare``: the lookup and the answer; a wrong code is NOT_FOUND.
* ``observed``: what every gateway call must also do, each written as tightly as Python allows: read
  the caller's key from the metadata and check it against a dict, a request id (128 random bits) in
  the trailing metadata, a started and a handled counter and a latency histogram
  (prometheus-client, labels bound once), and one JSON access line (``json.dumps``) appended to a
  buffer that a timer writes every 20 ms.

Against the bare echo (``hop_server --hop none``) in the same run, these two say how much of the
gateway's cost per call any implementation on grpc.aio would pay (``floor.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram

from loadtest.harness.procs import announce_port
from vouchery.gateway.v1 import checkout_pb2, checkout_pb2_grpc

MODES = ("bare", "observed")
API_KEY_HEADER = "x-api-key"
FLUSH_EVERY_S = 0.02


class BareServicer(checkout_pb2_grpc.CheckoutServiceServicer):
    def __init__(self, answers: dict[str, checkout_pb2.GetVoucherResponse]) -> None:
        self._answers = answers

    async def GetVoucher(
        self, request: checkout_pb2.GetVoucherRequest, context: grpc.aio.ServicerContext
    ) -> checkout_pb2.GetVoucherResponse:
        answer = self._answers.get(request.voucher_code)
        if answer is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such voucher")
            raise AssertionError("abort returned")  # it always raises
        return answer


class ObservedServicer(BareServicer):
    def __init__(self, answers: dict[str, checkout_pb2.GetVoucherResponse], keys: dict[str, str]) -> None:
        super().__init__(answers)
        self._keys = keys
        registry = CollectorRegistry()
        labels = ("unary", "vouchery.gateway.v1.CheckoutService", "GetVoucher")
        names = ("grpc_type", "grpc_service", "grpc_method")
        self._started = Counter("started", "", names, registry=registry).labels(*labels)
        self._handled = Counter("handled", "", (*names, "code"), registry=registry).labels(*labels, "OK")
        self._seconds = Histogram("seconds", "", names, registry=registry).labels(*labels)
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    async def GetVoucher(
        self, request: checkout_pb2.GetVoucherRequest, context: grpc.aio.ServicerContext
    ) -> checkout_pb2.GetVoucherResponse:
        began = time.perf_counter()
        self._started.inc()
        caller = "anonymous"
        for key, value in context.invocation_metadata() or ():
            if key == API_KEY_HEADER:
                caller = self._keys.get(value, "unknown")
        request_id = f"{random.getrandbits(128):032x}"
        context.set_trailing_metadata((("x-request-id", request_id),))
        answer = await super().GetVoucher(request, context)
        took = time.perf_counter() - began
        self._handled.inc()
        self._seconds.observe(took)
        line = {
            "method": "/vouchery.gateway.v1.CheckoutService/GetVoucher",
            "code": "OK",
            "duration_ms": round(took * 1000.0, 3),
            "request_id": request_id,
            "caller_id": caller,
        }
        self._pending.append(json.dumps(line))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_EVERY_S, self._flush)
        return answer

    def _flush(self) -> None:
        self._timer = None
        lines, self._pending = self._pending, []
        os.write(2, ("\n".join(lines) + "\n").encode())


async def serve(mode: str, response_bytes: bytes, port: int) -> None:
    response = checkout_pb2.GetVoucherResponse.FromString(response_bytes)
    answers = {response.voucher.code: response}
    servicer = BareServicer(answers) if mode == "bare" else ObservedServicer(answers, {})
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    checkout_pb2_grpc.add_CheckoutServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    announce_port(bound)
    await server.wait_for_termination()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.experiments.floor_server")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--response", type=Path, required=True, help="a serialized GetVoucherResponse")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    import uvloop

    uvloop.run(serve(args.mode, args.response.read_bytes(), args.port))


if __name__ == "__main__":
    main()
