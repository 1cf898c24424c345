"""The exit-code convention shared by every gate, and the errors that map onto it."""

PASSED = 0
FAILED = 1
USAGE_ERROR = 2
COULD_NOT_MEASURE = 3

OUTCOME_NAMES = {
    PASSED: "passed",
    FAILED: "failed",
    USAGE_ERROR: "usage or configuration error",
    COULD_NOT_MEASURE: "could not measure",
}


class GateError(Exception):
    """Stops a gate before it can judge; the message is the one line a person reads."""

    exit_code = COULD_NOT_MEASURE


class ConfigError(GateError):
    """Bad configuration or usage: say what, where, and how to fix it."""

    exit_code = USAGE_ERROR


class Refused(GateError):
    """The command did not start: another command holds what it needs (exit 3). It changed
    nothing, so its report is written under its own name and never replaces the report of
    the command that holds it (see gates.cli.run_stage)."""

    exit_code = COULD_NOT_MEASURE


class MeasurementError(GateError):
    """The gate could not measure: a tool that did not run, a missing or malformed report."""

    exit_code = COULD_NOT_MEASURE
