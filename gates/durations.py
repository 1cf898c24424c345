"""Durations as people write them: ``30s``, ``15min``, ``1h``, ``28d`` (a bare number is
seconds), as seconds; refused when not positive, or longer than a caller's bound."""

import math
import re

from gates.outcome import ConfigError

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d|w)?\s*$")
UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
LIKE = "like 30s, 15min, 1h or 28d"


def parse(text: object, most: float = math.inf) -> float:
    """Seconds, or ValueError saying what a duration must be (and what was found)."""
    match = DURATION.match(text) if isinstance(text, str) else None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        match = DURATION.match(str(text))
    value = float(match.group(1)) * UNITS[match.group(2) or "s"] if match else 0.0
    if not 0 < value <= most:
        raise ValueError(f"must be a duration {LIKE}{_at_most(most)}, got {text!r}")
    return value


def seconds(text: object, what: str = "duration", most: float = math.inf) -> float:
    """Seconds, or ConfigError naming ``what`` (e.g. ``--window``) and the value."""
    try:
        return parse(text, most)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a duration {LIKE}{_at_most(most)}") from None


def _at_most(most: float) -> str:
    if math.isinf(most):
        return ""
    unit = next((u for u in ("d", "h", "min") if most % UNITS[u] == 0), "s")
    return f", of at most {most / UNITS[unit]:g}{unit}"
