"""JUnit and coverage XML parsers: malformed input is a clear MeasurementError, never a pass."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gates.outcome import MeasurementError
from gates.checks.testsuite import read_coverage, read_junit

JUNIT = """<?xml version="1.0"?>
<testsuites><testsuite name="pytest" tests="4" failures="1" errors="1" skipped="1">
<testcase classname="tests.test_a" name="test_ok"/>
<testcase classname="tests.test_a" name="test_bad"><failure message="x"/></testcase>
<testcase classname="tests.test_b" name="test_err"><error message="y"/></testcase>
<testcase classname="tests.test_b" name="test_skip"><skipped/></testcase>
</testsuite></testsuites>"""

COVERAGE = """<?xml version="1.0"?>
<coverage line-rate="0.9" branch-rate="0.5" lines-valid="90" lines-covered="81"
 branches-valid="10" branches-covered="9"><packages/></coverage>"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_junit_totals_and_failing_ids(tmp_path):
    totals = read_junit(write(tmp_path, "j.xml", JUNIT))
    assert (totals["tests"], totals["passed"], totals["failures"], totals["errors"]) == (4, 1, 1, 1)
    assert totals["failing"] == ["tests.test_a::test_bad", "tests.test_b::test_err"]


def test_coverage_total_counts_lines_and_branches(tmp_path):
    assert read_coverage(write(tmp_path, "c.xml", COVERAGE))["percent"] == 90.0


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "malformed"),
        ("<testsuites>", "malformed"),
        ("<html/>", "no <testsuite> element"),
        ("<testsuites/>", "no <testsuite> element"),
        ('<testsuite tests="x"/>', "no count in its 'tests'"),
        ('<testsuite tests="-3" failures="0" errors="0" skipped="0"/>', "no count"),
        ('<testsuite tests="1e400" failures="0" errors="0" skipped="0"/>', "no count"),
        ('<testsuite tests="1" failures="2" errors="0" skipped="0"/>', "more failed"),
        ('<testsuite tests="0" failures="0" errors="0" skipped="0"/>', "no tests ran"),
    ],
)
def test_bad_junit_is_a_measurement_error(tmp_path, text, message):
    with pytest.raises(MeasurementError, match=message):
        read_junit(write(tmp_path, "j.xml", text))


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "malformed"),
        ("<report/>", "not <coverage>"),
        ("<coverage/>", "no count in its 'lines-valid'"),
        (
            '<coverage lines-valid="0" lines-covered="0" branches-valid="0"'
            ' branches-covered="0"/>',
            "no lines were measured",
        ),
    ],
)
def test_bad_coverage_is_a_measurement_error(tmp_path, text, message):
    with pytest.raises(MeasurementError, match=message):
        read_coverage(write(tmp_path, "c.xml", text))


def test_missing_reports_are_measurement_errors(tmp_path):
    with pytest.raises(MeasurementError, match="was not written"):
        read_junit(tmp_path / "absent.xml")
    with pytest.raises(MeasurementError, match="was not written"):
        read_coverage(tmp_path / "absent.xml")


xml_attribute = st.one_of(st.integers(-5, 50).map(str), st.floats().map(str), st.text(max_size=4))
fuzzed = st.one_of(
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
    st.builds(
        lambda tag, attrs: "<{}{}/>".format(tag, "".join(f' {k}="{v}"' for k, v in attrs.items())),
        st.sampled_from(["testsuite", "testsuites", "coverage", "x"]),
        st.dictionaries(
            st.sampled_from(
                ["tests", "failures", "errors", "skipped", "lines-valid", "lines-covered"]
            ),
            xml_attribute.filter(lambda v: '"' not in v and "<" not in v and "&" not in v),
        ),
    ),
)


@given(text=fuzzed)
def test_parsers_never_crash_on_arbitrary_input(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "report.xml"
    path.write_text(text, encoding="utf-8")
    for parse in (read_junit, read_coverage):
        try:
            result = parse(path)
        except MeasurementError:
            continue
        # When it does parse, the counts are real ones: whole, not negative, something ran.
        assert all(v >= 0 for v in result.values() if isinstance(v, (int, float)))
        assert result.get("tests", 1) > 0
