"""Plain-text logs for a terminal (`log_format = "text"`): one line per record, extra fields as key=value.

JSON lines (`JsonFormatter`) are the default because log pipelines parse them; this format is for
people reading a console. It keeps the facts of the access line (method, code, duration, reason,
request id...) that a bare `%(message)s` format would drop. It is installed on the same handler as the
JSON one, so the `RedactionFilter` masks secrets and e-mails in both.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Final

# The JSON formatter's notion of "extra" fields, so both formats show the same facts.
from vouchery_gateway.observability.jsonlog import _extra_fields

__all__ = ["TextFormatter", "logfmt_value"]

_PLAIN: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/-+@[]")


def logfmt_value(value: Any) -> str:
    """value as one logfmt token: bare when it is plain, else double-quoted with escapes."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and all(ch in _PLAIN for ch in text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class TextFormatter(logging.Formatter):
    """`2024-05-01T10:00:00.123Z INFO vouchery_gateway.access rpc completed method=... code=OK ...`."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        head = f"{stamp}.{int(record.msecs):03d}Z {record.levelname} {record.name} {record.getMessage()}"
        fields = " ".join(f"{key}={logfmt_value(value)}" for key, value in _extra_fields(record).items())
        line = f"{head} {fields}" if fields else head
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line
