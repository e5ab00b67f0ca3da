"""Log records as JSON lines (``LOG_FORMAT=json``, production's default) or plain text
(``LOG_FORMAT=plain``, development's), each carrying the ids of the work at hand: request,
tenant, conversation, trace and span.

No message text or personal data goes to the logs: the log calls name ids, not contents, and
``redact`` masks e-mail addresses that an exception's words may carry (a database error can
quote a row's values)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

from opentelemetry import trace

from core.observability import context

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


def redact(text: str) -> str:
    return _EMAIL.sub("<email>", text)


class ContextFilter(logging.Filter):
    """Adds the ids (request_id, tenant_id, conversation_id, trace_id, span_id) to a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = context.current()
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            ids["trace_id"] = format(span.trace_id, "032x")
            ids["span_id"] = format(span.span_id, "016x")
        record.ids = ids
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **getattr(record, "ids", {}),
        }
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(ids_text)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = getattr(record, "ids", {})
        record.ids_text = "".join(f" {k}={v}" for k, v in ids.items())
        return redact(super().format(record))
