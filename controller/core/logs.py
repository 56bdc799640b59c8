"""Logging for the controller: readable text, or one JSON object per line for log collectors.

``loa controller --log-format json`` (or ``LOA_LOG_FORMAT=json``) writes lines such as
``{"ts": "2026-11-27T06:00:00.123Z", "level": "INFO", "logger": "controller.dispatch",
"msg": "delivered 3 dispatches"}``; fields given with ``extra={...}`` are added as keys, and an
exception adds ``exc``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("text", "json")

# Attributes every LogRecord has; anything else came from ``extra=`` and is emitted.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured copy of the message
    "taskName",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "ts": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

#: Loggers whose INFO lines are routine, not something an operator acts on: APScheduler's
#: executor writes "Running job …" and "… executed successfully" for every scheduler tick
#: (3,600 lines an hour at a 2 s tick). Their warnings and errors (a missed or failed run) stay;
#: at DEBUG level everything shows.
ROUTINE_LOGGERS = ("apscheduler.executors",)


def resolve_format(requested: str | None) -> str:
    """The command line's choice, else ``LOA_LOG_FORMAT``, else text."""
    fmt = (requested or os.environ.get("LOA_LOG_FORMAT") or "text").strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return fmt


def configure(
    fmt: str = "text", level: int | str = logging.INFO, stream: TextIO | None = None
) -> None:
    """Send every logger's records to one handler on ``stream`` (stderr) in ``fmt``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    routine = logging.WARNING if root.getEffectiveLevel() > logging.DEBUG else logging.NOTSET
    for name in ROUTINE_LOGGERS:
        logging.getLogger(name).setLevel(routine)
