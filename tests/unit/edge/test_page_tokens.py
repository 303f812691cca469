"""Page tokens: round trips, binding to their query and page size, and refusal of anything forged."""

from __future__ import annotations

import pytest

from vouchery_gateway.edge.page_tokens import (
    DEFAULT_PAGE_SIZE,
    PageRequest,
    encode_token,
    next_token,
    page_request,
)
from vouchery_gateway.errors import InvalidArgument


def test_first_page_defaults_to_25() -> None:
    """No token and no size: page 1 of the default size."""
    assert page_request("q", 0, "") == PageRequest(1, DEFAULT_PAGE_SIZE)


def test_next_token_round_trips_page_and_size() -> None:
    """The token after page 1 of 10 asks for page 2 of 10, with or without the same page_size."""
    token = next_token("q", PageRequest(1, 10), has_next=True)
    assert page_request("q", 0, token) == PageRequest(2, 10)
    assert page_request("q", 10, token) == PageRequest(2, 10)


def test_last_page_has_no_token() -> None:
    """No next page: an empty token."""
    assert next_token("q", PageRequest(3, 10), has_next=False) == ""


@pytest.mark.parametrize(
    ("scope", "size", "token", "field"),
    [
        ("other", 0, encode_token("q", 2, 10), "page_token"),
        ("q", 20, encode_token("q", 2, 10), "page_size"),
        ("q", 0, "garbage!", "page_token"),
        ("q", 0, encode_token("q", 0, 10), "page_token"),
        ("q", 0, encode_token("q", 2, 1000), "page_token"),
        ("q", 0, "é" * 10, "page_token"),
        ("q", 0, "A" * 500, "page_token"),
        ("q", -1, "", "page_size"),
        ("q", 101, "", "page_size"),
    ],
)
def test_bad_tokens_and_sizes_are_refused(scope: str, size: int, token: str, field: str) -> None:
    """Foreign, forged, out-of-range tokens and sizes are INVALID_ARGUMENT naming the field."""
    with pytest.raises(InvalidArgument) as caught:
        page_request(scope, size, token)
    assert [v.field for v in caught.value.violations] == [field]
