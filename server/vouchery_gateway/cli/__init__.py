"""Every command line of `vouchery-gateway`: serve, sandbox, call, healthcheck, keys (see `commands`)."""

from vouchery_gateway.cli.commands import main

__all__ = ["main"]
