"""The generated burn-rate alerts as one Prometheus server sees them.

``gates slo-rules`` names its page alert ``SLOBurnRateFastBurn``, one rule per SLO, labelled
``slo=<indicator name>`` and ``severity=page``. ``loaded(url, alert)`` says which SLOs have
that rule loaded (``/api/v1/rules``), ``firing(url, alert)`` which of them fire now
(``/api/v1/alerts``: pending alerts are not firing); ``answers(url)`` that it answers at all.
Prometheus that cannot be asked, or answers
something else than its API's JSON, is a MeasurementError (exit 3).
"""

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from gates.outcome import MeasurementError

FAST_BURN = "SLOBurnRateFastBurn"
PAGE = "page"


def api(url: str, path: str, params: dict[str, str] | None = None) -> Any:
    """The ``data`` of a Prometheus HTTP API answer."""
    address = f"{url.rstrip('/')}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    try:
        with urllib.request.urlopen(address, timeout=10) as response:  # nosec B310
            answer: object = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError) as exc:
        raise MeasurementError(f"Prometheus at {url} did not answer {path}: {exc}") from None
    if not isinstance(answer, dict) or answer.get("status") != "success":
        raise MeasurementError(f"Prometheus at {url} answered {path} with {answer!r:.200}")
    return answer.get("data")


def answers(url: str) -> None:
    """MeasurementError unless Prometheus at ``url`` answers its query API."""
    api(url, "/api/v1/query", {"query": "vector(1)"})


def loaded(url: str, alert: str = FAST_BURN) -> set[str]:
    """The SLOs (label ``slo``) having a loaded page-severity alerting rule named ``alert``."""
    data = api(url, "/api/v1/rules", {"type": "alert"})
    try:
        return {
            rule["labels"]["slo"]
            for group in data["groups"]
            for rule in group["rules"]
            if rule.get("name") == alert
            and rule.get("labels", {}).get("severity") == PAGE
            and "slo" in rule.get("labels", {})
        }
    except (KeyError, TypeError) as exc:
        raise MeasurementError(f"Prometheus at {url}: unexpected /api/v1/rules answer ({exc})")


def firing(url: str, alert: str = FAST_BURN) -> dict[str, str]:
    """{SLO: the alert's value} for each SLO whose page alert ``alert`` fires now."""
    data = api(url, "/api/v1/alerts")
    try:
        return {
            found["labels"]["slo"]: str(found.get("value", ""))
            for found in data["alerts"]
            if found["labels"].get("alertname") == alert
            and found["labels"].get("severity") == PAGE
            and found.get("state") == "firing"
            and "slo" in found["labels"]
        }
    except (KeyError, TypeError) as exc:
        raise MeasurementError(f"Prometheus at {url}: unexpected /api/v1/alerts answer ({exc})")
