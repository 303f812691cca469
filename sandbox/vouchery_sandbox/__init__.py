"""vouchery_sandbox: a stateful emulator of the Vouchery.io Coupon Promotion API v2.1.

`create_app(config)` returns an ASGI app (for `httpx.ASGITransport` or uvicorn); `server.serve` and
`server.run_sandbox` run it as a real HTTP server; `testing.SandboxServer` runs one for tests.
"""

from .app import SandboxApp, create_app
from .config import Role, SandboxConfig, WebhookSettings
from .demo import DEMO_CODES, DEMO_CUSTOMERS
from .errors import REJECTIONS
from .transport import ConnectionDropped

__all__ = [
    "DEMO_CODES",
    "DEMO_CUSTOMERS",
    "REJECTIONS",
    "ConnectionDropped",
    "Role",
    "SandboxApp",
    "SandboxConfig",
    "WebhookSettings",
    "create_app",
]
