"""``gates smoke``: every endpoint over real HTTP, each response checked against its contract.

Connection failures are retried until a short start-up deadline (then exit 3: unreachable);
a response that breaks its contract fails at once (exit 1).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client.parser import text_string_to_metric_families

from gates import httpget
from gates.httpget import Response
from gates.outcome import MeasurementError
from gates.report import Report
from gates.targets.live import LiveRelease, live_target

if TYPE_CHECKING:
    from argparse import Namespace

    from gates.config import PipelineConfig

# An endpoint's contract: the problems with one response, none when it holds.
ContractCheck = Callable[[LiveRelease, Response], list[str]]

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


def json_body(
    status: int, headers: Mapping[str, str], body: bytes, expected_status: int = 200
) -> tuple[dict[str, Any] | None, list[str]]:
    problems: list[str] = []
    if status != expected_status:
        problems.append(f"status {status}, expected {expected_status}")
    if not headers.get("content-type", "").startswith("application/json"):
        problems.append(f"content type {headers.get('content-type')!r}, expected JSON")
    try:
        data = json.loads(body)
    except ValueError:
        return None, problems + ["body is not JSON"]
    if not isinstance(data, dict):
        return None, problems + ["body is not a JSON object"]
    return data, problems


def fields(data: Mapping[str, Any], spec: Mapping[str, object]) -> list[str]:
    """Problems with required fields: spec is {name: type or exact value}."""
    problems: list[str] = []
    for name, want in spec.items():
        if name not in data:
            problems.append(f"field {name!r} missing")
        elif isinstance(want, type):
            if not isinstance(data[name], want) or isinstance(data[name], bool):
                problems.append(
                    f"field {name!r} is {type(data[name]).__name__}, not {want.__name__}"
                )
        elif data[name] != want:
            problems.append(f"field {name!r} is {data[name]!r}, expected {want!r}")
    return problems


def check_health(target: LiveRelease, response: Response) -> list[str]:
    data, problems = json_body(*response)
    if data is not None:
        problems += fields(data, {"status": "healthy", "timestamp": int, "version": target.version})
        if isinstance(data.get("timestamp"), int) and abs(data["timestamp"] - time.time()) > 300:
            problems.append(f"timestamp {data['timestamp']} is not the current time")
    return problems


def check_data(target: LiveRelease, response: Response) -> list[str]:
    data, problems = json_body(*response)
    if data is not None:
        environment = target.service_env.get("ENVIRONMENT", "development")
        problems += fields(
            data,
            {
                "message": "Hello from TechCorp API",
                "environment": environment,
                "version": target.version,
            },
        )
    return problems


def check_ready(target: LiveRelease, response: Response) -> list[str]:
    data, problems = json_body(*response)
    if data is not None:
        problems += fields(data, {"status": "ready", "release": target.release_id})
    if response[1].get("x-release-id") != target.release_id:
        problems.append(
            f"X-Release-ID {response[1].get('x-release-id')!r}, expected " f"{target.release_id}"
        )
    return problems


def check_metrics(target: LiveRelease, response: Response) -> list[str]:
    status, headers, body = response
    problems = [] if status == 200 else [f"status {status}, expected 200"]
    if not headers.get("content-type", "").startswith("text/plain"):
        problems.append(f"content type {headers.get('content-type')!r}, expected text/plain")
    try:
        names = {f.name for f in text_string_to_metric_families(body.decode())}
    except Exception as exc:  # the parser raises several types on bad input
        return problems + [f"not Prometheus text: {exc}"]
    for family in ("http_requests", "http_request_duration_seconds"):
        if family not in names:
            problems.append(f"metric family {family} missing")
    return problems


def check_not_found(target: LiveRelease, response: Response) -> list[str]:
    data, problems = json_body(*response, expected_status=404)
    if data is not None:
        problems += fields(data, {"status": 404, "error": str, "request_id": str})
    return problems


CHECKS: tuple[tuple[str, str, ContractCheck], ...] = (
    ("GET /health", "/health", check_health),
    ("GET /api/data", "/api/data", check_data),
    ("GET /ready", "/ready", check_ready),
    ("GET /metrics", "/metrics", check_metrics),
    ("GET unknown path -> JSON 404", "/smoke-test/no-such-path", check_not_found),
)


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    target = live_target(config, args.environment)
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
