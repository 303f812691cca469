"""A description of the machine and software a run measured, written beside every result."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "grpcio",
    "protobuf",
    "httpx",
    "httpcore",
    "httpx-aiohttp",
    "aiohttp",
    "h2",
    "uvloop",
    "uvicorn",
    "hypercorn",
    "sniffio",
    "anyio",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def describe() -> dict[str, object]:
    """CPU, load average at the start, Python and the versions of the packages that shape the numbers."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "kernel": platform.release(),
        "packages": {name: _version(name) for name in PACKAGES},
    }


def one_line(info: dict[str, object]) -> str:
    """The same facts in one Markdown-friendly line."""
    packages = info["packages"]
    assert isinstance(packages, dict)
    versions = ", ".join(f"{k} {v}" for k, v in packages.items() if v != "absent")
    return (
        f"{info['cpus']} vCPU ({info['cpu_model']}), load average {info['load_average_at_start']} at start, "
        f"Python {info['python']}, {versions}"
    )
