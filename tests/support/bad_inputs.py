"""Adversarial inputs the pipeline must refuse with exit 2 and one line: bad ``[tool.pipeline]``
tables (for ``pipeline_project``'s miniature repository) and bad SLO objectives files (changes
of this repository's ``slo/objectives.yaml``).

Each case is ``(id, old, new, expected)``: replace ``old`` by ``new`` in the file, and the one
line that refuses it contains ``expected``. ``new`` may be bytes (a file that is not UTF-8).
The unit tests check the loaders with them; tests/integration/test_bad_inputs.py runs the
gates command line on them and checks that nothing was recorded and nothing lost.
"""

from typing import NamedTuple

from support.pipeline_project import OBJECTIVES

__all__ = ["Case", "CONFIGS", "OBJECTIVES", "OBJECTIVES_CASES"]
HOOK = 'service_settings = "techcorp_api.settings:check_environment"'
SERVICE = 'service = "mini"'
STAGING = "[tool.pipeline.environments.staging]\nport = 18101"


class Case(NamedTuple):
    id: str
    old: str
    new: str | bytes
    expected: str
    also: tuple[str, str] | None = None  # a second change, made first

    def applied(self, text: str) -> bytes:
        """``text`` with the changes made; the case is wrong if ``old`` is not in it."""
        if self.also:
            text = Case(self.id, *self.also, self.expected).applied(text).decode()
        assert self.old in text, f"{self.id}: {self.old!r} is not in the file"
        head, tail = text.split(self.old, 1)
        new = self.new if isinstance(self.new, bytes) else self.new.encode()
        return head.encode() + new + tail.encode()


def _table(name: str, body: str) -> str:
    return f"[tool.pipeline.{name}]\n{body}\n[tool.coverage.run]"


CONFIGS = [
    Case("state dir is a file", SERVICE, f'{SERVICE}\nstate_dir = "mini.py"', "is a file"),
    Case("state dir below a file", SERVICE, f'{SERVICE}\nstate_dir = "mini.py/x"', "is a file"),
    Case(
        "environment name climbs out",
        "[tool.pipeline.environments.staging]",
        '[tool.pipeline.environments."../../x"]',
        "'../../x' must be a simple name",
    ),
    Case(
        "environment name with a slash",
        "[tool.pipeline.environments.staging]",
        '[tool.pipeline.environments."a/b"]',
        "'a/b' must be a simple name",
    ),
    Case("workers fork-storm", STAGING, f"{STAGING}\nworkers = 100000", "workers must be"),
    Case("workers zero", STAGING, f"{STAGING}\nworkers = 0", "workers must be a whole number"),
    Case(
        "service LOG_LEVEL",
        STAGING,
        f'{STAGING}\nenv = {{ LOG_LEVEL = "LOUD" }}',
        "env LOG_LEVEL must be one of",
        (SERVICE, f"{SERVICE}\n{HOOK}"),
    ),
    Case(
        "service WEB_CONCURRENCY",
        STAGING,
        f'{STAGING}\nenv = {{ WEB_CONCURRENCY = "zero" }}',
        "env WEB_CONCURRENCY='zero' is not a whole number",
        (SERVICE, f"{SERVICE}\n{HOOK}"),
    ),
    Case(
        "service GUNICORN_THREADS",
        STAGING,
        f'{STAGING}\nenv = {{ GUNICORN_THREADS = "many" }}',
        "env GUNICORN_THREADS='many' is not a whole number",
        (SERVICE, f"{SERVICE}\n{HOOK}"),
    ),
    Case(
        "service hook missing",
        SERVICE,
        f'{SERVICE}\nservice_settings = "no_such_module:check"',
        "service_settings cannot load 'no_such_module:check'",
    ),
    Case(
        "cutover timeout 1e17",
        "[tool.coverage.run]",
        _table("deploy", "cutover_timeout = 1e17"),
        "cutover_timeout must be a whole number 1-600",
    ),
    Case(
        "cutover timeout 10**17",
        "[tool.coverage.run]",
        _table("deploy", "cutover_timeout = 100000000000000000"),
        "cutover_timeout must be a whole number 1-600",
    ),
    Case(
        "lock timeout",
        "[tool.coverage.run]",
        _table("deploy", "lock_timeout = 86400"),
        "lock_timeout must be",
    ),
    Case(
        "build timeout",
        "[tool.coverage.run]",
        _table("build", "timeout = 1e9"),
        "timeout must be a whole number 1-3600",
    ),
    Case(
        "slo window",
        "[tool.coverage.run]",
        _table("slo", 'window = "1e17s"'),
        "window must be a duration",
    ),
    Case(
        "slo probe rate",
        "[tool.coverage.run]",
        _table("slo", "probe_rate = 100000"),
        "probe_rate must be a whole number 1-1000",
    ),
    Case("port below 1024", "port = 18101", "port = 80", "port must be a whole number 1024-65535"),
    Case("unknown key", SERVICE, f'{SERVICE}\nstat_dir = "x"', "unknown key 'stat_dir'"),
    Case("not TOML", SERVICE, 'service = "mini', "not valid TOML"),
]

AVAILABILITY = "    - displayName: 99.9% of requests succeed\n      target: 0.999"
WINDOW = "    - duration: 28d\n      isRolling: true\n"
FIRST_INDICATOR = "  indicator:\n    metadata:\n      name: availability"
CONDITION = (
    "  condition:\n    kind: burnrate\n    op: gt\n    threshold: 14.4\n    lookbackWindow: 1h\n"
)
CONDITION += "    alertAfter: 0m"
FIRST_INDICATOR_BLOCK = FIRST_INDICATOR + """
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: prometheus
            spec:
              query: http_requests_total{route!="/metrics",status!~"5.."}
        total:
          metricSource:
            type: prometheus
            spec:
              query: http_requests_total{route!="/metrics"}
"""
FIRST_SOURCE = "          metricSource:\n            type: prometheus\n"
POLICY = "\n---\napiVersion: openslo/v1\nkind: AlertPolicy\nmetadata:\n  name: page-me\nspec: {}\n"
SLO_1 = "document 1 (SLO techcorp-api-availability)"
ALERT_3 = "document 3 (AlertCondition fast-burn)"

OBJECTIVES_CASES = [
    Case("objectives empty", AVAILABILITY, "    []", f"{SLO_1}: spec.objectives must be a list"),
    Case(
        "objectives a mapping",
        "  objectives:\n" + AVAILABILITY,
        "  objectives:\n    target: 0.999",
        f"{SLO_1}: spec.objectives must be a list of one objective",
    ),
    Case(
        "two objectives",
        AVAILABILITY,
        AVAILABILITY + "\n    - target: 0.99",
        f"{SLO_1}: spec.objectives must be a list of one objective",
    ),
    Case(
        "target abc",
        "target: 0.999",
        "target: abc",
        f"{SLO_1}: spec.objectives[0].target must be a number > 0 and < 1, got 'abc'",
    ),
    Case(
        "target 1.5",
        "target: 0.999",
        "target: 1.5",
        f"{SLO_1}: spec.objectives[0].target must be a number > 0 and < 1, got 1.5",
    ),
    Case(
        "target a string number",
        "target: 0.999",
        'target: "0.999"',
        "spec.objectives[0].target must be a number > 0 and < 1, got '0.999'",
    ),
    Case(
        "threshold abc",
        "threshold: 14.4",
        "threshold: abc",
        f"{ALERT_3}: spec.condition.threshold must be a number > 0, got 'abc'",
    ),
    Case(
        "threshold -1",
        "threshold: 14.4",
        "threshold: -1",
        f"{ALERT_3}: spec.condition.threshold must be a number > 0, got -1",
    ),
    Case("threshold 0", "threshold: 14.4", "threshold: 0", "spec.condition.threshold must be"),
    Case("threshold inf", "threshold: 14.4", "threshold: .inf", "spec.condition.threshold must"),
    Case(
        "condition a string",
        CONDITION,
        "  condition: burnrate > 14.4",
        f"{ALERT_3}: spec.condition must be a mapping, got str",
    ),
    Case(
        "condition of another kind",
        "kind: burnrate",
        "kind: threshold",
        f"{ALERT_3}: spec.condition.kind must be burnrate, got 'threshold'",
    ),
    Case("condition op lt", "op: gt", "op: lt", f"{ALERT_3}: spec.condition.op must be gt"),
    Case(
        "time window empty",
        WINDOW + FIRST_INDICATOR,
        "    []\n" + FIRST_INDICATOR,
        f"{SLO_1}: spec.timeWindow must be a list of one time window",
    ),
    Case(
        "duration soon",
        "duration: 28d",
        "duration: soon",
        f"{SLO_1}: spec.timeWindow[0].duration must be a duration like 30s",
    ),
    Case(
        "selector",
        'query: http_requests_total{route!="/metrics"}',
        "query: 9bad",
        f"{SLO_1}: spec.indicator.spec.ratioMetric.total.metricSource.spec.query must be a",
    ),
    Case(
        "indicator missing",
        FIRST_INDICATOR_BLOCK,
        "",
        f"{SLO_1}: missing spec.indicator",
    ),
    Case("not UTF-8", "Availability", b"Availa\xff\xfeility", "not UTF-8 text"),
    Case("not YAML", "kind: SLO", "kind: [SLO", "cannot read as YAML"),
    Case("not openslo", "openslo/v1", "openslo/v2", "document 1: not an openslo/v1 document"),
    Case(
        "two alerts of one name",
        "name: slow-burn",
        "name: fast-burn",
        "document 4 (AlertCondition fast-burn): metadata.name 'fast-burn' is already used by "
        "document 3",
    ),
    Case(
        "one indicator name twice",
        "      name: latency",
        "      name: availability",
        "document 2 (SLO techcorp-api-latency): spec.indicator.metadata.name 'availability' is "
        "already used by document 1",
    ),
    # OpenSLO the gate does not support: refused by name, never ignored.
    Case(
        "budgeting by time slices",
        "budgetingMethod: Occurrences",
        "budgetingMethod: Timeslices",
        f"{SLO_1}: spec.budgetingMethod must be Occurrences: the gate counts good and total "
        "events, got 'Timeslices'",
    ),
    Case(
        "window not rolling",
        "isRolling: true",
        "isRolling: false",
        f"{SLO_1}: spec.timeWindow[0].isRolling must be true",
    ),
    Case(
        "calendar window",
        WINDOW,
        "    - duration: 28d\n      calendar: {startTime: 2026-01-01 00:00:00, timeZone: UTC}\n",
        f"{SLO_1}: spec.timeWindow[0].calendar is not supported: the gate judges rolling "
        "windows only",
    ),
    Case(
        "threshold metric",
        "      ratioMetric:",
        "      thresholdMetric:",
        f"{SLO_1}: spec.indicator.spec.thresholdMetric is not supported: the gate judges ratio",
    ),
    Case(
        "raw metric",
        "      ratioMetric:",
        "      rawMetric:",
        f"{SLO_1}: spec.indicator.spec.rawMetric is not supported",
    ),
    Case(
        "bad instead of good",
        "        good:",
        "        bad:",
        f"{SLO_1}: spec.indicator.spec.ratioMetric.bad is not supported",
    ),
    Case(
        "not a counter",
        "counter: true",
        "counter: false",
        f"{SLO_1}: spec.indicator.spec.ratioMetric.counter must be true",
    ),
    Case(
        "another metric source",
        "type: prometheus",
        "type: datadog",
        f"{SLO_1}: spec.indicator.spec.ratioMetric.good.metricSource.type must be prometheus",
    ),
    Case(
        "metric source by reference",
        FIRST_SOURCE,
        FIRST_SOURCE.replace("type:", "metricSourceRef: prom\n            type:"),
        f"{SLO_1}: spec.indicator.spec.ratioMetric.good.metricSource.metricSourceRef is not "
        "supported",
    ),
    Case(
        "target in percent",
        "      target: 0.999",
        "      targetPercent: 99.9",
        f"{SLO_1}: spec.objectives[0].targetPercent is not supported: write the objective as "
        "target",
    ),
    Case(
        "time slice objective",
        "      target: 0.999",
        "      target: 0.999\n      timeSliceTarget: 0.95",
        f"{SLO_1}: spec.objectives[0].timeSliceTarget is not supported",
    ),
    Case(
        "alert policies",
        "  budgetingMethod: Occurrences",
        "  budgetingMethod: Occurrences\n  alertPolicies: [page-me]",
        f"{SLO_1}: spec.alertPolicies is not supported: every AlertCondition",
    ),
    Case(
        "unknown key in an SLO",
        "  budgetingMethod: Occurrences",
        "  budgetingMethod: Occurrences\n  budgetMethod: Occurrences",
        f"{SLO_1}: spec: unknown key 'budgetMethod'",
    ),
    Case(
        "condition op gte",
        "op: gt",
        "op: gte",
        f"{ALERT_3}: spec.condition.op must be gt, got 'gte'",
    ),
    Case(
        "lookback missing",
        "    lookbackWindow: 1h\n",
        "",
        f"{ALERT_3}: missing spec.condition.lookbackWindow",
    ),
    Case(
        "lookback too short",
        "lookbackWindow: 1h",
        "lookbackWindow: 5m",
        f"{ALERT_3}: spec.condition.lookbackWindow must be a duration like 1h, of at least 6m",
    ),
    Case(
        "unknown key in a condition",
        "    op: gt\n    threshold: 14.4",
        "    op: gt\n    threshold: 14.4\n    window: 5m",
        f"{ALERT_3}: spec.condition: unknown key 'window' (known keys: alertAfter, kind, "
        "lookbackWindow, op, threshold)",
    ),
    Case(
        "severity missing",
        "  severity: page\n",
        "",
        f"{ALERT_3}: missing spec.severity",
    ),
    Case(
        "an alert policy",
        "alertAfter: 0m",
        "alertAfter: 0m" + POLICY,
        "document 4 (AlertPolicy page-me): kind AlertPolicy is not supported",
    ),
]
