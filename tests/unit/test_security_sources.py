"""Advisory sources without running them: merging by alias, waivers across sources,
pip-audit's report, freshness, and SARIF checked against the OASIS schema."""

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from gates.config import SecurityConfig, Waiver
from gates.outcome import MeasurementError
from gates.security import pip_audit_scan, policy, sarif, vulnerabilities
from gates.security.advisory_source import SourceResult, in_ci, measured
from gates.security.findings import Finding
from support.sarif_schema import sarif_errors

NOW = datetime(2026, 11, 27, 12, tzinfo=timezone.utc)


def vuln(source, rule, aliases=(), package="Flask", version="0.12.2", severity="UNKNOWN", fix=""):
    return Finding(
        source,
        rule,
        f"{source} says",
        severity,
        package=package,
        version=version,
        fix=fix,
        aliases=tuple(aliases),
    )


def test_findings_sharing_an_alias_become_one_naming_every_source():
    merged = vulnerabilities.merge(
        [
            vuln("safety", "36388", ["CVE-2018-1000656"], fix=">=0.12.3"),
            vuln(
                "pip-audit",
                "PYSEC-2018-66",
                ["CVE-2018-1000656", "GHSA-562c-5r94-xh97"],
                package="flask",
                fix="0.12.3",
            ),
            vuln("osv", "GHSA-562c-5r94-xh97", ["PYSEC-2018-66"], severity="HIGH", fix="0.12.3"),
        ]
    )
    (one,) = merged
    assert one.rule_id == "CVE-2018-1000656"
    assert one.sources == ("safety", "pip-audit", "osv")
    assert set(one.aliases) == {"36388", "PYSEC-2018-66", "GHSA-562C-5R94-XH97"}
    assert one.severity == "HIGH" and one.fix == ">=0.12.3, 0.12.3"
    assert one.extra["reported_as"] == {
        "safety": "36388",
        "pip-audit": "PYSEC-2018-66",
        "osv": "GHSA-562c-5r94-xh97",
    }


@pytest.mark.parametrize(
    "second",
    [
        vuln("pip-audit", "PYSEC-1", ["CVE-2"]),  # no shared id
        vuln("pip-audit", "PYSEC-1", ["CVE-1"], version="1.0"),  # another pin
        vuln("pip-audit", "PYSEC-1", ["CVE-1"], package="jinja2"),  # another package
    ],
)
def test_findings_are_merged_only_for_the_same_pin_and_a_shared_id(second):
    assert len(vulnerabilities.merge([vuln("safety", "9", ["CVE-1"]), second])) == 2


def test_a_chain_of_aliases_merges_transitively():
    merged = vulnerabilities.merge(
        [
            vuln("safety", "9", ["CVE-1"]),
            vuln("osv", "GHSA-x", ["PYSEC-1"]),
            vuln("pip-audit", "PYSEC-1", ["CVE-1"]),
        ]
    )
    assert [m.sources for m in merged] == [("safety", "osv", "pip-audit")]


def waiver(scanner, id_, package="flask", expires=date(2027, 1, 1)):
    entry = {"scanner": scanner, "id": id_, "package": package, "reason": "r", "expires": expires}
    return TypeAdapter(Waiver).validate_python(entry)


@pytest.mark.parametrize("scanner", ["dependencies", "safety", "pip-audit", "osv"])
@pytest.mark.parametrize("id_", ["CVE-2018-1000656", "ghsa-562c-5r94-xh97", "pyup.io-36388"])
def test_a_vulnerability_waiver_applies_whichever_source_reported_it(scanner, id_):
    (finding,) = vulnerabilities.merge(
        [
            vuln("pip-audit", "PYSEC-2018-66", ["CVE-2018-1000656", "GHSA-562c-5r94-xh97"]),
            vuln("safety", "36388", ["CVE-2018-1000656"]),
        ]
    )
    config = SecurityConfig(waivers=(waiver(scanner, id_),))
    policy.evaluate([finding], config, date(2026, 11, 27))
    assert finding.status == "waived"
    policy.evaluate([finding], config, date(2027, 1, 2))
    assert finding.status == "failing" and finding.note.startswith("waiver expired on 2027-01-01")


def test_a_vulnerability_waiver_for_another_package_does_not_apply():
    finding = vuln("osv", "PYSEC-2018-66", ["CVE-2018-1000656"])
    policy.evaluate(
        [finding],
        SecurityConfig(waivers=(waiver("osv", "PYSEC-2018-66", "jinja2"),)),
        date(2026, 11, 27),
    )
    assert finding.status == "failing"


PIP_AUDIT = {
    "dependencies": [
        {
            "name": "flask",
            "version": "0.12.2",
            "vulns": [
                {
                    "id": "PYSEC-2018-66",
                    "fix_versions": ["0.12.3"],
                    "aliases": ["CVE-2018-1000656"],
                    "description": "Flask JSON DoS",
                }
            ],
        },
        {"name": "jinja2", "version": "3.1.6", "vulns": []},
    ],
    "fixes": [],
}


def test_pip_audit_report_is_read_with_ids_aliases_and_fixes():
    found, packages = pip_audit_scan.parse(PIP_AUDIT)
    assert packages == 2
    (f,) = found
    assert (f.rule_id, f.aliases, f.fix, f.location) == (
        "PYSEC-2018-66",
        ("CVE-2018-1000656",),
        "0.12.3",
        "flask==0.12.2",
    )


@pytest.mark.parametrize(
    "data, message",
    [
        ({"dependencies": []}, "audited no packages"),
        ({"dependencies": [{"name": "flask", "skip_reason": "not on PyPI"}]}, "skipped flask"),
        ({"fixes": []}, "has no 'dependencies'"),
        (
            {"dependencies": [{"name": "flask", "version": "1", "vulns": [{"id": "X"}]}]},
            "has no 'fix_versions'",
        ),
        ([], "top level is list"),
    ],
)
def test_pip_audit_report_that_is_incomplete_is_could_not_measure(data, message):
    with pytest.raises(MeasurementError, match=message):
        pip_audit_scan.parse(data)


KEYS = [
    "dependencies",
    "name",
    "version",
    "vulns",
    "id",
    "fix_versions",
    "aliases",
    "skip_reason",
    "description",
]


@given(
    data=st.recursive(
        st.none() | st.integers(-1, 2) | st.sampled_from(["flask", "1.0", "X", ""]),
        lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5),
        max_leaves=30,
    )
)
def test_pip_audit_parser_never_crashes_and_never_passes_garbage(data):
    try:
        found, packages = pip_audit_scan.parse(data)
    except MeasurementError:
        return
    assert packages == len(data["dependencies"]) > 0
    assert all(f.package and f.version for f in found)


@pytest.mark.parametrize(
    "result, stale",
    [
        (SourceResult("safety", as_of=NOW - timedelta(days=30)), False),
        (SourceResult("safety", as_of=NOW - timedelta(days=31)), True),
        (SourceResult("pip-audit", as_of=NOW, live=True), False),
        (SourceResult("osv"), True),  # no date at all is not current
        (SourceResult("osv", error="unreachable"), False),  # an error, judged as such
    ],
)
def test_data_older_than_the_limit_is_stale(result, stale):
    assert result.stale(30, NOW) is stale


def test_a_source_that_cannot_measure_is_recorded_not_raised():
    def broken():
        raise MeasurementError("OSV answered HTTP 500")

    result = measured("pip-audit", broken)
    assert result.error == "OSV answered HTTP 500" and not result.findings


@pytest.mark.parametrize(
    "value, expected",
    [("true", True), ("1", True), ("gitlab", True), ("", False), ("false", False), ("0", False)],
)
def test_ci_is_recognised_as_ci_systems_set_it(value, expected):
    assert in_ci({"CI": value}) is expected
    assert in_ci({}) is False


def every_scanner_findings():
    bandit = Finding("bandit", "B602", "shell=True", "HIGH", "HIGH", path="mini.py", line=7)
    secret = Finding(
        "detect-secrets",
        "AWS Access Key",
        "AWS Access Key in a tracked file",
        "HIGH",
        path="config/settings.py",
        line=3,
    )
    vulns = vulnerabilities.merge(
        [
            vuln("safety", "36388", ["CVE-2018-1000656"]),
            vuln("pip-audit", "PYSEC-2018-66", ["CVE-2018-1000656"]),
            vuln("osv", "PYSEC-2018-66", ["CVE-2018-1000656"]),
        ]
    )
    findings = [bandit, secret, *vulns]
    policy.evaluate(findings, SecurityConfig(), date(2026, 11, 27))
    return findings


SCANNERS = {
    "bandit": "1.9",
    "safety": "2.3.5",
    "pip-audit": "2.10.1",
    "osv": "0.1.0",
    "detect-secrets": "1.5.0",
}


def test_sarif_is_valid_sarif_2_1_0_with_a_run_and_results_for_every_scanner(tmp_path):
    lock = tmp_path / "uv.lock"
    lock.write_text('[[package]]\nname = "flask"\nversion = "0.12.2"\n')
    document = sarif.build(every_scanner_findings(), SCANNERS, lock)
    assert sarif_errors(document) == []
    runs = {run["tool"]["driver"]["name"]: run["results"] for run in document["runs"]}
    assert set(runs) == set(SCANNERS)
    assert all(len(results) == 1 for results in runs.values())
    assert runs["safety"][0]["ruleId"] == "36388"
    assert runs["pip-audit"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    assert runs["pip-audit"][0]["properties"]["sources"] == ["safety", "pip-audit", "osv"]


def test_the_schema_check_catches_a_broken_sarif_document(tmp_path):
    document = sarif.build(every_scanner_findings(), SCANNERS, tmp_path / "uv.lock")
    document["runs"][0]["results"][0]["level"] = "fatal"
    del document["runs"][1]["tool"]["driver"]["name"]
    errors = sarif_errors(document)
    assert any("'fatal' is not one of" in e for e in errors)
    assert any("'name' is a required property" in e for e in errors)
