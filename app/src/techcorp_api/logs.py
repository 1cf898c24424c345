"""JSON log lines: one object per line, for the access log and the service's own messages."""

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

ACCESS_LOGGER = "techcorp_api.access"
SERVICE_LOGGER = "techcorp_api"
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON; fields passed with ``extra=`` become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class JsonStdoutHandler(logging.StreamHandler[TextIO]):
    """The service's own handler, recognised so that it is attached once."""


def configure_logging(level: str) -> logging.Logger:
    """Attach one JSON handler on stdout to the service's loggers (idempotent)."""
    logger = logging.getLogger(SERVICE_LOGGER)
    logger.setLevel(level)
    if not any(isinstance(h, JsonStdoutHandler) for h in logger.handlers):
        handler = JsonStdoutHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    return logger
