"""The generated burn-rate alerts as one Prometheus server sees them.

``gates slo-rules`` names its page alert ``SLOBurnRateFastBurn``, one rule per SLO, labelled
``slo=<indicator name>`` and ``severity=page``. ``loaded(url, alert)`` says which SLOs have
that rule loaded (``/api/v1/rules``), ``firing(url, alert)`` which of them fire now
(``/api/v1/alerts``: pending alerts are not firing). Prometheus that cannot be asked, or
answers something else than its API's JSON, is a MeasurementError (exit 3; gates.prometheus).
"""

from gates.prometheus import Prometheus

FAST_BURN = "SLOBurnRateFastBurn"
PAGE = "page"
TIMEOUT = 10.0  # s: the drill polls the alerts; a hung poll is not a long wait


def loaded(url: str, alert: str = FAST_BURN) -> set[str]:
    """The SLOs (label ``slo``) having a loaded page-severity alerting rule named ``alert``."""
    return {
        rule.labels["slo"]
        for rule in Prometheus(url, TIMEOUT).rules("alert")
        if rule.name == alert and rule.labels.get("severity") == PAGE and "slo" in rule.labels
    }


def firing(url: str, alert: str = FAST_BURN) -> dict[str, str]:
    """{SLO: the alert's value} for each SLO whose page alert ``alert`` fires now."""
    return {
        found.labels["slo"]: found.value
        for found in Prometheus(url, TIMEOUT).alerts()
        if found.labels.get("alertname") == alert
        and found.labels.get("severity") == PAGE
        and found.state == "firing"
        and "slo" in found.labels
    }
