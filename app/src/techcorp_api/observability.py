"""Per-request hooks: request id, timing, metrics, access log and security headers."""

import logging
import re
import time
import uuid

from flask import Flask, Response, current_app, g, request

from techcorp_api.logs import ACCESS_LOGGER
from techcorp_api.metrics import UNMATCHED_ROUTE, RequestMetrics

REQUEST_ID_HEADER = "X-Request-ID"
RELEASE_ID_HEADER = "X-Release-ID"
# Ids clients may set: short, and safe to echo into headers and logs.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

access_log = logging.getLogger(ACCESS_LOGGER)


def request_id_from(header_value: str | None) -> str:
    """The client's id when it is sane, otherwise a fresh one."""
    if header_value and SANE_REQUEST_ID.fullmatch(header_value):
        return header_value
    return uuid.uuid4().hex


def current_request_id() -> str:
    request_id: str = g.get("request_id") or "-"
    return request_id


def route_label() -> str:
    return request.url_rule.rule if request.url_rule is not None else UNMATCHED_ROUTE


def register_request_hooks(app: Flask) -> None:
    @app.before_request
    def start_request() -> None:
        g.started = time.perf_counter()
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))

    @app.after_request
    def finish_request(response: Response) -> Response:
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        response.headers[REQUEST_ID_HEADER] = current_request_id()
        if current_app.config["RELEASE_ID"]:
            response.headers[RELEASE_ID_HEADER] = current_app.config["RELEASE_ID"]
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        route = route_label()
        metrics: RequestMetrics = current_app.extensions["metrics"]
        metrics.observe(route, request.method, response.status_code, seconds)
        access_log.info(
            "request",
            extra={
                "request_id": current_request_id(),
                "method": request.method,
                "route": route,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 3),
            },
        )
        return response
