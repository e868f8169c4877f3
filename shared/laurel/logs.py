"""Log records as one JSON object a line, with the ids that tie them together.

Every service process logs through the root logger, configured once by
`laurel.runtime.run_service` (`configure_logging`): JSON by default (what a
log collector in a cluster reads), or text for a person at a terminal
(`LAUREL_LOG_FORMAT=text`). Each record carries, where known, the trace and
span ids of the current OpenTelemetry span and the event id and nomination id
of what is being handled: the gRPC interceptor (`laurel.grpcutil`) and the
consumer path (`laurel.messaging`) set them in context variables, which
`asyncio.to_thread` carries into the worker threads handlers run in.

Personal data stays out: code logs ids, never names, e-mail addresses or
phone numbers (notification masks recipients with `privacy.mask_email`); the
formatter additionally masks any e-mail address or phone number left in a
message or an exception text, as a last line of defence.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from opentelemetry import trace

LogFormat = Literal["json", "text"]

event_id_var: ContextVar[str] = ContextVar("laurel_event_id", default="")
nomination_id_var: ContextVar[str] = ContextVar("laurel_nomination_id", default="")

# The attributes every LogRecord has; anything else was passed in `extra`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName"}

# An address ends in a name (example.org), not in digits: user@127.0.0.1 in a
# database URL is a user at a host, and stays.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}\b")
# Phone numbers as people write them: 11-digit mobiles, landlines with an
# area code (0371-65580011), +country numbers, digits grouped by spaces or
# dashes; not ids, hashes or timestamps.
_PHONE = re.compile(
    r"(?<![\w.:-])(?:\+\d{1,3}[ -]?)?"
    r"(?:1[3-9]\d{9}|0\d{2,3}-\d{7,8}|\d{3,4}[ -]\d{3,4}[ -]\d{4})(?![\w:-])")


def scrub(text: str) -> str:
    """`text` with e-mail addresses and phone numbers masked."""
    if "@" in text:
        text = _EMAIL.sub("<e-mail>", text)
    return _PHONE.sub("<phone>", text)


@contextmanager
def handling(*, event_id: str = "", nomination_id: str = "") -> Iterator[None]:
    """Log records inside carry these ids (those given; the others unchanged)."""
    tokens = []
    if event_id:
        tokens.append((event_id_var, event_id_var.set(event_id)))
    if nomination_id:
        tokens.append((nomination_id_var, nomination_id_var.set(nomination_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            with suppress(ValueError):  # reset from another context (a cancelled stream)
                var.reset(token)


def context_fields() -> dict[str, str]:
    """The ids known where a record is made."""
    fields = {}
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        fields["trace_id"] = format(span.trace_id, "032x")
        fields["span_id"] = format(span.span_id, "016x")
    if event_id := event_id_var.get():
        fields["event_id"] = event_id
    if nomination_id := nomination_id_var.get():
        fields["nomination_id"] = nomination_id
    return fields


class ContextFilter(logging.Filter):
    """Stamps each record with the ids of its context, at the time it is made
    (a handler may format it later, elsewhere)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "laurel_context"):
            record.laurel_context = context_fields()
            record.service = self.service
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message,
    service, the context ids, anything passed in `extra`, and the exception
    (type, message, traceback) as fields, never as further lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        entry.update(getattr(record, "laurel_context", None) or context_fields())
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in ("laurel_context",) and key not in entry:
                entry[key] = value if isinstance(value, int | float | bool) else scrub(
                    str(value))
        if record.exc_info and record.exc_info[0] is not None:
            entry["error_type"] = record.exc_info[0].__name__
            entry["traceback"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["traceback"] = scrub(record.exc_text)
        if record.stack_info:
            entry["stack"] = scrub(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """For a person at a terminal: the usual line, the ids appended."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = scrub(super().format(record))
        ids = getattr(record, "laurel_context", None) or context_fields()
        extra = {k: v for k, v in vars(record).items()
                 if k not in _STANDARD and k not in ("laurel_context", "service")}
        shown = " ".join(f"{k}={v}" for k, v in {**extra, **ids}.items())
        return f"{line} [{shown}]" if shown else line


def configure_logging(service: str, log_format: LogFormat = "json",
                      level: str = "INFO") -> None:
    """The root logger writes records of `level` and above to stderr in
    `log_format`; Python warnings go through it too. Idempotent (a second call
    replaces the handler)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "laurel", False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.laurel = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter(service))
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)
