"""JSON log lines and the redaction filter, through a real logging handler."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from vouchery_gateway.observability import JsonFormatter, configure_logging, redact
from vouchery_gateway.observability.jsonlog import JsonLineHandler, direct_json_handler


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """The root logger configured as in production, writing to a buffer; restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging(logging.INFO, stream)
    try:
        yield logging.getLogger("vouchery_gateway.test"), stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_record_is_one_json_object_per_line(logged: tuple[logging.Logger, io.StringIO]) -> None:
    """ts, level, logger, msg and extra fields; a multi-line message stays on one line."""
    log, stream = logged
    log.info("first\nsecond %s", "arg", extra={"route_group": "redemptions", "attempt": 2})
    log.warning("plain")
    first, second = _lines(stream)
    assert first["msg"] == "first\nsecond arg"
    assert first["level"] == "info"
    assert first["logger"] == "vouchery_gateway.test"
    assert first["route_group"] == "redemptions"
    assert first["attempt"] == 2
    assert first["ts"][10] == "T"
    assert first["ts"].endswith("Z")
    assert second["level"] == "warning"
    assert len(stream.getvalue().splitlines()) == 2


def test_extra_field_cannot_overwrite_core_fields(logged: tuple[logging.Logger, io.StringIO]) -> None:
    """An extra named like a core field keeps its value under a suffixed key."""
    log, stream = logged
    log.info("hello", extra={"level": "fake", "ts": "fake"})
    (line,) = _lines(stream)
    assert line["level"] == "info"
    assert line["level_"] == "fake"
    assert line["ts_"] == "fake"


def test_traceback_is_included_as_exc(logged: tuple[logging.Logger, io.StringIO]) -> None:
    """log.exception() carries the traceback in the exc field."""
    log, stream = logged
    try:
        raise ValueError("broken thing")
    except ValueError:
        log.exception("failed")
    (line,) = _lines(stream)
    assert "ValueError: broken thing" in line["exc"]


def test_emails_and_bearer_tokens_are_masked_in_every_field(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    """The message, args, extra fields (nested too) and tracebacks never show an e-mail or a token."""
    log, stream = logged
    try:
        raise RuntimeError("upstream said: unknown customer jane.doe+x@shop.example.co.uk")
    except RuntimeError:
        log.exception(
            "sent Authorization: Bearer sk_live_abc.DEF-123== for %s",
            "bob@example.com",
            extra={
                "headers": {"authorization": "Bearer sk_live_abc", "accept": "json"},
                "customer": ["ann@example.org", 7],
                "api_key": "plain-key-value",
                "note": "bearer abc123",
            },
        )
    text = stream.getvalue()
    for secret in (
        "jane.doe",
        "bob@example.com",
        "sk_live_abc",
        "ann@example.org",
        "plain-key-value",
        "abc123",
    ):
        assert secret not in text
    (line,) = _lines(stream)
    assert line["msg"] == "sent Authorization: Bearer [REDACTED] for [EMAIL]"
    assert line["headers"] == {"authorization": "[REDACTED]", "accept": "json"}
    assert line["customer"] == ["[EMAIL]", 7]
    assert line["api_key"] == "[REDACTED]"
    assert "[EMAIL]" in line["exc"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no secrets here: VOUCHER-10", "no secrets here: VOUCHER-10"),
        ("a@b.io", "[EMAIL]"),
        ("x BEARER tok.en/+", "x BEARER [REDACTED]"),
        ("@ alone, user@host without dot", "@ alone, user@host without dot"),
    ],
)
def test_redact_masks_only_what_looks_like_a_secret(text: str, expected: str) -> None:
    """Voucher codes and plain text pass; e-mails and bearer tokens do not."""
    assert redact(text) == expected


def test_integers_beyond_64_bits_are_still_one_json_line(logged: tuple[logging.Logger, io.StringIO]) -> None:
    """A value the fast encoder refuses falls back to the general one; the line is still written."""
    log, out = logged
    log.info("big", extra={"n": 2**70})
    assert json.loads(out.getvalue().splitlines()[-1])["n"] == 2**70


@pytest.mark.parametrize(
    ("level", "expected"), [(logging.INFO, logging.WARNING), (logging.DEBUG, logging.DEBUG)]
)
def test_http_client_request_lines_are_quiet_unless_debugging(level: int, expected: int) -> None:
    """httpx's per-request INFO line is off at INFO (one per upstream call) and on at DEBUG."""
    root, libraries = logging.getLogger(), [logging.getLogger("httpx"), logging.getLogger("httpcore")]
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_libraries = [library.level for library in libraries]
    try:
        configure_logging(level, io.StringIO())
        assert [library.level for library in libraries] == [expected, expected]
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for library, saved in zip(libraries, saved_libraries, strict=True):
            library.setLevel(saved)


def _only_the_installed_handler() -> None:
    """Drop the capture handler pytest adds to the root logger for each test phase, leaving the one
    `configure_logging` installed (as in production, where nothing else is there)."""
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if isinstance(h, JsonLineHandler)]


_TRICKY_FIELDS: dict[str, Any] = {
    "method": "/vouchery.gateway.v1.CheckoutService/GetVoucher",
    "caller_id": "till-7@store.example",  # an e-mail where none was meant
    "note": "sent Bearer abc.def/+== upstream",
    "api_key": "k-123",  # a secret-named field: dropped whole
    "level": "a field named like a core key",
    "nested": {"password": "p", "list": ["ann@example.com", 1.5, None, True]},
    "big": 2**70,
    "unicode": "Gutschein für Ærø ✓",
    "none": None,
    "flag": False,
}


@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_a_line_written_from_fields_is_the_line_a_record_gives(
    logged: tuple[logging.Logger, io.StringIO], level: int
) -> None:
    """JsonLineHandler.write_fields writes what logging + JsonFormatter + RedactionFilter write for the
    same message and extra fields: same keys in the same order, same redaction, same fallbacks."""
    log, out = logged
    _only_the_installed_handler()
    handler = direct_json_handler(log, level)
    assert isinstance(handler, JsonLineHandler)
    handler.write_fields(level, log.name, "rpc completed for ann@example.com", _TRICKY_FIELDS)
    log.log(level, "rpc completed for ann@example.com", extra=_TRICKY_FIELDS)
    direct, via_record = (json.loads(line) for line in out.getvalue().splitlines())
    assert direct.pop("ts")[:4] == via_record.pop("ts")[:4]
    assert list(direct.items()) == list(via_record.items())
    assert direct["msg"] == "rpc completed for [EMAIL]"
    assert direct["caller_id"] == "[EMAIL]"
    assert direct["api_key"] == "[REDACTED]"
    assert direct["note"] == "sent Bearer [REDACTED] upstream"
    assert direct["level_"] == "a field named like a core key"
    assert direct["nested"] == {"password": "[REDACTED]", "list": ["[EMAIL]", 1.5, None, True]}
    assert direct["big"] == 2**70
    assert direct["unicode"] == "Gutschein für Ærø ✓"
    assert direct["level"] == logging.getLevelName(level).lower()


def test_direct_lines_only_where_the_one_json_handler_is_the_only_destination(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    """Anything else a record would meet (another handler, a text format, a filter, a level) means the
    usual logging path, so no configured behaviour is skipped."""
    from vouchery_gateway.observability.textlog import TextFormatter

    log, _ = logged
    _only_the_installed_handler()
    root = logging.getLogger()
    (installed,) = root.handlers
    assert direct_json_handler(log, logging.INFO) is installed

    capture = logging.StreamHandler(io.StringIO())
    root.addHandler(capture)
    assert direct_json_handler(log, logging.INFO) is None  # a second destination
    capture.setLevel(logging.ERROR)
    assert direct_json_handler(log, logging.INFO) is installed  # ... that would not take INFO
    root.removeHandler(capture)

    log.addFilter(logging.Filter("elsewhere"))
    assert direct_json_handler(log, logging.INFO) is None  # the logger's own filter must run
    log.filters.clear()

    installed.addFilter(logging.Filter())
    assert direct_json_handler(log, logging.INFO) is None  # a filter beside the redaction
    installed.filters.pop()

    installed.setFormatter(TextFormatter())
    assert direct_json_handler(log, logging.INFO) is None  # --log-format text
    installed.setFormatter(JsonFormatter())

    installed.setLevel(logging.WARNING)
    assert direct_json_handler(log, logging.INFO) is None  # the handler would drop it
    assert direct_json_handler(log, logging.WARNING) is installed
    installed.setLevel(logging.NOTSET)

    log.propagate = False
    try:
        assert direct_json_handler(log, logging.INFO) is None  # the record reaches no handler at all
    finally:
        log.propagate = True
