"""The application factory."""

from collections.abc import Mapping
from typing import Any

from flask import Flask

from techcorp_api.settings import load_settings
from techcorp_api.errors import register_error_handlers
from techcorp_api.faults import Faults
from techcorp_api.logs import configure_logging
from techcorp_api.metrics import RequestMetrics
from techcorp_api.observability import register_request_hooks
from techcorp_api.readiness import Readiness
from techcorp_api.routes import bp


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask application.

    Settings are the defaults, then the environment, then ``config`` (a mapping).
    """
    app = Flask("techcorp_api")
    app.config.update(load_settings(config))
    configure_logging(app.config["LOG_LEVEL"])

    readiness = Readiness()
    app.extensions["readiness"] = readiness
    app.extensions["metrics"] = RequestMetrics(app.config["SLO_LATENCY_SECONDS"])
    app.extensions["faults"] = Faults(
        app.config["FAULT_LATENCY_MS"], app.config["FAULT_ERROR_RATE"]
    )
    register_request_hooks(app)
    register_error_handlers(app)
    app.register_blueprint(bp)

    if app.config["READY_ON_START"]:
        readiness.mark_ready()
    return app
