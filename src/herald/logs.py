"""Log lines: a timestamped human format or JSON lines, for Herald's and uvicorn's
loggers alike, each carrying the id of the request it was written for."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from typing import Any

import msgspec

REQUEST_ID: ContextVar[str] = ContextVar("herald_request_id", default="-")
"""The id of the request the running task serves; "-" outside of one."""

ACCESS_FIELDS = ("method", "route", "status", "duration_ms", "project", "client_id")
"""What an access-log line adds to a record, as `extra`; JSON lines give each its own key."""


class RequestIdFilter(logging.Filter):
    """Stamps each record with the id of the request being served."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


_second: list[Any] = [-1, ""]
"""The last whole second formatted, and its text: most lines share one with the line before."""


def _utc_time(record: logging.LogRecord) -> str:
    whole = int(record.created)
    if whole != _second[0]:
        _second[:] = [whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))]
    return f"{_second[1]}.{int(record.msecs):03d}Z"


class HumanFormatter(logging.Formatter):
    """`2026-12-01T12:00:00.123Z INFO herald [req-…] message`, a traceback below."""

    def format(self, record: logging.LogRecord) -> str:
        line = (
            f"{_utc_time(record)} {record.levelname} {record.name} "
            f"[{getattr(record, 'request_id', '-')}] {record.getMessage()}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


_encode = msgspec.json.Encoder().encode


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id, message, the access
    fields when there are any, and a traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": _utc_time(record),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for name in ACCESS_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                document[name] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return _encode(document).decode()


def formatter(kind: str) -> logging.Formatter:
    """The formatter of `log_format`; made by `dictConfig` in every process that logs."""
    # Neither format shows a record's process, thread or source line, which the logging
    # module otherwise finds for every record (a system call and a walk up the stack):
    # a third of what an access line costs. These are the module's documented switches.
    logging.logProcesses = False
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    return JsonFormatter() if kind == "json" else HumanFormatter()


def log_config(log_format: str, level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` document for Herald, uvicorn and every library,
    all on stderr in one format; uvicorn takes it in place of its own."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "herald",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"herald": {"()": formatter, "kind": log_format}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "herald": {"level": upper},
            "uvicorn": {"level": upper},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"level": upper},
            # asyncpg's pool warns with a traceback every second it cannot reconnect;
            # the outage watch says the same once as the outage begins and once as it ends.
            "asyncpg.pool": {"level": "ERROR"},
        },
    }
