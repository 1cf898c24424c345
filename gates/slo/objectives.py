"""The SLO objectives file (OpenSLO v1 YAML): SLOs with ratio SLIs, and burn-rate alerts.

Validated where it enters, before anything is measured or recorded, and whatever is wrong is
one ConfigError line (exit 2) naming the file, the document and the key, worded like the
configuration's (gates.config.errors):
``slo/objectives.yaml document 3 (AlertCondition fast-burn): spec.condition.threshold must be
a number > 0, got -1``.

What the gate supports is read; what it does not is refused by name, never ignored:

- documents of kind SLO and AlertCondition are read; Service and AlertNotificationTarget are
  accepted and not read; any other kind (AlertPolicy, SLI, DataSource...) is refused;
- an SLO: one inline ``indicator`` with a ``ratioMetric`` of good and total Prometheus counter
  selectors (``counter: true``, ``metricSource.type: prometheus``), ``budgetingMethod:
  Occurrences``, one rolling ``timeWindow`` (``isRolling: true``), one objective with a
  ``target``. thresholdMetric, rawMetric, bad, raw, indicatorRef, metricSourceRef, calendar
  windows, targetPercent, time slices, composite objectives and alertPolicies are refused;
- an AlertCondition: ``severity`` and a ``condition`` of kind burnrate, op gt, a threshold and
  a ``lookbackWindow`` (at least 6m). Every AlertCondition applies to every SLO;
- accepted and not read, since they cannot change a verdict: description, displayName,
  labels, annotations, service, and a condition's alertAfter (the gate evaluates once).
- Any other key in these mappings is an unknown key.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator
from pydantic import StringConstraints, ValidationInfo, field_validator, model_validator

from gates import durations

from gates.slo import selectors
from gates.config.errors import one_line, validated_document
from gates.config.rules import refuse_unknown_keys, rule
from gates.durations import seconds
from gates.outcome import ConfigError

__all__ = ["BurnAlert", "Objective", "Objectives", "load", "seconds"]
API_VERSION = "openslo/v1"
UNREAD_KINDS = frozenset({"Service", "AlertNotificationTarget"})  # descriptive: accepted
COMPOSITE = "the gate judges each SLO's own spec.indicator (no composite SLOs)"
# s: the short window (a twelfth, here 30 s) then holds two scrapes at Prometheus's usual
# 15 s interval; increase() over fewer than two samples has no value
MIN_LOOKBACK = 6 * 60.0


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
Ratio = Annotated[
    float, Field(strict=True, gt=0, lt=1, allow_inf_nan=False), rule("must be a number > 0 and < 1")
]
BurnRate = Annotated[
    float, Field(strict=True, gt=0, allow_inf_nan=False), rule("must be a number > 0")
]


class Node(BaseModel):
    """A mapping of an OpenSLO document the gate reads. Its keys are the ones the gate uses,
    the harmless descriptive ones it accepts without reading (description, displayName,
    labels, annotations...), and the OpenSLO keys it does not support, declared with
    ``unsupported(why)`` so that they are refused by name; any other key is unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys_only(cls, data: object) -> object:
        return refuse_unknown_keys(cls, data)

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_unsupported(cls, value: object, info: ValidationInfo) -> object:
        declared = cls.model_fields[info.field_name or ""]
        if declared.exclude:
            raise ValueError(f"is not supported: {declared.description}")
        return value


def unsupported(why: str) -> Any:
    """An OpenSLO key the gate refuses, saying ``why``; excluded from the model's data (and
    from the known keys an unknown-key message lists)."""
    return Field(default=None, exclude=True, description=why)


Harmless = Any  # an OpenSLO key accepted and not read: it cannot change a verdict


class Metadata(Node):
    name: Text
    displayName: Text | None = None
    labels: Harmless = None
    annotations: Harmless = None


class Source(Node):
    query: Query


class MetricSource(Node):
    metricSourceRef: Any = unsupported("give the metric inline as type: prometheus and spec")
    type: Annotated[
        Literal["prometheus"],
        rule("must be prometheus: the gate reads Prometheus selectors only"),
    ] = "prometheus"
    spec: Source


class Metric(Node):
    metricSource: MetricSource


class RatioMetric(Node):
    counter: Annotated[
        Literal[True],
        rule("must be true: the gate takes the increase of counters"),
    ] = True
    bad: Any = unsupported("the gate reads good and total; give good events instead of bad")
    raw: Any = unsupported("the gate reads good and total counters, not a precomputed ratio")
    rawType: Any = unsupported("the gate reads good and total counters, not a raw ratio")
    good: Metric
    total: Metric


class IndicatorSpec(Node):
    # The unsupported keys come first: a document holding one is told about it first.
    thresholdMetric: Any = unsupported("the gate judges ratio indicators (ratioMetric) only")
    rawMetric: Any = unsupported("the gate judges ratio indicators (ratioMetric) only")
    ratioMetric: RatioMetric


class Indicator(Node):
    metadata: Metadata
    spec: IndicatorSpec


class TimeWindow(Node):
    # The unsupported keys come first: a document holding one is told about it first.
    calendar: Any = unsupported("the gate judges rolling windows only (isRolling: true)")
    duration: Seconds
    isRolling: Annotated[
        Literal[True],
        rule("must be true: the gate judges rolling windows only"),
    ] = True


class Target(Node):
    displayName: Text | None = None
    targetPercent: Any = unsupported("write the objective as target, e.g. target: 0.999")
    op: Any = unsupported("threshold objectives need a thresholdMetric; give a target")
    value: Any = unsupported("threshold objectives need a thresholdMetric; give a target")
    timeSliceTarget: Any = unsupported("the gate counts occurrences, not time slices")
    timeSliceWindow: Any = unsupported("the gate counts occurrences, not time slices")
    indicator: Any = unsupported(COMPOSITE)
    indicatorRef: Any = unsupported(COMPOSITE)
    compositeWeight: Any = unsupported(COMPOSITE)
    target: Ratio


class SloSpec(Node):
    indicatorRef: Any = unsupported("give the indicator inline (spec.indicator)")
    indicator: Indicator  # first: a document missing everything is told about this first
    description: Harmless = None
    service: Harmless = None
    budgetingMethod: Annotated[
        Literal["Occurrences"],
        rule("must be Occurrences: the gate counts good and total events"),
    ] = "Occurrences"
    timeWindow: Annotated[
        tuple[TimeWindow, ...],
        Field(min_length=1, max_length=1),
        rule("must be a list of one time window, e.g. [{duration: 28d}]"),
    ]
    objectives: Annotated[
        tuple[Target, ...],
        Field(min_length=1, max_length=1),
        rule(
            "must be a list of one objective with a target between 0 and 1, e.g. [{target: 0.999}]"
        ),
    ]
    alertPolicies: Any = unsupported(
        "every AlertCondition in the file applies to every SLO; remove alertPolicies"
    )


class SloDocument(Node):
    apiVersion: Harmless = None  # checked before the document is validated
    kind: Harmless = None
    spec: SloSpec  # first, as the indicator in it
    metadata: Metadata


class Condition(Node):
    kind: Literal["burnrate"]
    op: Literal["gt"] = "gt"  # the gate fails when the burn rate is greater than the threshold
    threshold: BurnRate
    lookbackWindow: Seconds
    alertAfter: Harmless = None  # for an alerting pipeline: the gate evaluates once

    @field_validator("lookbackWindow")
    @classmethod
    def _long_enough(cls, value: float) -> float:
        if value < MIN_LOOKBACK:
            raise ValueError(f"must be a duration like 1h, of at least {MIN_LOOKBACK / 60:g}m")
        return value


class AlertSpec(Node):
    description: Harmless = None
    severity: Text
    condition: Condition


class AlertDocument(Node):
    apiVersion: Harmless = None
    kind: Harmless = None
    metadata: Metadata
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
class BurnAlert:
    """A burn-rate AlertCondition: it fires when the burn over ``lookback_seconds`` and over
    a twelfth of it both exceed ``threshold``."""

    name: str
    severity: str
    threshold: float
    lookback_seconds: float


@dataclass(frozen=True)
class Objectives:
    slos: tuple[Objective, ...]
    alerts: tuple[BurnAlert, ...]


def load(path: Path) -> Objectives:
    """The objectives in ``path``, or ConfigError: one line naming the file and the key."""
    slos: list[Objective] = []
    indicators: dict[str, int] = {}  # indicator name -> the document declaring it
    alerts: dict[str, tuple[BurnAlert, int]] = {}  # name -> (alert, its document)
    for number, document in _documents(path):
        where = _where(path, number, document)
        kind = document["kind"]
        if kind == "SLO":
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
        elif kind == "AlertCondition":
            alert = _alert(validated_document(AlertDocument, document, where))
            if alert.name in alerts:
                raise ConfigError(
                    one_line(
                        f"{where}: metadata.name {alert.name!r} is already used by document "
                        f"{alerts[alert.name][1]}; give each AlertCondition its own name"
                    )
                )
            alerts[alert.name] = (alert, number)
        elif kind not in UNREAD_KINDS:
            raise ConfigError(
                one_line(
                    f"{where}: kind {kind} is not supported: the gate reads SLO and "
                    f"AlertCondition documents ({' and '.join(sorted(UNREAD_KINDS))} are "
                    "accepted and not read); every AlertCondition applies to every SLO"
                )
            )
    if not slos:
        raise ConfigError(f"{path}: no SLO documents; add one (kind: SLO)")
    if not alerts:
        raise ConfigError(f"{path}: no AlertCondition with a burnrate threshold; add one")
    return Objectives(tuple(slos), tuple(alert for alert, _ in alerts.values()))


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


def _alert(document: AlertDocument) -> BurnAlert:
    condition = document.spec.condition
    return BurnAlert(
        name=document.metadata.name,
        severity=document.spec.severity,
        threshold=condition.threshold,
        lookback_seconds=condition.lookbackWindow,
    )
