"""JSON log lines: one object per line, for the access log and the service's own messages."""

import json
import logging
import sys
from datetime import datetime, timezone

ACCESS_LOGGER = "techcorp_api.access"
SERVICE_LOGGER = "techcorp_api"
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON; fields passed with ``extra=`` become top-level keys."""

    def format(self, record):
        line = {
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


def configure_logging(level):
    """Attach one JSON handler on stdout to the service's loggers (idempotent)."""
    logger = logging.getLogger(SERVICE_LOGGER)
    logger.setLevel(level)
    if not any(getattr(h, "_techcorp_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler._techcorp_json = True
        logger.addHandler(handler)
        logger.propagate = False
    return logger
