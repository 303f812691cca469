"""Shared test support: fake time, free ports, Redis scratch space, gRPC error details, live servers.

Plain helpers only; the fixtures built on them are in tests/conftest.py (see tests/README.md).
"""
