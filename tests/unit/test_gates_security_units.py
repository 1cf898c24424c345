"""Scanner report parsers and the policy evaluator, without running the scanners."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from gates.config import SecurityConfig, Waiver
from gates.outcome import MeasurementError
from gates.security import bandit_scan, safety_audit, policy
from gates.security.findings import Finding

TODAY = date(2026, 11, 26)

BANDIT_KEYS = ["results", "errors", "metrics", "_totals", "loc", "./a.py", "test_id", "filename"]
BANDIT_KEYS += ["line_number", "issue_severity", "issue_confidence", "issue_text"]
SAFETY_KEYS = ["report_meta", "packages_found", "vulnerabilities", "vulnerability_id"]
SAFETY_KEYS += ["package_name", "analyzed_version", "advisory", "severity", "CVE"]
SAFETY_KEYS += ["fixed_versions", "all_vulnerable_specs", "cvssv3", "base_severity"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["HIGH", "MEDIUM", "LOW", "UNDEFINED", "<1.0", "B602", ""])
    | st.text(max_size=5)
)


def json_like(keys):
    """Arbitrary JSON, biased towards the keys a parser looks for so it gets deep."""
    return st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(keys) | st.text(max_size=3), inner, max_size=6),
        max_leaves=40,
    )


@given(data=json_like(BANDIT_KEYS))
def test_bandit_parser_never_crashes_and_never_passes_garbage(data):
    try:
        found = bandit_scan.parse(data)
    except MeasurementError:
        return
    # Parsing succeeded only for a complete scan: no errors, code scanned, findings typed.
    assert data["errors"] == [] and data["metrics"]["_totals"]["loc"] > 0
    assert all(isinstance(f, Finding) and f.severity for f in found)


@given(data=json_like(SAFETY_KEYS))
def test_safety_parser_never_crashes_and_never_passes_garbage(data):
    try:
        found, packages = safety_audit.parse(data)
    except MeasurementError:
        return
    assert packages > 0 and isinstance(data["vulnerabilities"], list)
    assert len(found) == len(data["vulnerabilities"])


def bandit_report(results, loc=10, errors=()):
    return {
        "results": results,
        "errors": list(errors),
        "metrics": {"./a.py": {"loc": loc}, "_totals": {"loc": loc}},
    }


BANDIT_RESULT = {
    "test_id": "B602",
    "filename": "./app/a.py",
    "line_number": 3,
    "issue_severity": "HIGH",
    "issue_confidence": "MEDIUM",
    "issue_text": "shell=True",
}


def test_bandit_parser_reads_a_finding():
    (finding,) = bandit_scan.parse(bandit_report([BANDIT_RESULT]))
    assert (finding.location, finding.severity, finding.confidence) == (
        "app/a.py:3",
        "HIGH",
        "MEDIUM",
    )


@pytest.mark.parametrize(
    "report, message",
    [
        (bandit_report([], loc=0), "scanned no code"),
        (bandit_report([], errors=[{"filename": "x", "reason": "r"}]), "could not scan 1"),
        (bandit_report([{**BANDIT_RESULT, "issue_severity": "SEVERE"}]), "severity 'SEVERE'"),
        (bandit_report([{**BANDIT_RESULT, "line_number": "3"}]), "line_number is str"),
    ],
)
def test_bandit_parser_refuses_incomplete_reports(report, message):
    with pytest.raises(MeasurementError, match=message):
        bandit_scan.parse(report)


def safety_vuln(**overrides):
    vuln = {
        "vulnerability_id": "1",
        "package_name": "flask",
        "analyzed_version": "1.0",
        "advisory": "bad",
        "severity": None,
        "CVE": "CVE-1",
        "fixed_versions": [],
        "all_vulnerable_specs": ["<1.1"],
    }
    return {**vuln, **overrides}


def test_safety_severity_and_fix_version():
    data = {
        "report_meta": {"packages_found": 3},
        "vulnerabilities": [
            safety_vuln(),
            safety_vuln(severity={"cvssv3": {"base_severity": "critical"}}, fixed_versions=["2"]),
            safety_vuln(all_vulnerable_specs=[">=1,<1.1"]),
        ],
    }
    found, packages = safety_audit.parse(data)
    assert packages == 3
    assert [(f.severity, f.fix) for f in found] == [
        ("UNKNOWN", ">=1.1"),
        ("CRITICAL", "2"),
        ("UNKNOWN", ""),
    ]


def test_safety_report_with_no_packages_is_refused():
    with pytest.raises(MeasurementError, match="audited no packages"):
        safety_audit.parse({"report_meta": {"packages_found": 0}, "vulnerabilities": []})


def security(waivers=(), **overrides):
    values = dict(
        bandit_paths=("app",),
        bandit_fail_severity="HIGH",
        bandit_fail_confidence="MEDIUM",
        dependency_fail_severity="ANY",
        scanner_timeout=60,
        waivers=tuple(waivers),
    )
    return SecurityConfig(**{**values, **overrides})


def bandit_finding(severity="HIGH", confidence="MEDIUM", path="app/a.py", rule="B602"):
    return Finding("bandit", rule, "t", severity, confidence, path=path, line=1)


def vuln(severity="UNKNOWN", package="Flask", rule="1", aliases=("CVE-1",)):
    return Finding("safety", rule, "t", severity, package=package, version="1", aliases=aliases)


@pytest.mark.parametrize(
    "finding, config, status",
    [
        (bandit_finding(), security(), "failing"),
        (bandit_finding(confidence="LOW"), security(), "below threshold"),
        (bandit_finding(severity="MEDIUM"), security(), "below threshold"),
        (bandit_finding(severity="UNKNOWN"), security(), "failing"),
        (bandit_finding(severity="LOW"), security(bandit_fail_severity="LOW"), "failing"),
        (vuln(), security(), "failing"),
        (vuln("LOW"), security(dependency_fail_severity="HIGH"), "below threshold"),
        (vuln("CRITICAL"), security(dependency_fail_severity="HIGH"), "failing"),
        (vuln("UNKNOWN"), security(dependency_fail_severity="CRITICAL"), "failing"),
    ],
)
def test_thresholds(finding, config, status):
    policy.evaluate([finding], config, TODAY)
    assert finding.status == status


def waiver_for(scanner, id_, target, expires=date(2027, 1, 1)):
    key = "path" if scanner == "bandit" else "package"
    entry = {"scanner": scanner, "id": id_, key: target, "reason": "because", "expires": expires}
    return TypeAdapter(Waiver).validate_python(entry)


@pytest.mark.parametrize(
    "waiver, finding, waived",
    [
        (waiver_for("bandit", "B602", "app/*.py"), bandit_finding(), True),
        (waiver_for("bandit", "B602", "gates/*"), bandit_finding(), False),
        (waiver_for("bandit", "B603", "app/a.py"), bandit_finding(), False),
        (waiver_for("safety", "1", "flask"), vuln(), True),
        (waiver_for("safety", "pyup.io-1", "FLASK"), vuln(), True),
        (waiver_for("safety", "cve-1", "flask"), vuln(), True),
        (waiver_for("safety", "1", "jinja2"), vuln(), False),
        (waiver_for("bandit", "1", "flask"), vuln(), False),
    ],
)
def test_waiver_matching(waiver, finding, waived):
    uses = policy.evaluate([finding], security([waiver]), TODAY)
    assert (finding.status == "waived") is waived
    assert uses[0].state(TODAY) == ("active" if waived else "stale")


def test_expired_waiver_does_not_waive():
    finding = bandit_finding()
    uses = policy.evaluate(
        [finding], security([waiver_for("bandit", "B602", "app/a.py", date(2026, 11, 25))]), TODAY
    )
    assert finding.status == "failing" and "expired on 2026-11-25" in finding.note
    assert uses[0].state(TODAY) == "expired"


def test_waiver_expiring_today_still_waives():
    finding = bandit_finding()
    policy.evaluate([finding], security([waiver_for("bandit", "B602", "app/a.py", TODAY)]), TODAY)
    assert finding.status == "waived"
