"""The SLO objectives file (OpenSLO v1 YAML): SLOs with ratio SLIs, and a burn-rate alert."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gates import selectors
from gates.outcome import ConfigError

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d|w)?\s*$")
UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(text: object, what: str = "duration") -> float:
    """'30s', '15min', '1h', '28d' (a bare number is seconds) -> seconds."""
    match = DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{what} {text!r} is not a duration like 30s, 15min, 1h or 28d")
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


@dataclass(frozen=True)
class Objective:
    name: str
    display: str
    target: float  # e.g. 0.999
    good: selectors.Selector
    total: selectors.Selector
    window_seconds: float  # the SLO's own time window (e.g. 28 days)


@dataclass(frozen=True)
class Objectives:
    slos: tuple[Objective, ...]
    burn_rate_threshold: float


def _get(node: Any, path: Sequence[str], where: str) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise ConfigError(f"{where}: missing {'.'.join(path)}")
        node = node[key]
    return node


def load(path: Path) -> Objectives:
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"SLO objectives {path}: cannot read ({exc})") from None
    slos: list[Objective] = []
    threshold: float | None = None
    for index, doc in enumerate(documents):
        where = f"{path} document {index + 1}"
        if not isinstance(doc, dict) or doc.get("apiVersion") != "openslo/v1":
            raise ConfigError(f"{where}: not an openslo/v1 document")
        if doc.get("kind") == "AlertCondition":
            condition = _get(doc, ("spec", "condition"), where)
            if condition.get("kind") == "burnrate":
                threshold = float(_get(condition, ("threshold",), where))
            continue
        if doc.get("kind") != "SLO":
            continue
        ratio = _get(doc, ("spec", "indicator", "spec", "ratioMetric"), where)
        query = ("metricSource", "spec", "query")
        target = _get(doc, ("spec", "objectives"), where)[0].get("target")
        if not isinstance(target, (int, float)) or not 0 < target < 1:
            raise ConfigError(f"{where}: objectives[0].target must be between 0 and 1")
        slos.append(
            Objective(
                name=_get(doc, ("spec", "indicator", "metadata", "name"), where),
                display=_get(doc, ("metadata", "displayName"), where),
                target=float(target),
                good=selectors.parse(_get(ratio, ("good", *query), where)),
                total=selectors.parse(_get(ratio, ("total", *query), where)),
                window_seconds=seconds(
                    _get(doc, ("spec", "timeWindow"), where)[0]["duration"], f"{where} window"
                ),
            )
        )
    if not slos:
        raise ConfigError(f"SLO objectives {path}: no SLO documents")
    if threshold is None:
        raise ConfigError(f"SLO objectives {path}: no AlertCondition with a burnrate threshold")
    return Objectives(tuple(slos), threshold)
