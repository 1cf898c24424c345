"""The secret scan's report parsing, baseline judging and policy, without running detect-secrets."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from gates.config import SecurityConfig, Waiver
from gates.outcome import ConfigError, MeasurementError
from gates.security import policy, secret_scan
from gates.security.findings import Finding
from gates.security.secret_scan import Detected

TODAY = date(2026, 11, 26)
KEYS = ["generated_at", "results", "a.py", "filename", "type", "hashed_secret", "line_number"]
SCALARS = st.none() | st.booleans() | st.integers(-2, 3) | st.sampled_from(["a.py", ""])


@given(
    data=st.recursive(
        SCALARS | st.text(max_size=4),
        lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), inner, max_size=6),
        max_leaves=30,
    )
)
def test_report_parser_never_crashes_and_never_passes_garbage(data):
    try:
        found = secret_scan.parse(data)
    except MeasurementError:
        return
    assert isinstance(data["generated_at"], str)
    assert len(found) == sum(len(secrets) for secrets in data["results"].values())
    assert all(isinstance(d.line, int) and d.filename in data["results"] for d in found)


def report(*secrets, generated_at="2026-11-26T00:00:00Z"):
    results = {}
    for filename, type_, hashed, line in secrets:
        entry = {"type": type_, "filename": filename, "hashed_secret": hashed, "line_number": line}
        results.setdefault(filename, []).append({**entry, "is_verified": False})
    return {"version": "1.5.0", "results": results, "generated_at": generated_at}


def test_report_parser_reads_each_secret():
    found = secret_scan.parse(
        report(("a.py", "AWS Access Key", "h1", 3), ("b/c.env", "T", "h2", 9))
    )
    assert found == [Detected("a.py", "AWS Access Key", "h1", 3), Detected("b/c.env", "T", "h2", 9)]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"results": {}}, "no 'generated_at'"),
        (report(("a.py", "T", "h", "3")), "line_number is str"),
        ({"generated_at": "x", "results": {"a.py": [{"filename": "b.py"}]}}, "is not 'a.py'"),
        ({"generated_at": "x", "results": {"a.py": {}}}, "is dict, not a list"),
    ],
)
def test_report_parser_refuses_what_is_not_a_complete_report(data, message):
    with pytest.raises(MeasurementError, match=message):
        secret_scan.parse(data)


def baseline(*entries):
    results = {}
    for filename, type_, hashed, *review in entries:
        entry = {"type": type_, "filename": filename, "hashed_secret": hashed, "line_number": 1}
        results.setdefault(filename, []).append(
            {**entry, **({"is_secret": review[0]} if review else {})}
        )
    return {"version": "1.5.0", "plugins_used": [], "filters_used": [], "results": results}


def test_baseline_entries_carry_their_review():
    entries = secret_scan.baseline_entries(
        baseline(("a.py", "T", "h1", False), ("a.py", "T", "h2", True), ("b.py", "T", "h3")),
        ".secrets.baseline",
    )
    assert entries == {
        ("a.py", "h1", "T"): False,
        ("a.py", "h2", "T"): True,
        ("b.py", "h3", "T"): None,
    }


@pytest.mark.parametrize(
    "data, message",
    [
        (baseline(("a.py", "T", "h", "no")), r"is_secret is 'no', not true or false"),
        ({**baseline(), "results": []}, "no 'results' of type dict"),
        ({**baseline(), "results": {"a.py": [{"type": "T"}]}}, "no 'hashed_secret'"),
    ],
)
def test_malformed_baseline_entries_are_a_config_error_naming_the_file(data, message):
    with pytest.raises(
        ConfigError, match=rf"^ci/b.json is not a detect-secrets baseline: .*{message}"
    ):
        secret_scan.baseline_entries(data, "ci/b.json")


def test_only_a_reviewed_false_positive_is_accepted():
    entries = {("a.py", "h1", "T"): False, ("a.py", "h2", "T"): True, ("a.py", "h3", "T"): None}
    entries[("gone.py", "h4", "T")] = False
    detected = [
        Detected("a.py", "T", "h1", 1),  # reviewed false positive
        Detected("a.py", "T", "h2", 2),  # reviewed as real
        Detected("a.py", "T", "h3", 3),  # not reviewed
        Detected("b.py", "T", "h1", 4),  # same secret, another file
        Detected("a.py", "U", "h1", 5),  # same hash, another type
    ]
    result = secret_scan.judge(detected, entries, 7, ".secrets.baseline")
    assert (result.files, result.baselined, result.stale) == (7, 1, 1)
    assert [(f.location, f.note[:22]) for f in result.findings] == [
        ("a.py:2", "marked as a real secre"),
        ("a.py:3", "in the baseline but no"),
        ("b.py:4", ""),
        ("a.py:5", ""),
    ]
    assert {(f.scanner, f.severity, f.extra["hashed_secret"]) for f in result.findings} == {
        ("detect-secrets", "HIGH", "h2"),
        ("detect-secrets", "HIGH", "h3"),
        ("detect-secrets", "HIGH", "h1"),
    }


def secret(type_="AWS Access Key", path="app/settings.py", hashed="ab12"):
    return Finding(
        "detect-secrets", type_, f"{type_} in tracked file", "HIGH", path=path, line=2,
        extra={"hashed_secret": hashed},
    )  # fmt: skip


def security(waivers=(), **thresholds):
    return SecurityConfig(waivers=tuple(waivers), **thresholds)


@pytest.mark.parametrize("severity", ["LOW", "HIGH"])
def test_every_secret_is_over_the_threshold_whatever_the_other_thresholds(severity):
    finding = secret()
    finding.severity = severity
    strict = security(bandit_fail_severity="HIGH", dependency_fail_severity="CRITICAL")
    assert policy.over_threshold(finding, strict)


def waiver(scanner, id_, path, expires=date(2027, 1, 1)):
    entry = {"scanner": scanner, "id": id_, "path": path, "reason": "why", "expires": expires}
    return TypeAdapter(Waiver).validate_python(entry)


@pytest.mark.parametrize(
    "chosen, waived",
    [
        (waiver("detect-secrets", "AWS Access Key", "app/*.py"), True),
        (waiver("detect-secrets", "ab12", "app/settings.py"), True),
        (waiver("detect-secrets", "AWS Access Key", "gates/*"), False),
        (waiver("detect-secrets", "Secret Keyword", "app/*.py"), False),
        (waiver("detect-secrets", "cd34", "app/*.py"), False),
        (waiver("bandit", "AWS Access Key", "app/*.py"), False),
    ],
)
def test_secret_waivers_match_by_type_or_hash_within_their_path(chosen, waived):
    finding = secret()
    policy.evaluate([finding], security([chosen]), TODAY)
    assert finding.status == ("waived" if waived else "failing")


def test_a_secret_waiver_names_a_path_not_a_package():
    with pytest.raises(ValueError, match="package"):
        TypeAdapter(Waiver).validate_python(
            {"scanner": "detect-secrets", "id": "x", "package": "flask", "reason": "r",
             "expires": TODAY}
        )  # fmt: skip
