"""The SLO objectives file (OpenSLO v1 YAML): SLOs with ratio SLIs, and one burn-rate alert.

Validated where it enters, before anything is measured or recorded: the keys the gate reads
are pydantic models (other OpenSLO keys and document kinds are left alone), and whatever is
wrong is one ConfigError line (exit 2) naming the file, the document and the key, worded like
the configuration's (gates.config.errors):
``slo/objectives.yaml document 3 (AlertCondition fast-burn): spec.condition.threshold must be
a number > 0, got -1``.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator
from pydantic import StringConstraints

from gates import durations, selectors
from gates.config.errors import one_line, validated_document
from gates.durations import seconds
from gates.outcome import ConfigError

__all__ = ["Objective", "Objectives", "load", "seconds"]
API_VERSION = "openslo/v1"


def _selector(value: object) -> selectors.Selector:
    example = 'like name{label="value"}'
    if not isinstance(value, str):
        raise ValueError(f"must be a Prometheus series selector {example}, got {value!r}")
    try:
        return selectors.parse(value)
    except ConfigError as exc:  # a selector's matchers or regular expression: say which
        detail = f", got {value!r}" if not selectors.SELECTOR.match(value) else f": {exc}"
        raise ValueError(f"must be a Prometheus series selector {example}{detail}") from None


Text = Annotated[str, StringConstraints(strict=True, pattern=r"\S")]
Query = Annotated[selectors.Selector, PlainValidator(_selector)]
Seconds = Annotated[float, BeforeValidator(durations.parse)]
Ratio = Annotated[float, Field(strict=True, gt=0, lt=1, allow_inf_nan=False)]
BurnRate = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]


class Node(BaseModel):
    """A mapping of an OpenSLO document: the keys the gate reads; others are OpenSLO's own."""

    model_config = ConfigDict(extra="ignore", frozen=True, arbitrary_types_allowed=True)


class Metadata(Node):
    name: Text
    displayName: Text | None = None


class Source(Node):
    query: Query


class MetricSource(Node):
    spec: Source


class Metric(Node):
    metricSource: MetricSource


class RatioMetric(Node):
    good: Metric
    total: Metric


class IndicatorSpec(Node):
    ratioMetric: RatioMetric


class IndicatorMetadata(Node):
    name: Text


class Indicator(Node):
    metadata: IndicatorMetadata
    spec: IndicatorSpec


class TimeWindow(Node):
    duration: Seconds


class Target(Node):
    target: Ratio


class SloSpec(Node):
    indicator: Indicator  # first: a document missing everything is told about this first
    timeWindow: Annotated[
        tuple[TimeWindow, ...],
        Field(
            min_length=1,
            max_length=1,
            description="must be a list of one time window, e.g. [{duration: 28d}]",
        ),
    ]
    objectives: Annotated[
        tuple[Target, ...],
        Field(
            min_length=1,
            max_length=1,
            description="must be a list of one objective with a target between 0 and 1, "
            "e.g. [{target: 0.999}]",
        ),
    ]


class SloDocument(Node):
    spec: SloSpec  # first, as the indicator in it
    metadata: Metadata


class Condition(Node):
    kind: Literal["burnrate"]
    op: Literal["gt"] = "gt"  # the gate fails when the burn rate is greater than the threshold
    threshold: BurnRate


class AlertSpec(Node):
    condition: Condition


class AlertDocument(Node):
    spec: AlertSpec


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


def load(path: Path) -> Objectives:
    """The objectives in ``path``, or ConfigError: one line naming the file and the key."""
    slos: list[Objective] = []
    indicators: dict[str, int] = {}  # indicator name -> the document declaring it
    alert: tuple[float, int] | None = None  # (threshold, document)
    for number, document in _documents(path):
        where = _where(path, number, document)
        if document["kind"] == "SLO":
            slo = validated_document(SloDocument, document, where)
            name = slo.spec.indicator.metadata.name
            if name in indicators:
                raise ConfigError(
                    one_line(
                        f"{where}: spec.indicator.metadata.name {name!r} is already used by "
                        f"document {indicators[name]}; give each SLO its own indicator name"
                    )
                )
            indicators[name] = number
            slos.append(_objective(slo))
        elif document["kind"] == "AlertCondition":
            threshold = validated_document(AlertDocument, document, where).spec.condition.threshold
            if alert is not None:
                raise ConfigError(
                    one_line(
                        f"{where}: a second burn-rate AlertCondition (the first is document "
                        f"{alert[1]}); keep one"
                    )
                )
            alert = (threshold, number)
    if not slos:
        raise ConfigError(f"{path}: no SLO documents; add one (kind: SLO)")
    if alert is None:
        raise ConfigError(f"{path}: no AlertCondition with a burnrate threshold; add one")
    return Objectives(tuple(slos), alert[0])


def _documents(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(number, document) for each non-empty YAML document, each an openslo/v1 mapping."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the SLO objectives ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {raw[exc.start]:#04x} on line {line}); save it as UTF-8"
        ) from None
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(one_line(f"{path}: cannot read as YAML: {problem}{at}")) from None
    except RecursionError:
        raise ConfigError(f"{path}: cannot read as YAML: nested too deeply") from None
    found = []
    for number, document in enumerate(documents, 1):
        if document is None:
            continue
        if (
            not isinstance(document, dict)
            or document.get("apiVersion") != API_VERSION
            or not isinstance(document.get("kind"), str)
        ):
            raise ConfigError(
                f"{path} document {number}: not an {API_VERSION} document "
                f"(apiVersion: {API_VERSION} and a kind, e.g. SLO or AlertCondition)"
            )
        found.append((number, document))
    return found


def _where(path: Path, number: int, document: dict[str, Any]) -> str:
    """``<path> document 3 (AlertCondition fast-burn)``."""
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    named = f" {name}" if isinstance(name, str) and name.strip() else ""
    return one_line(f"{path} document {number} ({document['kind']}{named})")


def _objective(document: SloDocument) -> Objective:
    indicator, spec = document.spec.indicator, document.spec
    ratio = indicator.spec.ratioMetric
    return Objective(
        name=indicator.metadata.name,
        display=document.metadata.displayName or document.metadata.name,
        target=spec.objectives[0].target,
        good=ratio.good.metricSource.spec.query,
        total=ratio.total.metricSource.spec.query,
        window_seconds=spec.timeWindow[0].duration,
    )
