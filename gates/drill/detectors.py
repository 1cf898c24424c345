"""How the failure drill (gates.drill.gate) notices its bad config: three detectors, one contract.

- ``scrape``: the SLO gate on ``/metrics`` deltas of the environment itself, over consecutive
  ``--check-window`` windows (no Prometheus needed).
- ``prometheus``: the SLO gate's Prometheus evaluation (gates.slo.gate.measure_prometheus and
  burn_windows, judged by gates.slo.gate.judge) over the time since the bad config went live,
  asked once a second (Prometheus scrapes once a second: nothing new sooner). When Prometheus
  cannot give the declared burn windows, the burn is judged over that window alone, as the
  SLO gate's report then says.
- ``alert``: the generated fast-burn page alert (gates.slo.alerts) firing in
  Prometheus' own ``/api/v1/alerts``.

``check_before_push()`` runs before production is touched: a detector that cannot work, or a
Prometheus that already burns (its detection could not be told from what came before), is a
MeasurementError (exit 3) and nothing is pushed. ``watch(live_at, deadline)`` returns when the
detector saw a failure (its monotonic time and what it saw) or at the deadline (None, None).
A window too thin to decide is "no verdict yet", never a pass.
"""

import math
import time
from argparse import Namespace
from typing import Protocol

from gates.slo import alerts as prometheus_alerts, gate as slo, evidence as slo_evidence
from gates.config import PipelineConfig
from gates.outcome import ConfigError, MeasurementError
from gates.report import Report
from gates.slo.objectives import Objectives
from gates.slo.prometheus import Source
from gates.targets import Target

DETECTORS = ("scrape", "prometheus", "alert")
# How often the Prometheus detectors ask: its scrape and evaluation interval in our configs.
# An alert changes state at most once per evaluation; polling 4x as often bounds the lag.
PROMETHEUS_POLL = 1.0
ALERT_POLL = 0.25

Detection = tuple[float | None, str | None]


class Detector(Protocol):
    name: str
    source: str  # for the report: where the verdict came from

    def check_before_push(self) -> None: ...

    def watch(self, live_at: float, deadline: float) -> Detection: ...


def failed_checks(verdict: Report) -> str | None:
    failed = [c for c in verdict.checks if not c.passed]
    return "; ".join(f"{c.name}: {c.measured}" for c in failed) if failed else None


class ScrapeDetector:
    """The SLO gate's scrape mode over consecutive short windows."""

    name = "scrape"

    def __init__(
        self, config: PipelineConfig, target: Target, objectives: Objectives, window: float
    ) -> None:
        self.config, self.target, self.objectives, self.window = config, target, objectives, window
        self.source = f"SLO gate on {target.base_url}/metrics deltas ({window:g} s windows)"

    def check_before_push(self) -> None:
        slo.scrape_each(self.target.fetch_each)

    def watch(self, live_at: float, deadline: float) -> Detection:
        while time.monotonic() < deadline:
            start = slo.scrape_each(self.target.fetch_each)
            time.sleep(self.window)  # the evaluation window: traffic accumulates meanwhile
            verdict = Report("slo")
            try:
                changes = slo.delta_each(start, slo.scrape_each(self.target.fetch_each))
                counts = slo.counts_of(self.objectives, changes)
                slo.judge(verdict, self.objectives, counts, self.window, self.config)
            except MeasurementError as exc:
                print(f"gates drill: no verdict yet ({exc})")
                continue
            failed = failed_checks(verdict)
            if failed:
                return time.monotonic(), f"SLO gate FAILED: {failed}"
            print("gates drill: SLOs still met")
        return None, None


class PrometheusDetector:
    """The SLO gate's Prometheus evaluation over the time since the bad config went live."""

    name = "prometheus"

    def __init__(self, config: PipelineConfig, objectives: Objectives, prometheus: Source) -> None:
        self.config, self.objectives, self.url = config, objectives, prometheus.url
        self.prometheus = prometheus  # scoped by the environment's prometheus_labels
        self.source = f"SLO gate in Prometheus {prometheus.url} (window: since the push)"

    def check_before_push(self) -> None:
        self.prometheus.api.query("vector(1)")  # MeasurementError unless it answers at all
        try:
            burns = slo.burn_windows(self.prometheus, self.objectives)
        except MeasurementError as exc:
            # No series yet, or not the declared lookbacks: nothing shows a burn to confuse
            # with the drill's own; the watch judges the window since the push.
            print(f"gates drill: no burn windows in Prometheus before the push ({exc})")
            return
        by_name = {o.name: o for o in self.objectives.slos}
        alerts = {a.name: a for a in self.objectives.alerts}
        burning = [
            f"{name} {alert}"
            for (name, alert), (long, short) in burns.items()
            if slo_evidence.fires(long, short, by_name[name].target, alerts[alert].threshold)
        ]
        if burning:
            raise MeasurementError(
                f"Prometheus at {self.url} already shows a burn-rate condition firing before the "
                f"push ({', '.join(burning)}): a detection could not be told from it; run the "
                "drill once it has cleared"
            )

    def burns(self) -> slo.Burns | None:
        """The declared burn windows, or None when Prometheus cannot give them (then the SLO
        gate judges the burn over the window since the push, and says so)."""
        try:
            return slo.burn_windows(self.prometheus, self.objectives)
        except MeasurementError:
            return None

    def watch(self, live_at: float, deadline: float) -> Detection:
        while time.monotonic() < deadline:
            time.sleep(PROMETHEUS_POLL)  # waiting for Prometheus' next scrape
            window = max(1, math.ceil(time.monotonic() - live_at))
            verdict = Report("slo")
            try:
                counts = slo.measure_prometheus(self.prometheus, window, self.objectives)
                burns = self.burns()
                slo.judge(verdict, self.objectives, counts, window, self.config, burns)
            except MeasurementError as exc:
                print(f"gates drill: no verdict yet over {window} s ({exc})")
                continue
            failed = failed_checks(verdict)
            if failed:
                return time.monotonic(), f"SLO gate (Prometheus, {window} s) FAILED: {failed}"
            print(f"gates drill: SLOs still met over {window} s")
        return None, None


class AlertDetector:
    """The generated fast-burn page alert firing in Prometheus."""

    name = "alert"

    def __init__(self, objectives: Objectives, url: str) -> None:
        self.slos = {o.name for o in objectives.slos}
        self.url = url
        alert = prometheus_alerts.FAST_BURN
        self.source = f"Prometheus {url}/api/v1/alerts: {alert} (severity=page)"

    def check_before_push(self) -> None:
        alert = prometheus_alerts.FAST_BURN
        if not prometheus_alerts.loaded(self.url) & self.slos:
            raise MeasurementError(
                f"Prometheus at {self.url} has no {alert} rule (severity=page) for any of the "
                f"SLOs ({', '.join(sorted(self.slos))}): load the rules `gates slo-rules` writes"
            )
        already = set(prometheus_alerts.firing(self.url)) & self.slos
        if already:
            raise MeasurementError(
                f"{alert} already fires in Prometheus at {self.url} for "
                f"{', '.join(sorted(already))} before the push: a detection could not be told "
                "from it; run the drill once it has resolved"
            )

    def watch(self, live_at: float, deadline: float) -> Detection:
        while time.monotonic() < deadline:
            fired = {
                name: value
                for name, value in prometheus_alerts.firing(self.url).items()
                if name in self.slos
            }
            if fired:
                seen = ", ".join(f"slo={name} (value {value})" for name, value in fired.items())
                return time.monotonic(), f"{prometheus_alerts.FAST_BURN} firing: {seen}"
            time.sleep(ALERT_POLL)  # waiting for Prometheus' next rule evaluation
        return None, None


def detector_for(
    config: PipelineConfig, target: Target, objectives: Objectives, args: Namespace
) -> Detector:
    """``--detector``, else ``prometheus`` when the environment has a Prometheus
    (``--prometheus-url``), else ``scrape``."""
    settings = config.environment(target.name)
    url = args.prometheus_url or getattr(settings, "prometheus_url", None) or None
    name = args.detector or ("prometheus" if url else "scrape")
    if name == "scrape":
        return ScrapeDetector(config, target, objectives, args.check_window)
    if url is None:
        raise ConfigError(
            f"--detector {name} needs the environment's Prometheus: pass --prometheus-url URL"
        )
    if name == "prometheus":
        labels = getattr(settings, "prometheus_labels", {})
        return PrometheusDetector(config, objectives, Source(url.rstrip("/"), labels))
    return AlertDetector(objectives, url)
