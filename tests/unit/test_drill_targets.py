"""The failure drill's timed checks (gates.drill.gate.add_timing_checks): the arithmetic of its
"detected within detect_target" and "restored within restore_target" verdicts, on given
figures; the limits as configuration ([tool.pipeline.drill]) that the flags override; and its
output, which says in words what was not measured. The e2e drills set generous targets and
assert behaviour; this is where the limits are asserted."""

from argparse import ArgumentParser

import pytest

from gates.config import load_config
from gates.drill.gate import add_arguments, add_timing_checks, summary_line, time_limits
from gates.outcome import FAILED, PASSED, ConfigError
from gates.report import Report
from support.pipeline_project import make_project

SOURCE = "SLO gate on http://127.0.0.1:1/metrics deltas (5 s windows)"


def checks(detect_s, restore_s, detect_target=30.0, restore_target=10.0):
    report = Report("drill")
    add_timing_checks(report, detect_s, restore_s, detect_target, restore_target, 2.5, SOURCE)
    return report, {c.name: c for c in report.checks}


@pytest.mark.parametrize(
    "restore_s, passed", [(9.99, True), (10.0, True), (10.01, False), (10.37, False)]
)
def test_restored_passes_up_to_and_including_the_restore_target(restore_s, passed):
    report, found = checks(1.0, restore_s)
    assert found["restored"].passed is passed
    assert found["restored"].measured == (
        f"{restore_s} s from detection to the good deployment verified serving"
    )
    assert found["restored"].limit == "<= 10 s" and found["restored"].source == "automatic rollback"
    assert report.exit_code == (PASSED if passed else FAILED)


@pytest.mark.parametrize("detect_s, passed", [(0.5, True), (30.0, True), (30.01, False)])
def test_detected_passes_up_to_and_including_the_detect_target(detect_s, passed):
    report, found = checks(detect_s, 4.0)
    assert found["detected"].passed is passed
    assert found["detected"].measured == (
        f"{detect_s} s after the bad config went live (2.5 s after the first request it failed)"
    )
    assert found["detected"].limit == "<= 30 s" and found["detected"].source == SOURCE
    assert report.exit_code == (PASSED if passed else FAILED)


def test_the_targets_are_the_callers():
    _, found = checks(45.0, 25.0, detect_target=60.0, restore_target=120.0)
    assert found["detected"].passed and found["detected"].limit == "<= 60 s"
    assert found["restored"].passed and found["restored"].limit == "<= 120 s"
    _, found = checks(0.2, 0.2, detect_target=0.1, restore_target=0.1)
    assert not found["detected"].passed and not found["restored"].passed


def test_never_detected_or_never_restored_fails_however_generous_the_targets():
    report, found = checks(None, None, detect_target=3600.0, restore_target=3600.0)
    assert not found["detected"].passed and found["detected"].measured == "not detected"
    assert not found["restored"].passed
    assert found["restored"].measured == "not measured (not detected)"
    assert report.exit_code == FAILED
    _, found = checks(3.0, None)
    assert found["detected"].passed and not found["restored"].passed
    assert found["restored"].measured == "not restored"


def test_what_was_not_measured_is_said_in_words_never_none():
    report = Report("drill")
    add_timing_checks(report, 4.2, 1.5, 30.0, 10.0, None, SOURCE)
    assert report.checks[0].measured == (
        "4.2 s after the bad config went live (no request had failed yet)"
    )
    lines = [
        summary_line("scrape", 5.4, 2.1, 3.0, 12, 800),
        summary_line("scrape", 5.4, None, None, 0, 800),
        summary_line("alert", None, None, None, 0, 800),
    ]
    assert lines[0] == (
        "gates drill: detector scrape: detect 5.4 s after live (3.0 s after the first request "
        "it failed), restore 2.1 s, 12 failed requests of 800 sent"
    )
    assert "(no request had failed yet), restore not restored" in lines[1]
    assert "not detected, restore not measured (not detected)" in lines[2]
    for text in [*lines, *(c.measured for c in checks(None, None)[0].checks)]:
        assert "None" not in text, text


def parsed(*argv):
    parser = ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def drill_config(tmp_path, table=""):
    path = make_project(tmp_path)
    path.write_text(path.read_text() + table)
    return load_config(path, environ={"PIPELINE_STATE_DIR": str(tmp_path / "state")})


def test_the_limits_are_configuration_with_the_production_defaults_and_flags_override(tmp_path):
    defaults = parsed()
    assert (defaults.detect_target, defaults.restore_target) == (None, None)
    assert defaults.latency_target is None  # the objectives' threshold
    assert time_limits(drill_config(tmp_path / "default"), defaults) == (30.0, 10.0)
    configured = drill_config(
        tmp_path / "set", "\n[tool.pipeline.drill]\ndetect_target = 60\nrestore_target = 2.5\n"
    )
    assert time_limits(configured, defaults) == (60.0, 2.5)
    given = parsed("--detect-target", "120", "--restore-target", "300", "--latency-target", "2500")
    assert time_limits(configured, given) == (120.0, 300.0) and given.latency_target == 2500.0
    assert time_limits(configured, parsed("--restore-target", "4")) == (60.0, 4.0)
    with pytest.raises(ConfigError, match="--restore-target must be a number of seconds > 0"):
        time_limits(configured, parsed("--restore-target", "0"))


@pytest.mark.parametrize(
    "table, message",
    [
        ("restore_target = 0", "restore_target must be a number > 0 and <= 600, got 0"),
        ("detect_target = 601", "detect_target must be a number > 0 and <= 600, got 601"),
        ('detect_target = "30s"', "detect_target must be a number > 0 and <= 600"),
        ("restore = 10", "restore"),
    ],
)
def test_bad_limits_are_refused_naming_the_key(tmp_path, table, message):
    with pytest.raises(ConfigError) as caught:
        drill_config(tmp_path, f"\n[tool.pipeline.drill]\n{table}\n")
    text = str(caught.value)
    assert "\n" not in text and "[tool.pipeline.drill]" in text and message in text, text
