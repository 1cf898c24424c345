"""The generated SLO rules under promtool: ``gates slo-rules`` checks them (``promtool check
rules``) and fails on a file promtool rejects; ``promtool test rules`` cases with synthetic
series show every alert firing when it should and staying silent when it should.

``gates slo-rules`` runs as a real ``python -m gates`` process once (the rules promtool
accepts); its failure cases run through the same CLI in this process.

Each case writes a promtool test file beside the rules generated from the objectives, one
sample a minute, and runs ``promtool test rules`` on it. The series are cumulative counters
built from per-minute traffic: ``minutes(60, good=98, bad=2)`` is an hour at a 2 % error ratio,
20 times the 0.1 % budget of the availability objective.
"""

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from gates.slo import objectives as slo_objectives, rules as slo_rules
from support.gates_cli import run_gates, run_gates_in_process
from support.pipeline_project import OBJECTIVES, make_project
from support.promtool import promtool, promtool_binary

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = "https://example.org/runbook#slo"
AVAILABILITY_GOOD = 'http_requests_total{route="/api/data",status="200"}'
AVAILABILITY_BAD = 'http_requests_total{route="/api/data",status="500"}'
LATENCY_FAST = 'http_request_duration_seconds_bucket{route="/api/data",le="0.2"}'
LATENCY_ALL = 'http_request_duration_seconds_count{route="/api/data"}'


@dataclass(frozen=True)
class Minutes:
    """A stretch of steady traffic: ``count`` minutes of ``good`` and ``bad`` requests each."""

    count: int
    good: int
    bad: int


def minutes(count, good, bad):
    return Minutes(count, good, bad)


def counters(stretches):
    """(good, bad) cumulative counter values, one a minute, from 0."""
    good, bad = [0], [0]
    for stretch in stretches:
        for _ in range(stretch.count):
            good.append(good[-1] + stretch.good)
            bad.append(bad[-1] + stretch.bad)
    return good, bad


def availability_series(stretches):
    good, bad = counters(stretches)
    return [
        {"series": AVAILABILITY_GOOD, "values": " ".join(map(str, good))},
        {"series": AVAILABILITY_BAD, "values": " ".join(map(str, bad))},
    ]


def latency_series(stretches):
    fast, slow = counters(stretches)
    return [
        {"series": LATENCY_FAST, "values": " ".join(map(str, fast))},
        {"series": LATENCY_ALL, "values": " ".join(str(f + s) for f, s in zip(fast, slow))},
    ]


@dataclass(frozen=True)
class Case:
    """Traffic, when to look, and which alerts fire then: {alert name: (slo, burn rate as
    the description prints it)}, or None for an alert that fires and is not looked at.
    An alert not named must stay silent."""

    id: str
    series: list
    at: str
    firing: dict = field(default_factory=dict)
    promql: list = field(default_factory=list)  # extra promql_expr_test entries


CASES = [
    Case(
        "healthy-traffic-fires-nothing",
        availability_series([minutes(7 * 60, good=1999, bad=1)]),  # 0.05 %: half the budget
        at="6h10m",
    ),
    Case(
        "20x-over-1h-and-5m-pages-and-tickets",
        availability_series([minutes(70, good=98, bad=2)]),
        at="65m",
        firing={"SLOBurnRateFastBurn": ("availability", "20.0"), "SLOBurnRateSlowBurn": None},
    ),
    Case(
        "20x-only-over-the-last-5m-fires-nothing",
        availability_series([minutes(120, good=100, bad=0), minutes(5, good=98, bad=2)]),
        at="125m",
    ),
    Case(
        "8x-over-6h-and-30m-tickets-and-does-not-page",
        availability_series([minutes(6 * 60 + 10, good=992, bad=8)]),
        at="6h5m",
        firing={"SLOBurnRateSlowBurn": ("availability", "8.0")},
    ),
    Case(
        "8x-only-over-the-last-30m-fires-nothing",
        availability_series([minutes(6 * 60, good=1000, bad=0), minutes(30, good=992, bad=8)]),
        at="6h30m",
    ),
    Case(
        "latency-20x-pages-for-latency",
        latency_series([minutes(70, good=80, bad=20)]),  # 20 % slow: 20 x the 1 % budget
        at="65m",
        firing={"SLOBurnRateFastBurn": ("latency", "20.0"), "SLOBurnRateSlowBurn": None},
    ),
    Case(
        "only-failures-with-no-good-series-pages",
        [{"series": AVAILABILITY_BAD, "values": "0+5x70"}],
        at="65m",
        firing={"SLOBurnRateFastBurn": ("availability", "1000.0"), "SLOBurnRateSlowBurn": None},
        promql=[
            {
                "expr": 'slo:sli_error:ratio_rate5m{slo="availability"}',
                "eval_time": "65m",
                "exp_samples": [
                    {"labels": 'slo:sli_error:ratio_rate5m{slo="availability"}', "value": 1}
                ],
            }
        ],
    ),
    Case(
        "no-traffic-records-no-ratio-and-fires-nothing",
        availability_series([minutes(70, good=0, bad=0)]),
        at="65m",
        promql=[
            {
                "expr": 'slo:sli_error:ratio_rate1h{slo="availability"}',
                "eval_time": "65m",
                "exp_samples": [],
            }
        ],
    ),
]


def generate(directory, objectives=OBJECTIVES):
    rules = directory / slo_rules.RULES_FILE
    text = slo_rules.render(slo_objectives.load(objectives), RUNBOOK, "slo/objectives.yaml")
    rules.write_text(text)
    return yaml.safe_load(text)


def expected_alerts(rules, name, firing):
    """The alerts promtool should report for ``name``: the generated rule's labels and
    annotations, its description rendered with the expected burn rate."""
    slo, burn = firing
    rule = next(
        r
        for group in rules["groups"]
        for r in group["rules"]
        if r.get("alert") == name and r["labels"]["slo"] == slo
    )
    annotations = dict(rule["annotations"])
    annotations["description"] = annotations["description"].replace(
        '{{ $value | printf "%.1f" }}', burn
    )
    return [{"exp_labels": rule["labels"], "exp_annotations": annotations}]


def promtool_test_file(directory, rules, case):
    tests = []
    for name in ("SLOBurnRateFastBurn", "SLOBurnRateSlowBurn"):
        if name not in case.firing:
            tests.append({"eval_time": case.at, "alertname": name, "exp_alerts": []})
        elif case.firing[name] is not None:
            expected = expected_alerts(rules, name, case.firing[name])
            tests.append({"eval_time": case.at, "alertname": name, "exp_alerts": expected})
    document = {
        "rule_files": [slo_rules.RULES_FILE],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": case.series,
                "alert_rule_test": tests,
                "promql_expr_test": case.promql,
            }
        ],
    }
    path = directory / f"{case.id}.test.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, width=100000))
    return path


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_promtool_rule_cases(tmp_path, case):
    rules = generate(tmp_path)
    tested = promtool("test", "rules", promtool_test_file(tmp_path, rules, case), cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_a_wrong_threshold_fails_the_page_case_for_the_right_reason(tmp_path):
    """The cases are not vacuous: rules generated with the page threshold at 25x (above the
    20x burn) do not page, and promtool says the expected page is missing."""
    objectives = tmp_path / "objectives.yaml"
    objectives.write_text(OBJECTIVES.read_text().replace("threshold: 14.4", "threshold: 25"))
    rules = generate(tmp_path, objectives)
    page = next(case for case in CASES if case.id == "20x-over-1h-and-5m-pages-and-tickets")
    tested = promtool("test", "rules", promtool_test_file(tmp_path, rules, page), cwd=tmp_path)
    assert tested.returncode == 1
    output = tested.stdout + tested.stderr
    assert "alertname: SLOBurnRateFastBurn" in output and "got:[]" in output.replace(" ", "")
    assert "SLOBurnRateSlowBurn" not in output  # the ticket still fires as expected


def test_gates_slo_rules_writes_a_file_promtool_accepts(tmp_path):
    promtool_binary()
    output = tmp_path / "out" / "slo-rules.yml"
    done = run_gates(
        ROOT / "pyproject.toml", "slo-rules", "--output", str(output), state_dir=tmp_path / "state"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "promtool check rules" in done.stdout
    checked = promtool("check", "rules", output, cwd=tmp_path)
    assert checked.returncode == 0 and "SUCCESS: 18 rules found" in checked.stdout
    report = (tmp_path / "state" / "reports" / "slo-rules.json").read_text()
    assert '"alerting_rules": 4' in report


def project_with_objectives(tmp_path, objectives_text):
    """A miniature project whose objectives file is ``objectives_text``."""
    config = make_project(tmp_path / "project")
    (tmp_path / "project" / "slo" / "objectives.yaml").write_text(objectives_text)
    return config


def test_a_rule_file_promtool_rejects_fails_the_stage_and_is_not_the_output(tmp_path):
    """A selector the objectives loader accepts (Python's regular expressions know lookahead)
    that PromQL's RE2 does not: promtool rejects the rules, the stage exits 1 and says so,
    and the output stays the last file promtool accepted."""
    promtool_binary()
    lookahead = OBJECTIVES.read_text().replace('status!~"5.."', 'status=~"(?!5).*"')
    config = project_with_objectives(tmp_path, lookahead)
    output = tmp_path / "slo-rules.yml"
    output.write_text("# the rules promtool accepted last time\n")
    done = run_gates_in_process(
        config, "slo-rules", "--output", str(output), state_dir=tmp_path / "state"
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL promtool check rules: rejected: " in done.stdout
    assert "invalid or unsupported Perl syntax: `(?!`" in done.stdout  # promtool's complaint
    assert "(and 4 more)" in done.stdout  # the good selector in each of five windows
    assert output.read_text() == "# the rules promtool accepted last time\n"
    assert "(?!5)" in (tmp_path / "slo-rules.yml.rejected").read_text()


def test_without_promtool_the_stage_cannot_tell(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    output = tmp_path / "slo-rules.yml"
    done = run_gates_in_process(
        ROOT / "pyproject.toml",
        "slo-rules",
        "--output",
        str(output),
        state_dir=tmp_path / "state",
        env={"PATH": str(empty)},
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "promtool is not on PATH" in done.stderr
    assert "apt-get install prometheus" in done.stderr
    assert not output.exists()


def test_a_promtool_that_does_not_judge_the_rules_is_could_not_measure(tmp_path):
    """promtool exiting neither 0 (valid) nor 1 (invalid) said nothing about the rules."""
    tools = tmp_path / "bin"
    tools.mkdir()
    fake = tools / "promtool"
    fake.write_text("#!/bin/sh\necho 'promtool: killed by the test' >&2\nexit 2\n")
    fake.chmod(0o755)
    output = tmp_path / "slo-rules.yml"
    done = run_gates_in_process(
        ROOT / "pyproject.toml",
        "slo-rules",
        "--output",
        str(output),
        state_dir=tmp_path / "state",
        env={"PATH": str(tools)},
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "promtool check rules exited 2 without judging the rules" in done.stderr
    assert not output.exists() and not list(tmp_path.glob("slo-rules.yml.*"))


def test_an_slo_name_with_quotes_and_backslashes_is_one_promql_string(tmp_path):
    """The indicator name is a label value inside the alert expressions: quoted for PromQL,
    so the alert still selects its own SLO's ratios and fires with the name as its label."""
    name = 'web "edge" \\ api'
    objectives = tmp_path / "objectives.yaml"
    objectives.write_text(
        OBJECTIVES.read_text().replace("      name: availability", f"      name: '{name}'")
    )
    rules = generate(tmp_path, objectives)
    page = Case(
        "quoted-name-pages",
        availability_series([minutes(70, good=98, bad=2)]),
        at="65m",
        firing={"SLOBurnRateFastBurn": (name, "20.0"), "SLOBurnRateSlowBurn": None},
    )
    tested = promtool("test", "rules", promtool_test_file(tmp_path, rules, page), cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
