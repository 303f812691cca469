"""`serve` configures logging once: JSON lines by default, logfmt-style text on request, both redacted."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from vouchery_gateway.app.serve import LOG_FLUSH_INTERVAL, configure_logging
from vouchery_gateway.config import Settings, load_settings
from vouchery_gateway.observability import ACCESS_LOGGER
from vouchery_gateway.observability.jsonlog import JsonLineHandler
from vouchery_gateway.observability.textlog import logfmt_value

ACCESS_FIELDS = {
    "method": "/vouchery.gateway.v1.CheckoutService/RedeemVoucher",
    "code": "FAILED_PRECONDITION",
    "duration_ms": 12.5,
    "rejection_reason": "VOUCHER_EXPIRED",
    "replay": False,
    "request_id": "req-1",
    "caller_id": None,
}


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def log_access_line(note: str = "") -> None:
    """One access line, written out: serve gathers lines below WARNING for up to 20 ms, and a flush
    (as at exit) writes them at once."""
    extra = dict(ACCESS_FIELDS, note=note) if note else ACCESS_FIELDS
    logging.getLogger(ACCESS_LOGGER).info("rpc completed", extra=extra)
    for handler in logging.getLogger().handlers:
        handler.flush()


def test_serve_gathers_access_lines_and_writes_warnings_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """serve's handler holds lines below WARNING until its flush interval; a warning writes them, in order."""
    configure_logging(load_settings(environ={}))
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, JsonLineHandler)
    assert handler.flush_interval == LOG_FLUSH_INTERVAL
    logging.getLogger(ACCESS_LOGGER).info("rpc completed", extra=ACCESS_FIELDS)
    logging.getLogger("vouchery_gateway").warning("store slow")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["msg"] for line in lines] == ["rpc completed", "store slow"]


def test_json_is_the_default_format(capsys: pytest.CaptureFixture[str]) -> None:
    """With no option set, every line is one JSON object carrying the access-line fields."""
    settings = load_settings(environ={})
    assert settings.log_format == "json"
    configure_logging(settings)
    log_access_line()
    line = json.loads(capsys.readouterr().err.strip())
    assert line["logger"] == ACCESS_LOGGER
    assert {key: line[key] for key in ACCESS_FIELDS} == ACCESS_FIELDS


def test_text_format_keeps_every_access_field(capsys: pytest.CaptureFixture[str]) -> None:
    """log_format=text writes one readable line with the same facts as key=value pairs."""
    configure_logging(Settings(log_format="text"))
    log_access_line()
    line = capsys.readouterr().err.strip()
    assert " INFO vouchery_gateway.access rpc completed " in line
    for token in (
        "method=/vouchery.gateway.v1.CheckoutService/RedeemVoucher",
        "code=FAILED_PRECONDITION",
        "duration_ms=12.5",
        "rejection_reason=VOUCHER_EXPIRED",
        "replay=false",
        "request_id=req-1",
        "caller_id=-",
    ):
        assert token in line.split(), token


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_both_formats_mask_emails_and_secrets(capsys: pytest.CaptureFixture[str], log_format: str) -> None:
    """An e-mail or a bearer token that reaches a log line is masked in either format."""
    configure_logging(Settings(log_format=log_format))
    log_access_line(note="customer alice@example.com sent Bearer sk_live_abcdef")
    logging.getLogger("vouchery_gateway").warning("key %s", "Bearer sk_live_abcdef")
    err = capsys.readouterr().err
    assert "alice@example.com" not in err
    assert "sk_live_abcdef" not in err
    assert "[EMAIL]" in err


def test_text_values_with_spaces_are_quoted() -> None:
    """A value with spaces or quotes stays one token, so the line splits back into its fields."""
    assert logfmt_value('said "hi" there') == '"said \\"hi\\" there"'
    assert logfmt_value("plain-value_1.2") == "plain-value_1.2"
    assert logfmt_value(None) == "-"
    assert logfmt_value(True) == "true"
