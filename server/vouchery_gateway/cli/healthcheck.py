"""`vouchery-gateway healthcheck`: ask a gateway's grpc.health.v1 service whether it is SERVING.

This is the container's HEALTHCHECK and a probe for scripts: exit 0 when SERVING, 1 otherwise (NOT_SERVING,
unreachable, or no answer within the timeout), with one line saying which.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def add_healthcheck_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "healthcheck",
        help="exit 0 when the gateway at --address reports SERVING (for container health checks)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--address", default="127.0.0.1:50051", help="gateway host:port")
    parser.add_argument("--service", default="", help="service name to check ('' = the whole server)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for the answer")
    parser.set_defaults(handler=cmd_healthcheck)


def check(address: str, service: str = "", timeout: float = 2.0) -> tuple[bool, str]:
    """(serving, what was seen) for the health service at `address`."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            return False, f"no health answer from {address}: {code.name}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    return answer.status == health_pb2.HealthCheckResponse.SERVING, f"{address}: {status}"


def cmd_healthcheck(args: argparse.Namespace, out: TextIO) -> int:
    serving, seen = check(args.address, args.service, args.timeout)
    print(seen, file=out if serving else sys.stderr)
    return 0 if serving else 1
