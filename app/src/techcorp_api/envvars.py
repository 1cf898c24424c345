"""Whole-number settings read from the environment, refused with one clear line when bad."""

import os
import sys
from collections.abc import Mapping

# name -> default. gunicorn itself reads WEB_CONCURRENCY when it is imported, so these are
# checked before gunicorn starts (``techcorp-api``) as well as in the gunicorn config.
INT_SETTINGS = {
    "WEB_CONCURRENCY": 2,
    "GUNICORN_THREADS": 4,
    "GUNICORN_TIMEOUT": 30,
    "GUNICORN_GRACEFUL_TIMEOUT": 20,
}
USAGE_ERROR = 2


def parse_int(name: str, environ: Mapping[str, str]) -> int:
    """The setting's value in ``environ`` (its default when unset), or ValueError saying why."""
    default = INT_SETTINGS[name]
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    raise ValueError(
        f"{name}={raw!r} is not a whole number >= 1; unset it or set e.g. {name}={default}"
    )


def read_int(name: str, environ: Mapping[str, str] | None = None) -> int:
    """The setting's value, or exit 2 naming the variable and a good value."""
    try:
        return parse_int(name, os.environ if environ is None else environ)
    except ValueError as exc:
        print(f"techcorp-api: {exc}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def check_all(environ: Mapping[str, str] | None = None) -> dict[str, int]:
    return {name: read_int(name, environ) for name in INT_SETTINGS}
