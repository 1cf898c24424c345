"""The failure drill's timed checks (gates.drill.gate.add_timing_checks): the arithmetic of its
"detected within --detect-target" and "restored within --restore-target" verdicts, on given
figures. The e2e drills set generous targets and assert behaviour; this is where the limits
are asserted."""

from argparse import ArgumentParser

import pytest

from gates.drill.gate import add_arguments, add_timing_checks
from gates.outcome import FAILED, PASSED
from gates.report import Report

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
    assert not found["restored"].passed and found["restored"].measured == "not restored"
    assert report.exit_code == FAILED
    _, found = checks(3.0, None)
    assert found["detected"].passed and not found["restored"].passed


def test_the_limits_are_flags_with_the_production_defaults():
    parser = ArgumentParser()
    add_arguments(parser)
    defaults = parser.parse_args([])
    assert (defaults.detect_target, defaults.restore_target) == (30.0, 10.0)
    assert defaults.latency_target is None  # the objectives' threshold
    given = parser.parse_args(
        ["--detect-target", "120", "--restore-target", "300", "--latency-target", "2500"]
    )
    assert (given.detect_target, given.restore_target, given.latency_target) == (
        120.0,
        300.0,
        2500.0,
    )
