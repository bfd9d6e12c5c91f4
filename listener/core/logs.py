"""Structured log lines: every record carries an ``action`` and its fields, as JSON on stderr.

Every line is redacted (listener.core.redact) as it is formatted, whoever logged it — our code,
aiohttp's server or asyncpg — so a password or token that reaches a message, a field or a
traceback never reaches the log.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from listener.core.redact import redact

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


# Literal secrets (the API tokens) to mask wherever they appear, beside the patterns.
_SECRETS: set[str] = set()


def add_secrets(*secrets: str) -> None:
    """Mask these values in every log line from now on (the serve command's API tokens)."""
    _SECRETS.update(s for s in secrets if s)


def scrub(text: str) -> str:
    """``text`` redacted by the one rule, and with every registered secret masked."""
    return redact(text, _SECRETS)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "action": getattr(record, "action", None),
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in doc:
                doc[key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(_clean(doc))


def _clean(value: Any) -> Any:
    """A JSON-ready copy of a log field with every text in it redacted (other objects are
    logged as their text, so they are redacted too)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    return scrub(value if isinstance(value, str) else str(value))


def configure(level: str = "INFO") -> None:
    """Send JSON lines to stderr (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper())


def event(logger: logging.Logger, action: str, message: str = "", *,
          level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event."""
    if not logger.isEnabledFor(level):
        return
    logger.log(level, message or action, extra={"action": action, **fields})
