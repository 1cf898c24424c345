"""The one client of the Prometheus HTTP API, on gates.httpget: instant queries, the loaded
rules, the active alerts and targets, readiness.

``Prometheus(url)`` is one server. Whatever goes wrong asking it is one MeasurementError
(exit 3), in one line naming the server, what was asked and what failed: it did not answer
(unreachable, timed out), answered something that is not JSON, refused the request (the
API's ``status: error``, e.g. a query that does not parse), answered another HTTP status, or
answered JSON that is not the API's (another service on that port). What the answers mean
(no data, a gap, an alert) is for the caller to judge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from gates import httpget
from gates.httpget import excerpt
from gates.outcome import MeasurementError

TIMEOUT = 30.0  # s: a bound on a hang; a query over weeks of a large TSDB takes seconds
NOT_JSON = object()


@dataclass(frozen=True)
class Rule:
    """One rule Prometheus has loaded: its group, name (the record or alert) and labels."""

    group: str
    name: str
    labels: dict[str, str]


@dataclass(frozen=True)
class Alert:
    """One active alert: its labels (``alertname`` among them), state and value."""

    labels: dict[str, str]
    state: str  # "pending" or "firing"
    value: str


@dataclass(frozen=True)
class Prometheus:
    """One Prometheus server's HTTP API at ``url`` (e.g. http://127.0.0.1:9090, or with the
    path prefix of a proxy in front of it)."""

    url: str
    timeout: float = TIMEOUT

    def query(self, expr: str, at: float | None = None) -> list[Any]:
        """The result of the instant query ``expr`` at ``at`` (unix seconds; None: now), as
        the API gives it (a vector's samples, a matrix's series, a scalar's [time, value]);
        possibly empty."""
        params = {"query": expr} | ({} if at is None else {"time": f"{at:.3f}"})
        data = self.api("/api/v1/query", params, f"/api/v1/query {expr!r}")
        result = data.get("result")
        if not isinstance(result, list):
            raise self.malformed(f"/api/v1/query {expr!r}", data)
        return result

    def rules(self, kind: str | None = None) -> list[Rule]:
        """Every loaded rule (``kind``: "alert" or "record" for those only)."""
        data = self.api("/api/v1/rules", {"type": kind} if kind else None)
        try:
            return [
                Rule(str(group.get("name", "")), str(rule["name"]), labels(rule.get("labels")))
                for group in data["groups"]
                for rule in group["rules"]
            ]
        except (KeyError, TypeError, AttributeError, ValueError):
            raise self.malformed("/api/v1/rules", data) from None

    def alerts(self) -> list[Alert]:
        """Every active alert, pending or firing."""
        data = self.api("/api/v1/alerts")
        try:
            return [
                Alert(
                    labels(found["labels"]),
                    str(found.get("state", "")),
                    str(found.get("value", "")),
                )
                for found in data["alerts"]
            ]
        except (KeyError, TypeError, AttributeError, ValueError):
            raise self.malformed("/api/v1/alerts", data) from None

    def active_targets(self) -> list[dict[str, str]]:
        """The labels of every target Prometheus scrapes now (service discovery's view)."""
        data = self.api("/api/v1/targets", {"state": "active"})
        try:
            return [labels(target["labels"]) for target in data["activeTargets"]]
        except (KeyError, TypeError, AttributeError, ValueError):
            raise self.malformed("/api/v1/targets", data) from None

    def ready(self) -> None:
        """MeasurementError unless Prometheus says it is ready to serve (``/-/ready``: 200;
        503 while it replays its write-ahead log)."""
        status, body = self.get("/-/ready")
        if status != 200:
            raise MeasurementError(
                f"Prometheus at {self.url} answered /-/ready with HTTP {status} "
                f"({excerpt(body)}): not ready yet"
            )

    def api(
        self, path: str, params: dict[str, str] | None = None, what: str | None = None
    ) -> dict[str, Any]:
        """The ``data`` object of a successful answer to GET ``path`` with ``params``;
        ``what`` names the request in errors (default: ``path``)."""
        what = what or path
        status, body = self.get(path + (f"?{urlencode(params)}" if params else ""), what)
        try:
            answer: object = json.loads(body)
        except ValueError:
            answer = NOT_JSON
        if isinstance(answer, dict) and answer.get("status") == "error":
            raise MeasurementError(
                f"Prometheus at {self.url} refused {what} (HTTP {status}): "
                f"{answer.get('errorType', 'error')}: {str(answer.get('error', ''))[:300]}"
            )
        if status != 200:
            raise MeasurementError(
                f"Prometheus at {self.url} answered {what} with HTTP {status}: {excerpt(body)}"
            )
        if answer is NOT_JSON:
            raise MeasurementError(
                f"Prometheus at {self.url} did not answer {what} with JSON ({excerpt(body)}): "
                "is that URL a Prometheus server?"
            )
        if not isinstance(answer, dict) or answer.get("status") != "success":
            raise self.malformed(what, answer)
        data = answer.get("data")
        if not isinstance(data, dict):
            raise self.malformed(what, answer)
        return data

    def get(self, path: str, what: str | None = None) -> tuple[int, bytes]:
        """(status, body) of GET ``path`` (with its query string); MeasurementError when
        nothing answered."""
        prefix = urlsplit(self.url).path.rstrip("/")
        try:
            status, _, body = httpget.fetch(prefix + path, self.url, timeout=self.timeout)
        except httpget.FAILURES as exc:
            raise MeasurementError(
                f"Prometheus at {self.url} did not answer {what or path}: "
                f"{type(exc).__name__}: {exc}; is it running, and is that its URL?"
            ) from None
        return status, body

    def malformed(self, what: str, answer: object) -> MeasurementError:
        return MeasurementError(
            f"Prometheus at {self.url} has no data for {what}: its answer is not the HTTP "
            f"API's ({str(answer)[:200]!r}); is that URL a Prometheus server?"
        )


def labels(found: object) -> dict[str, str]:
    """A label set as the API gives it (a JSON object of strings); ValueError if it is not."""
    if found is None:
        return {}
    if not isinstance(found, dict):
        raise ValueError(found)
    return {str(k): str(v) for k, v in found.items()}
