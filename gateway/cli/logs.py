"""Log setup of the long-running commands: text for a terminal, one JSON object per line for a
log pipeline. The relay workers pass ``route``, ``chain``, ``message_id`` and ``tracking_id``
as ``extra``; both formats carry them."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

CONTEXT_FIELDS = ("route", "chain", "message_id", "tracking_id", "worker")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = [
            f"{key}={record.__dict__[key]}"
            for key in CONTEXT_FIELDS
            if record.__dict__.get(key) is not None
        ]
        return f"{text} [{' '.join(context)}]" if context else text


def configure_logging(fmt: Literal["text", "json"], level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries' chatter at INFO (HTTP access lines, provider reconnects) is not an operator's.
    for noisy in ("web3", "aiohttp.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
