"""``gates smoke``: every endpoint over real HTTP, each response checked against its contract
(gates.targets.contract, the same checks a deploy's pre-flight makes).

Connection failures are retried until a short start-up deadline (then exit 3: unreachable);
a response that breaks its contract fails at once (exit 1).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gates import httpget
from gates.httpget import Response
from gates.outcome import MeasurementError
from gates.report import Report
from gates.targets.contract import CHECKS
from gates.targets import live_release

if TYPE_CHECKING:
    from argparse import Namespace

    from gates.config import PipelineConfig

STARTUP_DEADLINE = 10.0


def fetch(port: httpget.Where, path: str, deadline: float = STARTUP_DEADLINE) -> Response:
    """(status, headers, body bytes); retries refused connections until ``deadline`` s."""
    stop = time.monotonic() + deadline
    where = httpget.address(port)
    while True:
        try:
            return httpget.fetch(path, port=port)
        except (ConnectionRefusedError, ConnectionResetError) as exc:
            if time.monotonic() >= stop:
                raise MeasurementError(
                    f"{where} unreachable for {deadline:g} s ({exc.strerror})"
                ) from None
            time.sleep(0.2)
        except httpget.FAILURES as exc:
            raise MeasurementError(f"{where}{path}: {type(exc).__name__}: {exc}") from None


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    target = live_release(config, args.environment)
    report.details.update(
        release_id=target.release_id,
        environment=target.environment,
        deployment=target.deployment,
    )
    for name, path, check in CHECKS:
        response = fetch(target.base_url, path)
        problems = check(target, response)
        report.add(
            name,
            not problems,
            "; ".join(problems) or f"{response[0]}, contract holds",
            "status, content type and fields per contract",
            f"{target.base_url}{path}",
        )
