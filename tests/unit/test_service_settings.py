"""The service's check of a deployment's environment variables, used by the pipeline's config."""

import pytest

from techcorp_api.envvars import INT_SETTINGS, read_int
from techcorp_api.settings import ENVIRONMENT_KEYS, SettingsError, check_environment


def test_a_good_environment_passes():
    check_environment({})
    check_environment({"LOG_LEVEL": "debug", "WEB_CONCURRENCY": "3", "ENVIRONMENT": "staging"})
    check_environment({"FAULT_ERROR_RATE": "0.05", "GUNICORN_THREADS": "8", "OTHER": "anything"})


@pytest.mark.parametrize(
    "env, message",
    [
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of DEBUG, INFO"),
        ({"SLO_LATENCY_SECONDS": "abc"}, "SLO_LATENCY_SECONDS must be a number of seconds"),
        ({"FAULT_LATENCY_MS": "-5"}, "FAULT_LATENCY_MS must be a number from 0 to 60000"),
        ({"WEB_CONCURRENCY": "zero"}, "WEB_CONCURRENCY='zero' is not a whole number >= 1"),
        ({"GUNICORN_THREADS": "0"}, "GUNICORN_THREADS='0' is not a whole number >= 1"),
        ({"GUNICORN_GRACEFUL_TIMEOUT": "1.5"}, "GUNICORN_GRACEFUL_TIMEOUT='1.5' is not a whole"),
    ],
)
def test_a_value_the_service_cannot_run_with_is_a_value_error(env, message):
    with pytest.raises(ValueError, match=message) as caught:
        check_environment(env)
    assert isinstance(caught.value, SettingsError)
    assert "\n" not in str(caught.value)


def test_every_variable_the_service_reads_is_checked():
    """A bad value of each variable is refused: the check covers what the service reads."""
    for name in (*ENVIRONMENT_KEYS, *INT_SETTINGS):
        if name in ("ENVIRONMENT", "APP_VERSION", "RELEASE_ID"):
            continue  # any non-empty string will do
        with pytest.raises(SettingsError, match=name):
            check_environment({name: "not-a-value"})


def test_read_int_still_exits_2_in_one_line(capsys):
    with pytest.raises(SystemExit) as exited:
        read_int("WEB_CONCURRENCY", {"WEB_CONCURRENCY": "zero"})
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "techcorp-api: WEB_CONCURRENCY='zero' is not a whole number >= 1; "
        "unset it or set e.g. WEB_CONCURRENCY=2\n"
    )
    assert read_int("WEB_CONCURRENCY", {"WEB_CONCURRENCY": " 3 "}) == 3
