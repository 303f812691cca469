"""Reading py-spy's collapsed stacks into per-function µs per call."""

from __future__ import annotations

from loadtest.experiments.profile import parse_collapsed, top

RAW = [
    'process 12:"python";main (app.py);handle (svc.py);encode (json.py) 30',
    'process 12:"python";main (app.py);handle (svc.py) 10',
    'process 12:"python";main (app.py);handle (svc.py);handle (svc.py) 10',
    "garbage line",
]


def test_inclusive_counts_a_function_once_per_stack_and_self_counts_the_leaf() -> None:
    """Recursion is not double-counted; the leaf gets the self time."""
    profile = parse_collapsed(RAW)
    assert profile.total == 50
    assert profile.inclusive["handle (svc.py)"] == 50
    assert profile.own == {"encode (json.py)": 30, "handle (svc.py)": 20}


def test_top_attributes_the_cpu_per_call_by_share_of_samples() -> None:
    """A leaf in 60% of the samples of a 1,000 µs/call server costs 600 µs per call."""
    table = top(parse_collapsed(RAW), cpu_us_per_call=1000.0, by_self=True)
    assert "| 600 | 60% | `encode (json.py)` |" in table
