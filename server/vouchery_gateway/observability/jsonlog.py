"""Structured logs: one JSON object per line, with every secret-looking value masked before it is written.

`JsonFormatter` writes ts (ISO-8601 UTC, milliseconds), level, logger, msg, then every `extra=` field,
then the traceback if any. `RedactionFilter` sits on the handler (so it sees records from every logger)
and masks e-mail addresses and bearer tokens in the message, the extra fields (nested ones too) and the
traceback, and drops the whole value of fields whose name says they hold a secret. The gateway never
means to log such things; this is the net under the code, not the plan.

`configure_logging` installs one `JsonLineHandler`: a StreamHandler with that formatter and filter,
which also writes a line straight from its fields (`write_fields`), the same line a LogRecord would
have produced, redaction included. The access log uses it for its line per RPC when that handler is
the only place the line would go (`direct_json_handler`): building, filtering and formatting a
LogRecord cost ~50 µs of the ~500 µs a cached GetVoucher takes; the direct line costs a fraction.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Mapping
from typing import IO, Any, Final

import orjson

__all__ = [
    "JsonFormatter",
    "JsonLineHandler",
    "RedactionFilter",
    "configure_logging",
    "direct_json_handler",
    "redact",
    "redact_value",
]

REDACTED: Final = "[REDACTED]"
_EMAIL: Final = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_BEARER: Final = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*")
_SECRET_NAME: Final = re.compile(r"(?i)authorization|api[_-]?key|password|passwd|secret|token|cookie")
_MAX_DEPTH: Final = 6

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_CORE_KEYS: Final = ("ts", "level", "logger", "msg")
_PLAIN_SCALARS: Final = frozenset({int, float, bool})
_EXTRAS_ATTR: Final = "_redacted_extras"  # the filter's result, handed to the formatter on the record
_JSON_OPTIONS: Final = orjson.OPT_NON_STR_KEYS
# httpx logs every request at INFO ("HTTP Request: GET ..."): one line per upstream call on the hot path,
# saying less than the gateway's own upstream metrics. They speak at WARNING unless DEBUG is asked for.
_CHATTY_LIBRARIES: Final = ("httpx", "httpcore")


def redact(text: str) -> str:
    """text with e-mail addresses and bearer tokens masked."""
    if "@" in text:
        text = _EMAIL.sub("[EMAIL]", text)
    if "bearer" not in text.lower():  # a substring test is cheaper than the regex that cannot match
        return text
    return _BEARER.sub(r"\1 " + REDACTED, text)


def redact_value(value: Any, _depth: int = 0) -> Any:
    """A copy of value with every string redacted and secret-named mapping entries dropped."""
    if value is None or type(value) in _PLAIN_SCALARS:
        return value  # the common case first (an access-log line is mostly these)
    if isinstance(value, str):
        return redact(value)
    if _depth >= _MAX_DEPTH:
        return value if isinstance(value, int | float | bool | None) else REDACTED
    if isinstance(value, Mapping):
        return {
            k: REDACTED if _SECRET_NAME.search(str(k)) else redact_value(v, _depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v, _depth + 1) for v in value]
    if isinstance(value, bytes | bytearray):
        return REDACTED  # opaque: could hold anything
    if isinstance(value, int | float | bool | None):
        return value
    return redact(str(value))


@functools.lru_cache(maxsize=1024)
def _secret_name(key: str) -> bool:
    """Whether a field called `key` holds a secret (field names come from code: few, and cached)."""
    return _SECRET_NAME.search(key) is not None


def _redacted_field(key: str, value: Any) -> Any:
    """An extra field's value as written: dropped whole under a secret-looking name, else redacted."""
    return REDACTED if _secret_name(key) else redact_value(value)


def _line_key(key: str) -> str:
    """An extra field's name in the line: one that collides with a core key keeps a suffixed name."""
    return f"{key}_" if key in _CORE_KEYS else key


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and not k.startswith("_")}


class RedactionFilter(logging.Filter):
    """Masks e-mails, bearer tokens and secret-named fields in every record it passes."""

    _traceback_formatter: Final = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        extras = _extra_fields(record)
        for key, value in extras.items():
            extras[key] = safe = _redacted_field(key, value)
            setattr(record, key, safe)
        setattr(record, _EXTRAS_ATTR, extras)  # spares the formatter walking the record again
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, extra fields, then exc / stack if present."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _iso_utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extras = record.__dict__.get(_EXTRAS_ATTR)
        for key, value in (extras if extras is not None else _extra_fields(record)).items():
            # An extra field never overwrites a core one; it keeps its value under a suffixed name.
            out[_line_key(key)] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return _dumps(out)


def _dumps(out: dict[str, Any]) -> str:
    try:
        return orjson.dumps(out, default=str, option=_JSON_OPTIONS).decode()
    except (TypeError, orjson.JSONEncodeError):  # e.g. an int beyond 64 bits: the slow, general way
        return json.dumps(out, ensure_ascii=False, separators=(",", ":"), default=str)


class JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler of JSON lines through the `RedactionFilter`, that can also write a line from its
    fields without a LogRecord (`write_fields`).

    With `flush_interval` > 0, lines below WARNING (the access log's, one per call) are gathered and
    written together at most that many seconds later, or at once when `MAX_PENDING` are waiting: one
    write system call for many lines instead of one per call (about 10 µs of a cached GetVoucher's
    ~290 µs in a native profile, docs/performance.md). A WARNING or worse line writes what is pending
    and itself at once, in order; `flush()` (and so `logging.shutdown()` at exit) writes what is
    pending. What a process killed with SIGKILL had pending (at most `flush_interval` of lines) is lost.
    0 (the default) writes and flushes every line as it comes.
    """

    MAX_PENDING = 256

    def __init__(self, stream: IO[str] | None = None, *, flush_interval: float = 0.0) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self.setFormatter(JsonFormatter())
        self.addFilter(RedactionFilter())
        self.flush_interval = flush_interval
        self._pending: list[str] = []
        self._due = threading.Event()
        self._flusher: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)
            return
        self._write(line, record.levelno, record)

    def write_fields(self, level: int, logger_name: str, msg: str, fields: Mapping[str, Any]) -> None:
        """The line `JsonFormatter` writes for a record of `logger_name` at `level` with message `msg`
        and `extra=fields`, after the `RedactionFilter`; written under the handler's lock (flushed as
        the class docstring says)."""
        out: dict[str, Any] = {
            "ts": _iso_utc(time.time()),
            "level": logging.getLevelName(level).lower(),
            "logger": logger_name,
            "msg": redact(msg),
        }
        for key, value in fields.items():
            out[_line_key(key)] = _redacted_field(key, value)
        self._write(_dumps(out) + self.terminator, level, None, logger_name, msg)

    def flush(self) -> None:
        """Write what is pending and flush the stream."""
        self.acquire()
        try:
            self._write_pending()
            if self.stream and hasattr(self.stream, "flush"):
                self.stream.flush()
        finally:
            self.release()

    def _write(
        self,
        line: str,
        level: int,
        record: logging.LogRecord | None,
        logger_name: str = "",
        msg: str = "",
    ) -> None:
        try:
            self.acquire()
            try:
                if self.flush_interval <= 0 or level >= logging.WARNING:
                    self._pending.append(line)
                    self._write_pending()
                    self.stream.flush()
                    return
                self._pending.append(line)
                if len(self._pending) >= self.MAX_PENDING:
                    self._write_pending()
                    self.stream.flush()
                    return
            finally:
                self.release()
            if not self._due.is_set():
                self._start_flusher()
                self._due.set()
        except RecursionError:
            raise
        except Exception:
            self.handleError(
                record
                if record is not None
                else logging.makeLogRecord({"name": logger_name, "levelno": level, "msg": msg})
            )

    def _write_pending(self) -> None:
        """Under the lock: the pending lines, in one write."""
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self.stream.write(text)

    def _start_flusher(self) -> None:
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_later, name="log-flush", daemon=True)
            self._flusher.start()

    def _flush_later(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.flush_interval)  # gather what comes meanwhile into the same write
            self._due.clear()
            try:
                self.flush()
            except Exception:  # a closed stream at exit: nothing left to write to
                return


def direct_json_handler(logger: logging.Logger, level: int) -> JsonLineHandler | None:
    """The handler a record of `logger` at `level` would reach, if that is exactly one `JsonLineHandler`
    still writing JSON through the `RedactionFilter` alone and `logger` has no filter of its own; else
    None, and the caller logs the usual way (a text format, a test's capture handler, an extra filter).

    Mirrors `Logger.handle` / `callHandlers`: only the originating logger's filters apply, handlers of
    every ancestor up to the first that does not propagate, each with its own level.
    """
    if logger.disabled or logger.filters:
        return None
    found: logging.Handler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if level >= handler.level:
                if found is not None:
                    return None
                found = handler
        if not current.propagate:
            break
        current = current.parent
    if type(found) is not JsonLineHandler or type(found.formatter) is not JsonFormatter:
        return None
    filters = found.filters
    if len(filters) != 1 or type(filters[0]) is not RedactionFilter:
        return None
    return found


# (second, "YYYY-MM-DDTHH:MM:SS") of the last line: one strftime per second, not per line. One tuple,
# read and replaced whole, so threads logging at once never mix a second with another's prefix.
_SECOND: list[tuple[int, str]] = [(-1, "")]


def _iso_utc(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    cached = _SECOND[0]
    if cached[0] != seconds:
        cached = _SECOND[0] = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{cached[1]}.{millis:03d}Z"


def configure_logging(
    level: int | str = logging.INFO, stream: IO[str] | None = None, *, flush_interval: float = 0.0
) -> logging.Handler:
    """Send every logger's records, redacted, as JSON lines to stream (stderr by default); lines below
    WARNING written together every `flush_interval` seconds when it is > 0 (`JsonLineHandler`).

    Replaces the root logger's handlers; returns the handler so a caller can remove it again.
    """
    handler = JsonLineHandler(stream, flush_interval=flush_interval)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    quiet = logging.DEBUG if root.getEffectiveLevel() <= logging.DEBUG else logging.WARNING
    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
    return handler
