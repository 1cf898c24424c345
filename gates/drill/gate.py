"""``gates drill``: the failure drill. With a good release live, push a bad configuration
(the service's FAULT_ERROR_RATE switch), let a detector (gates.drill.detectors: the SLO gate on
/metrics, the SLO gate's Prometheus evaluation, or the generated fast-burn alert firing in
Prometheus) notice it, roll back automatically, verify the good deployment serves again, and
report which detector it used and the times, measured from the bad config going live.

Exit 0 only when detection and restoration both happened within their targets: ``[tool.pipeline.
drill] detect_target`` and ``restore_target``, which --detect-target and --restore-target
override. What was not measured is said in words, never printed as a missing number.
"""

import time
from argparse import ArgumentParser, Namespace
from dataclasses import replace
from typing import Any

from gates.slo import gate as slo
from gates.drill.detectors import DETECTORS, detector_for
from gates.config import PipelineConfig
from gates.targets.request import DeployRequest
from gates.deploy.rollback import roll_back
from gates.ledger import Ledger
from gates.perf.load import ConstantRateLoad
from gates.outcome import ConfigError, GateError, MeasurementError
from gates.report import Report
from gates.targets import target_for


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--error-rate",
        type=float,
        default=0.05,
        help="the bad config's FAULT_ERROR_RATE (default 0.05)",
    )
    parser.add_argument("--rate", type=int, default=80, help="user traffic, requests/s")
    parser.add_argument(
        "--check-window",
        type=float,
        default=5.0,
        help="seconds per SLO evaluation window while watching",
    )
    parser.add_argument(
        "--prometheus-url",
        help="the environment's Prometheus (scraping its /metrics, gates slo-rules' rules "
        "loaded): detect through it",
    )
    parser.add_argument(
        "--detector",
        choices=DETECTORS,
        help="scrape: the SLO gate on /metrics deltas (the default without a Prometheus); "
        "prometheus: the SLO gate's Prometheus evaluation since the push (the default with "
        "one); alert: the generated fast-burn alert firing in Prometheus",
    )
    parser.add_argument(
        "--latency-target",
        type=float,
        metavar="MS",
        help="the detectors' latency threshold in ms (a bucket of the service's histogram, "
        "e.g. 2500), instead of the objectives' (the generated alert rules keep theirs)",
    )
    parser.add_argument(
        "--detect-target",
        type=float,
        metavar="SECONDS",
        help="detected within this many seconds of the bad config going live (default: "
        "[tool.pipeline.drill] detect_target)",
    )
    parser.add_argument(
        "--restore-target",
        type=float,
        metavar="SECONDS",
        help="restored within this many seconds of detection (default: [tool.pipeline.drill] "
        "restore_target)",
    )


def time_limits(config: PipelineConfig, args: Namespace) -> tuple[float, float]:
    """(detect target, restore target) in seconds: the flags, else the configuration."""
    drill = config.drill
    detect = drill.detect_target if args.detect_target is None else args.detect_target
    restore = drill.restore_target if args.restore_target is None else args.restore_target
    for flag, value in (("--detect-target", detect), ("--restore-target", restore)):
        if not value > 0:
            raise ConfigError(f"{flag} must be a number of seconds > 0, got {value:g}")
    return detect, restore


def since_first_failed(seconds: float | None) -> str:
    """Detection timed from the first user request the bad config failed, in words."""
    if seconds is None:
        return "no request had failed yet"
    return f"{seconds} s after the first request it failed"


def summary_line(
    detector: str,
    detect_s: float | None,
    restore_s: float | None,
    detect_from_first_failed: float | None,
    failed: int,
    sent: int,
) -> str:
    """The drill's closing line: each time in seconds, or in words when it was not measured."""
    if detect_s is None:
        timing = "not detected, restore not measured (not detected)"
    else:
        restore = "not restored" if restore_s is None else f"{restore_s} s"
        timing = (
            f"detect {detect_s} s after live ({since_first_failed(detect_from_first_failed)}), "
            f"restore {restore}"
        )
    return f"gates drill: detector {detector}: {timing}, {failed} failed requests of {sent} sent"


def add_timing_checks(
    report: Report,
    detect_s: float | None,
    restore_s: float | None,
    detect_target: float,
    restore_target: float,
    detect_from_first_failed: float | None,
    source: str,
) -> None:
    """The drill's two timed checks: detected within ``detect_target`` s of the bad config
    going live, restored within ``restore_target`` s of detection (None: it never happened,
    a failed check). A time equal to its target passes."""
    report.add(
        "detected",
        detect_s is not None and detect_s <= detect_target,
        (
            f"{detect_s} s after the bad config went live "
            f"({since_first_failed(detect_from_first_failed)})"
            if detect_s is not None
            else "not detected"
        ),
        f"<= {detect_target:g} s",
        source,
    )
    report.add(
        "restored",
        restore_s is not None and restore_s <= restore_target,
        (
            f"{restore_s} s from detection to the good deployment verified serving"
            if restore_s is not None
            else "not restored" if detect_s is not None else "not measured (not detected)"
        ),
        f"<= {restore_target:g} s",
        "automatic rollback",
    )


def max_ids(ledger: Ledger) -> dict[str, int]:
    return {
        table: ledger.db.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()[0]
        for table in ("deploys", "gate_results")
    }


def new_rows(ledger: Ledger, before: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    rows = {}
    for table, last in before.items():
        found = ledger.db.execute(f"SELECT * FROM {table} WHERE id > ? ORDER BY id", (last,))
        rows[table] = [dict(row) for row in found]
    return rows


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    target = target_for(config, args.environment)
    detect_target, restore_target = time_limits(config, args)
    objectives = slo.objectives_for(
        config, Namespace(availability_target=None, latency_target=args.latency_target)
    )
    detector = detector_for(config, target, objectives, args)
    with target.hold() as good:
        if good is None:
            raise MeasurementError(f"nothing is live in {target.name}; deploy a good release first")
        report.details.update(
            environment=target.name,
            good_release=good.release_id,
            good_deployment=good.deployment,
        )
        before = max_ids(target.ledger)
        good_service = target.service_config(good.deployment)
        if good_service is None:
            raise MeasurementError(
                f"the live deployment {good.deployment} in {target.name} has no recorded config"
            )
        bad = DeployRequest(
            environment=target.name,
            service=replace(
                good_service, env={**good_service.env, "FAULT_ERROR_RATE": str(args.error_rate)}
            ),
            release=good.release_id,
            reason="failure drill: bad config push",
            override_promotion="failure drill",
        )
        release = target.release(good.release_id)
        detector.check_before_push()
        load = ConstantRateLoad(target.base_url, ("/api/data",), rate=args.rate).start()
        began = time.monotonic()
        try:
            print(
                f"gates drill: pushing a bad config (FAULT_ERROR_RATE={args.error_rate}) "
                f"to {target.name} under {args.rate} requests/s"
            )
            target.deploy(bad, release, Report("drill-deploy"))
            live_at = time.monotonic()
            pushed = target.live()
            if pushed is None:
                raise MeasurementError(f"nothing is live in {target.name} after the bad push")
            detected_at, why = detector.watch(live_at, live_at + detect_target * 2)
            restored_at = None
            if detected_at is not None:
                target.ledger.record_gate(
                    target.name,
                    pushed.release_id,
                    "slo",
                    "failed",
                    1,
                    f"{why} (detector: {detector.name})",
                    deployment=pushed.deployment,
                )
                print(f"gates drill: {why}")
                roll_back(
                    config,
                    target,
                    Report("drill-rollback"),
                    pushed,
                    f"failure drill: detected by {detector.name} ({why})",
                )
                serving = target.live()
                if serving is not None and serving.deployment == good.deployment:
                    restored_at = time.monotonic()
            else:
                # Not detected: the drill failed, but production must not stay broken.
                roll_back(
                    config,
                    target,
                    Report("drill-rollback"),
                    pushed,
                    f"failure drill: {detector.name} did not detect the bad config; restoring",
                )
        except GateError:
            load.stop()
            raise
        # Keep the user traffic a moment past the restore, so the failed-request count
        # covers the whole cutover back.
        time.sleep(1.0)
        result = load.stop()

    window_failures = [
        s
        for s in result.failures
        if live_at - began <= s.scheduled <= (restored_at or time.monotonic()) - began
    ]
    detect_s = None if detected_at is None else round(detected_at - live_at, 2)
    # The bad config takes traffic during its cutover's check through the port, before the
    # deploy returns ("live"): a detector that watches continuously may see those errors. The
    # first user request it failed is when users were first hurt; detection is timed from it too.
    first_failed = min((began + s.scheduled for s in result.failures), default=None)
    detect_from_first_failed = (
        None
        if detected_at is None or first_failed is None
        else round(detected_at - first_failed, 2)
    )
    restore_s = (
        None if restored_at is None or detected_at is None else round(restored_at - detected_at, 2)
    )
    add_timing_checks(
        report,
        detect_s,
        restore_s,
        detect_target,
        restore_target,
        detect_from_first_failed,
        detector.source,
    )
    report.details.update(
        detector=detector.name,
        detector_source=detector.source,
        detected_by=why,
        time_to_detect_s=detect_s,
        time_to_restore_s=restore_s,
        time_to_detect_from_first_failed_request_s=detect_from_first_failed,
        first_failed_request_before_live_s=(
            None if first_failed is None else round(live_at - first_failed, 2)
        ),
        failed_requests=len(window_failures),
        requests_sent=len(result.samples),
        ledger_entries=new_rows(target.ledger, before),
    )
    print(
        summary_line(
            detector.name,
            detect_s,
            restore_s,
            detect_from_first_failed,
            len(window_failures),
            len(result.samples),
        )
    )
