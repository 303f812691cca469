"""Canonical request fingerprints, safe storage keys and validated stored outcomes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from vouchery_gateway.idempotency import StoredOutcome, fingerprint, storage_key


def test_fingerprint_is_a_pinned_sha256_hex() -> None:
    """The encoding is versioned and stable: a known input keeps its known digest across releases."""
    value = fingerprint("SUMMER-10", 12_345, "EUR", None, True)
    assert value == fingerprint("SUMMER-10", 12_345, "EUR", None, True)
    assert len(value) == 64
    assert value == "c0015b8afc54ac85a95d4b9e64c7e2f7282c703b2c97d0e97df2d3e1acf08ccc"


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (("ab", "c"), ("a", "bc")),
        ((1,), ("1",)),
        ((True,), (1,)),
        ((None,), ("",)),
        ((b"x",), ("x",)),
        ((["a", "b"],), ("a", "b")),
        (({"a": 1},), (["a", 1],)),
        ((), ("",)),
    ],
)
def test_different_requests_get_different_fingerprints(
    left: tuple[object, ...], right: tuple[object, ...]
) -> None:
    """Type tags and length prefixes keep boundary- and type-shifted parts apart."""
    assert fingerprint(*left) != fingerprint(*right)  # type: ignore[arg-type]


def test_equal_requests_get_equal_fingerprints() -> None:
    """Mapping order and Decimal trailing zeros do not change the fingerprint."""
    assert fingerprint({"a": 1, "b": 2}) == fingerprint({"b": 2, "a": 1})
    assert fingerprint(Decimal("1.50")) == fingerprint(Decimal("1.5"))
    assert fingerprint(("x", 1)) == fingerprint(["x", 1])


@pytest.mark.parametrize(
    ("part", "error", "message"),
    [
        (1.5, TypeError, "minor units or Decimal"),
        (object(), TypeError, "cannot fingerprint"),
        (Decimal("NaN"), ValueError, "finite"),
        ({1: "x"}, TypeError, "keys must be str"),
    ],
)
def test_unfingerprintable_parts_get_specific_errors(part: object, error: type, message: str) -> None:
    """Floats, unknown objects, non-finite decimals and non-str mapping keys are refused clearly."""
    with pytest.raises(error, match=message):
        fingerprint(part)  # type: ignore[arg-type]


def test_short_printable_keys_are_stored_as_given() -> None:
    """An ordinary caller:operation:transaction key is kept readable."""
    assert storage_key("pos-7:redeem:tx-0001") == "pos-7:redeem:tx-0001"


@pytest.mark.parametrize("key", ["k" * 201, "with space", "café", "line\nbreak", "sha256:abc"])
def test_long_or_unusual_keys_are_hashed(key: str) -> None:
    """Long keys, whitespace, non-ASCII and look-alike hashed keys become sha256:<64 hex>."""
    stored = storage_key(key)
    assert stored.startswith("sha256:")
    assert len(stored) == len("sha256:") + 64
    assert stored != storage_key(key + "x")


@pytest.mark.parametrize(("key", "error"), [("", ValueError), (None, TypeError), (b"k", TypeError)])
def test_bad_keys_get_specific_errors(key: object, error: type) -> None:
    """Empty and non-str keys are refused."""
    with pytest.raises(error):
        storage_key(key)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"body": "text", "kind": "response"}, TypeError),
        ({"body": b"x" * ((1 << 20) + 1), "kind": "response"}, ValueError),
        ({"body": b"", "kind": ""}, ValueError),
        ({"body": b"", "kind": "k" * 65}, ValueError),
        ({"body": b"", "kind": "r", "status": "s" * 65}, ValueError),
        ({"body": b"", "kind": "r", "metadata": {"a": 1}}, TypeError),
        ({"body": b"", "kind": "r", "metadata": {"a": "v" * 1025}}, ValueError),
        ({"body": b"", "kind": "r", "metadata": {str(i): "v" for i in range(33)}}, ValueError),
    ],
)
def test_stored_outcome_refuses_bad_fields(kwargs: dict[str, object], error: type) -> None:
    """Non-bytes bodies, oversized bodies, tags and metadata are refused before they reach a store."""
    with pytest.raises(error):
        StoredOutcome(**kwargs)  # type: ignore[arg-type]


def test_stored_outcome_metadata_is_a_frozen_copy() -> None:
    """Changing the caller's dict afterwards does not change the stored outcome."""
    metadata = {"reason": "VOUCHER_EXPIRED"}
    outcome = StoredOutcome(body=b"", kind="rejection", metadata=metadata)
    metadata["reason"] = "changed"
    assert outcome.metadata == {"reason": "VOUCHER_EXPIRED"}
    with pytest.raises(TypeError):
        outcome.metadata["reason"] = "x"  # type: ignore[index]
