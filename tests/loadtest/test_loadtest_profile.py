"""Reading py-spy's collapsed stacks into per-function µs per call."""

from __future__ import annotations

from loadtest.profile import parse_collapsed, top

RAW = [
    "process 12:\"python\";main (app.py);handle (svc.py);encode (json.py) 30",
    "process 12:\"python\";main (app.py);handle (svc.py) 10",
    "process 12:\"python\";main (app.py);handle (svc.py);handle (svc.py) 10",
    "garbage line",
]


def test_inclusive_counts_a_function_once_per_stack_and_self_counts_the_leaf() -> None:
    """Recursion is not double-counted; the leaf gets the self time."""
    profile = parse_collapsed(RAW)
    assert profile.total == 50
    assert profile.inclusive["handle (svc.py)"] == 50
    assert profile.own == {"encode (json.py)": 30, "handle (svc.py)": 20}


def test_top_converts_samples_to_microseconds_per_call() -> None:
    """30 samples at 100 Hz over 100 calls is 3,000 µs per call."""
    table = top(parse_collapsed(RAW), calls=100, rate_hz=100, by_self=True)
    assert "| 3,000 | 60% | `encode (json.py)` |" in table
