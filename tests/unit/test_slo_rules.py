"""gates.slo.rules: the Prometheus rules generated from the objectives keep the naming
contract (alert names, labels, annotations, recorded windows) and take every threshold,
severity and window from the objectives file."""

import yaml

from gates.slo import objectives as slo_objectives, rules as slo_rules
from support.pipeline_project import OBJECTIVES

RUNBOOK = "https://example.org/runbook#slo"


def generated(path=OBJECTIVES, runbook=RUNBOOK):
    text = slo_rules.render(slo_objectives.load(path), runbook, "slo/objectives.yaml")
    return yaml.safe_load(text)


def alerts(rules):
    group = next(g for g in rules["groups"] if g["name"] == "slo-burn-rate-alerts")
    return group["rules"]


def recorded(rules, slo):
    group = next(g for g in rules["groups"] if g["name"] == f"slo-sli-recordings-{slo}")
    return group["rules"]


def test_one_alert_per_condition_and_slo_named_by_the_contract():
    found = [(a["alert"], a["labels"]["slo"]) for a in alerts(generated())]
    assert found == [
        ("SLOBurnRateFastBurn", "availability"),
        ("SLOBurnRateFastBurn", "latency"),
        ("SLOBurnRateSlowBurn", "availability"),
        ("SLOBurnRateSlowBurn", "latency"),
    ]


def test_alert_labels_say_which_slo_condition_severity_and_windows():
    by_key = {(a["alert"], a["labels"]["slo"]): a for a in alerts(generated())}
    assert by_key["SLOBurnRateFastBurn", "availability"]["labels"] == {
        "slo": "availability",
        "severity": "page",
        "condition": "fast-burn",
        "long_window": "1h",
        "short_window": "5m",
    }
    assert by_key["SLOBurnRateSlowBurn", "latency"]["labels"] == {
        "slo": "latency",
        "severity": "ticket",
        "condition": "slow-burn",
        "long_window": "6h",
        "short_window": "30m",
    }


def test_alert_annotations_name_the_slo_windows_burn_rate_and_runbook():
    fast = alerts(generated())[0]
    assert set(fast["annotations"]) == {"summary", "description", "runbook_url"}
    assert fast["annotations"]["runbook_url"] == RUNBOOK
    assert "Availability SLO (availability)" in fast["annotations"]["summary"]
    description = fast["annotations"]["description"]
    for words in ("0.1 % budget", "99.9 % objective", "last 1h", "last 5m", "14.4x", "$value"):
        assert words in description


def test_the_alert_expression_is_both_windows_over_threshold_times_budget():
    fast = alerts(generated())[0]
    expr = " ".join(fast["expr"].split())
    assert expr == (
        '( slo:sli_error:ratio_rate1h{slo="availability"} > 14.4 * (1 - 0.999) ) / (1 - 0.999) '
        'and on (slo) slo:sli_error:ratio_rate5m{slo="availability"} > 14.4 * (1 - 0.999)'
    )


def test_error_ratios_are_recorded_over_the_standard_windows_and_the_slo_period():
    rules = recorded(generated(), "availability")
    names = [r["record"] for r in rules]
    assert names == [
        "slo:sli_error:ratio_rate5m",
        "slo:sli_error:ratio_rate30m",
        "slo:sli_error:ratio_rate1h",
        "slo:sli_error:ratio_rate6h",
        "slo:sli_error:ratio_rate28d",
        "slo:objective:ratio",
        "slo:error_budget:ratio",
    ]
    assert all(r["labels"] == {"slo": "availability"} for r in rules)
    assert rules[0]["expr"] == (
        '1 - (sum(rate(http_requests_total{route!="/metrics",status!~"5.."}[5m])) '
        'or vector(0)) / (sum(rate(http_requests_total{route!="/metrics"}[5m])) > 0)'
    )


def test_thresholds_severities_and_windows_come_from_the_file(tmp_path):
    changed = (
        OBJECTIVES.read_text()
        .replace("name: fast-burn", "name: very_fast-burn2")
        .replace("severity: page", "severity: critical")
        .replace("threshold: 14.4", "threshold: 20")
        .replace("lookbackWindow: 1h", "lookbackWindow: 2h")
    )
    path = tmp_path / "objectives.yaml"
    path.write_text(changed)
    rules = generated(path)
    fast = alerts(rules)[0]
    assert fast["alert"] == "SLOBurnRateVeryFastBurn2"
    assert fast["labels"]["severity"] == "critical"
    assert (fast["labels"]["long_window"], fast["labels"]["short_window"]) == ("2h", "10m")
    assert "ratio_rate2h" in fast["expr"] and "> 20 * (1 - 0.999)" in fast["expr"]
    names = [r["record"] for r in recorded(rules, "availability")]
    assert "slo:sli_error:ratio_rate2h" in names and "slo:sli_error:ratio_rate10m" in names


def test_prometheus_durations():
    assert [
        slo_rules.prometheus_duration(s) for s in (30, 300, 3600, 5400, 21600, 28 * 86400, 90061)
    ] == ["30s", "5m", "1h", "1h30m", "6h", "28d", "1d1h1m1s"]


def test_the_file_is_the_same_every_time_for_a_reproducible_release():
    objectives = slo_objectives.load(OBJECTIVES)
    first = slo_rules.render(objectives, RUNBOOK, "slo/objectives.yaml")
    assert first == slo_rules.render(objectives, RUNBOOK, "slo/objectives.yaml")
    assert "&id" not in first  # no YAML anchors: each rule reads on its own
