"""Service settings: defaults, overridden by the environment, overridden by explicit values."""

import os
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from techcorp_api.envvars import INT_SETTINGS, parse_int

DISTRIBUTION = "techcorp-api"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


def package_version() -> str:
    """Version of the installed distribution, or a marker when running from a bare tree."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def defaults() -> dict[str, Any]:
    return {
        "ENVIRONMENT": "development",
        "APP_VERSION": package_version(),
        "LOG_LEVEL": "INFO",
        # The SLO latency threshold; always one of the latency histogram's bucket bounds.
        "SLO_LATENCY_SECONDS": 0.2,
        # False for services that warm up before they may take traffic.
        "READY_ON_START": True,
        # Set by the pipeline's deploys: answered in X-Release-ID, so a cutover can tell
        # which release served a request.
        "RELEASE_ID": "",
        # Fault injection for drills (see techcorp_api.faults); off unless set.
        "FAULT_LATENCY_MS": 0.0,
        "FAULT_ERROR_RATE": 0.0,
    }


ENVIRONMENT_KEYS = (
    "ENVIRONMENT",
    "APP_VERSION",
    "LOG_LEVEL",
    "SLO_LATENCY_SECONDS",
    "RELEASE_ID",
    "FAULT_LATENCY_MS",
    "FAULT_ERROR_RATE",
)


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the validated settings as a dict."""
    environ = os.environ if environ is None else environ
    config = defaults()
    config.update({k: environ[k] for k in ENVIRONMENT_KEYS if environ.get(k)})
    config.update(overrides or {})
    return validate(config)


def check_environment(environ: Mapping[str, str]) -> None:
    """Refuse environment variables the service cannot run with: its settings and gunicorn's
    whole numbers (WEB_CONCURRENCY, GUNICORN_*), as the service itself would read them.

    SettingsError (a ValueError) with one line naming the variable. A deployment pipeline
    calls this when it loads the environment it will deploy with, so a bad value is a
    configuration error before anything is installed or started.
    """
    load_settings(environ=environ)
    for name in INT_SETTINGS:
        try:
            parse_int(name, environ)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None


def validate(config: dict[str, Any]) -> dict[str, Any]:
    for key in ("ENVIRONMENT", "APP_VERSION"):
        if not isinstance(config[key], str) or not config[key].strip():
            raise SettingsError(f"{key} must be a non-empty string, got {config[key]!r}")
    if not isinstance(config["RELEASE_ID"], str):
        raise SettingsError(f"RELEASE_ID must be a string, got {config['RELEASE_ID']!r}")
    level = str(config["LOG_LEVEL"]).upper()
    if level not in LOG_LEVELS:
        raise SettingsError(
            f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {config['LOG_LEVEL']!r}"
        )
    config["LOG_LEVEL"] = level
    try:
        threshold = float(config["SLO_LATENCY_SECONDS"])
    except (TypeError, ValueError):
        threshold = -1.0
    if not 0 < threshold < 60:
        raise SettingsError(
            "SLO_LATENCY_SECONDS must be a number of seconds between 0 and 60, "
            f"got {config['SLO_LATENCY_SECONDS']!r}"
        )
    config["SLO_LATENCY_SECONDS"] = threshold
    for key, upper in (("FAULT_LATENCY_MS", 60000.0), ("FAULT_ERROR_RATE", 1.0)):
        try:
            value = float(config[key])
        except (TypeError, ValueError):
            value = -1.0
        if not 0 <= value <= upper:
            raise SettingsError(f"{key} must be a number from 0 to {upper:g}, got {config[key]!r}")
        config[key] = value
    return config
