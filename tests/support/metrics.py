"""Reading /metrics: a real HTTP scrape, and samples of a Prometheus exposition."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


async def scrape(port: int) -> str:
    """GET /metrics over real HTTP."""
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0)
    answer.raise_for_status()
    return answer.text


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of the one sample with this name and exactly these labels, or None."""
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None


def label_values(exposition: str) -> set[str]:
    """Every label value in an exposition."""
    return {
        v
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        for v in s.labels.values()
    }
