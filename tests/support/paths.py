"""Where things are: the repository root, for tests that read its docs, deploy files or stubs."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
