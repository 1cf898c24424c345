"""``gates slo-rules``: Prometheus recording and alerting rules generated from the objectives.

The SLO objectives file (slo/objectives.yaml, read by gates.slo.objectives) becomes one
Prometheus rule file, the way Sloth and Pyrra generate theirs: recording rules for each SLI's
error ratio over a set of windows, and multiwindow, multi-burn-rate alerting rules (the SRE
Workbook's) for each AlertCondition. The file is checked with ``promtool check rules`` before
it replaces the output: a file promtool rejects is kept beside it as ``<output>.rejected``
(the output, if any, stays the last file promtool accepted) and the stage fails (exit 1);
without promtool it cannot tell (exit 3), never a silent pass.
``gates build`` writes the same file (unchecked: the build needs no promtool) into every
release as ``slo-rules.yml``, listed in the manifest with its sha256.

Output: ``--output PATH``, default ``<state_dir>/slo-rules.yml``. Load it into Prometheus
with ``rule_files: [slo-rules.yml]``.

The naming contract (tests and dashboards rely on it; change it only with them):

- Recording rules, one group ``slo-sli-recordings-<slo>`` per SLO, every rule labelled
  ``slo: <indicator name>`` (``availability``, ``latency``):

  - ``slo:sli_error:ratio_rate<window>`` for the windows 5m, 30m, 1h, 6h, every
    AlertCondition's lookback and short window (lookback / 12, as gates.slo.evidence), and
    the SLO's own period (``ratio_rate28d``): ``1 - sum(rate(good[w])) / sum(rate(total[w]))``.
    A window without requests records no sample (the division is by ``total > 0``), and a
    window with requests but no good series at all records 1 (``or vector(0)``), not nothing;
  - ``slo:objective:ratio`` (the target) and ``slo:error_budget:ratio`` (1 - target).

- Alerting rules, one group ``slo-burn-rate-alerts``: for every AlertCondition and every SLO
  an alert named ``SLOBurnRate`` + the condition's name in CamelCase (``fast-burn`` ->
  ``SLOBurnRateFastBurn``, ``slow-burn`` -> ``SLOBurnRateSlowBurn``), firing when

  ``(ratio over lookback > threshold * (1 - target)) and (ratio over lookback/12 > same)``

  with its value the burn rate over the long window. Labels: ``slo`` (indicator name),
  ``severity`` (the condition's, e.g. page or ticket), ``condition`` (its name),
  ``long_window`` and ``short_window`` (``1h``, ``5m``). Annotations: ``summary``,
  ``description`` (the SLO, the windows, the burn rate and its threshold) and
  ``runbook_url`` (``[tool.pipeline.slo] runbook_url``).

Windows are written as Prometheus durations (``5m``, ``1h``, ``28d``, ``1h30m``); lookbacks
are rounded to whole seconds.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from gates.slo import evidence as slo_evidence, objectives as slo_objectives
from gates.outcome import MeasurementError
from gates.tools import run_tool

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from gates.config import PipelineConfig
    from gates.report import Report

RULES_FILE = "slo-rules.yml"
STANDARD_WINDOWS = (300.0, 1800.0, 3600.0, 21600.0)  # 5m, 30m, 1h, 6h
ALERT_GROUP = "slo-burn-rate-alerts"
INSTALL_PROMTOOL = (
    "install it: sudo apt-get install prometheus (Debian/Ubuntu; promtool comes with it), "
    "or put promtool from the upstream tarball (prometheus.io/download) on PATH"
)
PROMTOOL_TIMEOUT = 120.0  # s: bounds a hang; checking a few dozen rules takes well under 1 s


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--output",
        type=Path,
        help=f"where to write the rule file (default: <state_dir>/{RULES_FILE})",
    )


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    """Generate the rules, check them with promtool, and only then replace ``--output``."""
    output = Path(args.output) if args.output else config.state_dir / RULES_FILE
    source = _shown(config.slo.objectives, config.root)
    objectives = slo_objectives.load(config.slo.objectives)
    text = render(objectives, config.slo.runbook_url, source)
    promtool = promtool_binary()
    output.parent.mkdir(parents=True, exist_ok=True)
    candidate = output.with_name(output.name + ".candidate")
    candidate.write_text(text, encoding="utf-8")
    checked = run_tool(
        "promtool check rules",
        [promtool, "check", "rules", str(candidate)],
        config.root,
        echo=False,
        timeout=PROMTOOL_TIMEOUT,
    )
    if checked.returncode not in (0, 1):
        candidate.unlink(missing_ok=True)
        raise MeasurementError(
            f"promtool check rules exited {checked.returncode} without judging the rules: "
            f"{checked.tail(1) or 'no output'}"
        )
    recording, alerting = count_rules(objectives)
    report.details.update(
        output=str(output),
        objectives=source,
        recording_rules=recording,
        alerting_rules=alerting,
        promtool=checked.tail(20),
    )
    rejected = output.with_name(output.name + ".rejected")
    if checked.returncode == 1:
        os.replace(candidate, rejected)
        report.add(
            "promtool check rules",
            False,
            f"rejected: {_failure(checked.output, candidate)}; the rejected file is {rejected}",
            "promtool check rules passes",
            source,
        )
        print(checked.output.rstrip())
        return
    os.replace(candidate, output)
    rejected.unlink(missing_ok=True)  # an earlier run's: this one is what promtool accepted
    report.add(
        "promtool check rules",
        True,
        f"{recording} recording and {alerting} alerting rules in {output}",
        "promtool check rules passes",
        source,
    )


def write_release_rules(config: PipelineConfig, tree: Path, destination: Path) -> Path:
    """The rule file of a release: generated from the objectives file in the exported
    ``tree`` (the commit being built), written to ``destination`` / RULES_FILE."""
    objectives_file = config.slo.objectives
    try:
        objectives_file = tree / config.slo.objectives.relative_to(config.root)
    except ValueError:  # configured outside the repository: it is not in the export
        pass
    objectives = slo_objectives.load(objectives_file)
    path = destination / RULES_FILE
    text = render(objectives, config.slo.runbook_url, _shown(config.slo.objectives, config.root))
    path.write_text(text, encoding="utf-8")
    return path


def promtool_binary() -> str:
    """promtool on PATH, or MeasurementError (exit 3) saying how to install it."""
    found = shutil.which("promtool")
    if found is None:
        raise MeasurementError(
            f"promtool is not on PATH, so the rules cannot be checked; " f"{INSTALL_PROMTOOL}"
        )
    return found


def alert_name(condition: str) -> str:
    """``fast-burn`` -> ``SLOBurnRateFastBurn``: the condition's words, capitalised."""
    words = re.split(r"[^A-Za-z0-9]+", condition)
    return "SLOBurnRate" + "".join(word[:1].upper() + word[1:] for word in words)


def prometheus_duration(seconds: float) -> str:
    """Whole seconds as a Prometheus duration: ``3600`` -> ``1h``, ``5400`` -> ``1h30m``."""
    left = max(1, round(seconds))
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts)


def windows(objectives: slo_objectives.Objectives) -> list[float]:
    """The burn windows every SLO records: the standard ones and each alert's two."""
    found = {float(round(w)) for w in STANDARD_WINDOWS}
    for alert in objectives.alerts:
        found.add(float(max(1, round(alert.lookback_seconds))))
        found.add(slo_evidence.short_window(alert.lookback_seconds))
    return sorted(found)


def error_ratio(slo: slo_objectives.Objective, window: str) -> str:
    good = f"sum(rate({slo.good.text}[{window}]))"
    total = f"sum(rate({slo.total.text}[{window}]))"
    return f"1 - ({good} or vector(0)) / ({total} > 0)"


def ratio_record(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


def recording_group(slo: slo_objectives.Objective, spans: list[float]) -> dict[str, Any]:
    labels = {"slo": slo.name}
    period = prometheus_duration(slo.window_seconds)
    names = [prometheus_duration(w) for w in spans]
    names += [period] if period not in names else []
    rules: list[dict[str, Any]] = [
        {"record": ratio_record(name), "expr": error_ratio(slo, name), "labels": labels}
        for name in names
    ]
    rules += [
        {
            "record": "slo:objective:ratio",
            "expr": f"vector({_number(slo.target)})",
            "labels": labels,
        },
        {
            "record": "slo:error_budget:ratio",
            "expr": f"vector(1 - {_number(slo.target)})",
            "labels": labels,
        },
    ]
    return {"name": f"slo-sli-recordings-{slo.name}", "rules": rules}


def alerting_rule(
    slo: slo_objectives.Objective, alert: slo_objectives.BurnAlert, runbook_url: str
) -> dict[str, Any]:
    long = prometheus_duration(alert.lookback_seconds)
    short = prometheus_duration(slo_evidence.short_window(alert.lookback_seconds))
    budget = f"(1 - {_number(slo.target)})"
    limit = f"{_number(alert.threshold)} * {budget}"
    selector = f"{{slo={_quoted(slo.name)}}}"
    # The long window's burn rate is the alert's value; the short one only confirms it.
    expr = (
        f"(\n  {ratio_record(long)}{selector} > {limit}\n) / {budget}\n"
        f"and on (slo)\n{ratio_record(short)}{selector} > {limit}\n"
    )
    return {
        "alert": alert_name(alert.name),
        "expr": expr,
        "labels": {
            "slo": slo.name,
            "severity": alert.severity,
            "condition": alert.name,
            "long_window": long,
            "short_window": short,
        },
        "annotations": {
            "summary": (
                f"{slo.display} SLO ({slo.name}) is burning its error budget over "
                f"{alert.threshold:g}x too fast ({alert.name})"
            ),
            "description": (
                f"The {slo.name} error ratio burns the {_percent(1 - slo.target)} budget of the "
                f"{_percent(slo.target)} objective ({prometheus_duration(slo.window_seconds)}) "
                f'at {{{{ $value | printf "%.1f" }}}}x over the last {long}, and above '
                f"{alert.threshold:g}x over the last {short} too (threshold {alert.threshold:g}x "
                f"over {long} and {short}: {alert.name}, severity {alert.severity})."
            ),
            "runbook_url": runbook_url,
        },
    }


def rule_groups(objectives: slo_objectives.Objectives, runbook_url: str) -> list[dict[str, Any]]:
    spans = windows(objectives)
    groups = [recording_group(slo, spans) for slo in objectives.slos]
    alerts = [
        alerting_rule(slo, alert, runbook_url)
        for alert in objectives.alerts
        for slo in objectives.slos
    ]
    return [*groups, {"name": ALERT_GROUP, "rules": alerts}]


def count_rules(objectives: slo_objectives.Objectives) -> tuple[int, int]:
    """(recording rules, alerting rules) the file holds."""
    groups = rule_groups(objectives, "")
    recording = sum(len(g["rules"]) for g in groups if g["name"] != ALERT_GROUP)
    return recording, len(objectives.slos) * len(objectives.alerts)


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions as literal blocks, readable in the file; no anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _literal(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _literal)


def render(objectives: slo_objectives.Objectives, runbook_url: str, source: str) -> str:
    """The rule file's text: deterministic (no timestamps), so a release's digest is stable."""
    body = yaml.dump(
        {"groups": rule_groups(objectives, runbook_url)},
        Dumper=_Dumper,
        sort_keys=False,
        width=1000,
        allow_unicode=True,
    )
    header = (
        f"# Generated by `gates slo-rules` from {source}; do not edit: change the objectives\n"
        "# and regenerate. Naming contract: gates/slo/rules.py.\n"
    )
    return header + body


def _quoted(value: str) -> str:
    """A PromQL string literal: ``my "slo"`` -> ``"my \\"slo\\""``."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(value: float) -> str:
    """A PromQL number, exactly as Python holds it: ``14.4``, ``20`` (not ``20.0``)."""
    text = repr(value)
    return text.removesuffix(".0")


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.4g} %"


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _failure(output: str, checked: Path) -> str:
    """promtool's first complaint, without the checked file's name, and how many it made."""
    prefix = f"{checked}: "
    problems = [
        line.removeprefix(prefix) for line in output.splitlines() if line.startswith(prefix)
    ]
    if not problems:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        return lines[-1] if lines else "no output"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return problems[0] + more
