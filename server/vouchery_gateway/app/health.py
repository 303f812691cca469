"""`grpc.health.v1` status that follows the upstream: SERVING only while Vouchery answers `GET /me`.

A load balancer should stop sending checkout calls to a gateway that cannot reach Vouchery (or whose
API key was revoked), and start again once it can. `UpstreamHealth` probes on an interval and sets the
overall status ("") and each service's status; `shutdown()` switches everything to NOT_SERVING for good
before the server stops taking calls, as the gRPC graceful-shutdown example does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from grpc_health.v1 import health, health_pb2

log = logging.getLogger("vouchery_gateway.health")

Probe = Callable[[float], Awaitable[object]]
"""(timeout) -> anything; raises when the upstream does not answer well (e.g. VoucheryClient.me)."""

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class UpstreamHealth:
    """Owns the health servicer's statuses and the periodic upstream probe task."""

    def __init__(
        self,
        probe: Probe,
        services: Sequence[str],
        *,
        interval: float,
        timeout: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.servicer = health.aio.HealthServicer()
        self._probe = probe
        self._services = ("", *services)
        self._interval = interval
        self._timeout = timeout
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._serving: bool | None = None
        self._closing = False

    @property
    def serving(self) -> bool:
        return bool(self._serving) and not self._closing

    async def check_once(self) -> bool:
        """Probe the upstream once and publish the result; returns whether it answered."""
        try:
            await asyncio.wait_for(self._probe(self._timeout), self._timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            ok = False
            if self._serving is not False:
                log.warning("upstream health probe failed (%s): NOT_SERVING", type(exc).__name__)
        else:
            ok = True
            if self._serving is not True:
                log.info("upstream answers: SERVING")
        await self._publish(ok)
        return ok

    async def start(self) -> None:
        """Publish NOT_SERVING, probe once (so the status is known when this returns), then keep probing."""
        await self._publish(False)
        await self.check_once()
        self._task = asyncio.create_task(self._run(), name="upstream-health-probe")

    async def shutdown(self) -> None:
        """NOT_SERVING from now on, whatever the upstream does; stops the probe task."""
        self._closing = True
        await self.servicer.enter_graceful_shutdown()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._closing:
            await self._sleep(self._interval)
            if not self._closing:
                await self.check_once()

    async def _publish(self, ok: bool) -> None:
        if self._closing:
            return
        self._serving = ok
        status = SERVING if ok else NOT_SERVING
        for service in self._services:
            await self.servicer.set(service, status)
