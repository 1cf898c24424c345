"""The service's endpoints."""

import time

from flask import Blueprint, Response, current_app

from techcorp_api.faults import Faults
from techcorp_api.metrics import CONTENT_TYPE_LATEST, RequestMetrics
from techcorp_api.readiness import Readiness

bp = Blueprint("api", __name__)


@bp.get("/health")
def health() -> dict[str, object]:
    return {
        "status": "healthy",
        "timestamp": int(time.time()),
        "version": current_app.config["APP_VERSION"],
    }


@bp.get("/api/data")
def data() -> dict[str, object]:
    faults: Faults = current_app.extensions["faults"]
    faults.apply()
    return {
        "message": "Hello from TechCorp API",
        "environment": current_app.config["ENVIRONMENT"],
        "version": current_app.config["APP_VERSION"],
    }


@bp.get("/ready")
def ready() -> tuple[dict[str, object], int]:
    readiness: Readiness = current_app.extensions["readiness"]
    status = 200 if readiness.is_ready else 503
    body = {
        "status": readiness.state,
        "version": current_app.config["APP_VERSION"],
        "release": current_app.config["RELEASE_ID"] or None,
    }
    return body, status


@bp.get("/metrics")
def metrics() -> Response:
    request_metrics: RequestMetrics = current_app.extensions["metrics"]
    body = request_metrics.exposition()
    return Response(body, content_type=CONTENT_TYPE_LATEST)
