"""The service's response contract, checked the same way by smoke (through an environment's
port) and by a deploy's pre-flight (on the new deployment's private socket).

A check takes what the deployment must report (:class:`Expected`: its release, version and
service environment) and one response, and returns the problems with that response: none
when the contract holds. :data:`CHECKS` lists every endpoint with its check.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client.parser import text_string_to_metric_families

from gates.httpget import Response


class Expected(Protocol):
    """What a deployment must report (a LiveRelease, or a deployment about to go live)."""

    @property
    def release_id(self) -> str: ...

    @property
    def version(self) -> str: ...  # what /health and /api/data must report

    @property
    def service_env(self) -> Mapping[str, str]: ...  # the deployment config's variables


@dataclass(frozen=True)
class Deployment:
    """The :class:`Expected` of a deployment that is not live yet."""

    release_id: str
    version: str
    service_env: Mapping[str, str]


# An endpoint's contract: the problems with one response, none when it holds.
ContractCheck = Callable[[Expected, Response], list[str]]


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


def check_health(target: Expected, response: Response) -> list[str]:
    data, problems = json_body(*response)
    if data is not None:
        problems += fields(data, {"status": "healthy", "timestamp": int, "version": target.version})
        if isinstance(data.get("timestamp"), int) and abs(data["timestamp"] - time.time()) > 300:
            problems.append(f"timestamp {data['timestamp']} is not the current time")
    return problems


def check_data(target: Expected, response: Response) -> list[str]:
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


def check_ready(target: Expected, response: Response) -> list[str]:
    data, problems = json_body(*response)
    if data is not None:
        problems += fields(data, {"status": "ready", "release": target.release_id})
    if response[1].get("x-release-id") != target.release_id:
        problems.append(
            f"X-Release-ID {response[1].get('x-release-id')!r}, expected " f"{target.release_id}"
        )
    return problems


def check_metrics(target: Expected, response: Response) -> list[str]:
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


def check_not_found(target: Expected, response: Response) -> list[str]:
    data, problems = json_body(*response, expected_status=404)
    if data is not None:
        problems += fields(data, {"status": 404, "error": str, "request_id": str})
    return problems


# (name, path, check): every endpoint of the service.
CHECKS: tuple[tuple[str, str, ContractCheck], ...] = (
    ("GET /health", "/health", check_health),
    ("GET /api/data", "/api/data", check_data),
    ("GET /ready", "/ready", check_ready),
    ("GET /metrics", "/metrics", check_metrics),
    ("GET unknown path -> JSON 404", "/smoke-test/no-such-path", check_not_found),
)
