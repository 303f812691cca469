"""The pure decision table: what a request does about the record that blocked its claim."""

from __future__ import annotations

import pytest

from vouchery_gateway.idempotency import (
    Busy,
    Decision,
    Reclaim,
    Record,
    RecordState,
    Reject,
    Replay,
    StoredOutcome,
    Wait,
    WaitPolicy,
    decide,
    is_claimable,
)

NOW = 1000.0
FP = "fp-1"
OUTCOME = StoredOutcome(body=b"ok", kind="response")
POLICY = WaitPolicy(min_wait=0.005, min_retry_after=0.05, max_retry_after=2.0)


def record(state: RecordState = RecordState.IN_PROGRESS, *, fp: str = FP, lease_left: float = 5.0) -> Record:
    return Record(
        key="k",
        state=state,
        fingerprint=fp,
        owner="holder",
        attempt=1,
        created_at=NOW - 1,
        lease_until=NOW + lease_left,
        expires_at=NOW + 3600,
        completed_at=NOW if state is RecordState.COMPLETED else None,
        outcome=OUTCOME if state is RecordState.COMPLETED else None,
    )


IN_PROGRESS, COMPLETED = RecordState.IN_PROGRESS, RecordState.COMPLETED

# (record, wait budget in seconds, expected decision): the module docstring's table, row by row.
TABLE: list[tuple[str, Record, float, Decision]] = [
    ("other request, in progress", record(fp="fp-2"), 10.0, Reject()),
    ("other request, completed", record(COMPLETED, fp="fp-2"), 10.0, Reject()),
    ("other request, lapsed lease", record(fp="fp-2", lease_left=-1), 10.0, Reject()),
    ("completed", record(COMPLETED), 10.0, Replay(OUTCOME)),
    ("completed, no budget", record(COMPLETED), 0.0, Replay(OUTCOME)),
    ("lease lapsed", record(lease_left=-0.5), 10.0, Reclaim()),
    ("lease ends exactly now", record(lease_left=0.0), 10.0, Reclaim()),
    ("lapsed lease, no budget", record(lease_left=-0.5), 0.0, Reclaim()),
    ("in progress, budget beyond lease", record(lease_left=3.0), 10.0, Wait(max_delay=3.0)),
    ("in progress, budget within lease", record(lease_left=3.0), 1.5, Wait(max_delay=1.5)),
    ("in progress, small budget", record(lease_left=3.0), 0.0625, Wait(max_delay=0.0625)),
    ("in progress, budget below min_wait", record(lease_left=1.0), 0.004, Busy(retry_after=1.0)),
    ("in progress, short lease left", record(lease_left=0.01), 0.0, Busy(retry_after=0.05)),
    ("in progress, long lease left", record(lease_left=25.0), 0.0, Busy(retry_after=2.0)),
]


@pytest.mark.parametrize(
    ("record_", "budget", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
def test_decision_table(record_: Record, budget: float, expected: Decision) -> None:
    """Each row of the decision table yields exactly its decision."""
    assert decide(record_, FP, now=NOW, wait_until=NOW + budget, policy=POLICY) == expected


def test_completed_record_without_outcome_is_refused() -> None:
    """A COMPLETED record with no outcome is corrupt data and is reported, not replayed as empty."""
    broken = Record("k", COMPLETED, FP, "holder", 1, NOW, NOW, NOW + 10)
    with pytest.raises(ValueError, match="no stored outcome"):
        decide(broken, FP, now=NOW, wait_until=NOW)


CLAIMABLE: list[tuple[str, Record | None, str, bool]] = [
    ("no record", None, FP, True),
    (
        "past retention, other request",
        Record("k", COMPLETED, "fp-2", "h", 1, NOW - 9, NOW - 9, NOW, NOW, OUTCOME),
        FP,
        True,
    ),
    ("lapsed lease, same request", record(lease_left=0), FP, True),
    ("lapsed lease, other request", record(lease_left=0), "fp-2", False),
    ("live lease", record(lease_left=0.001), FP, False),
    ("completed", record(COMPLETED, lease_left=-5), FP, False),
]


@pytest.mark.parametrize(
    ("record_", "fp", "expected"), [row[1:] for row in CLAIMABLE], ids=[r[0] for r in CLAIMABLE]
)
def test_claim_rule_table(record_: Record | None, fp: str, expected: bool) -> None:
    """The claim rule every backend implements: absent, expired, or lapsed lease of the same request."""
    assert is_claimable(record_, fp, NOW) is expected
