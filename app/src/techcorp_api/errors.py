"""Every error leaves as JSON with its proper status: no HTML page, no stack trace."""

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from techcorp_api.logs import SERVICE_LOGGER
from techcorp_api.observability import current_request_id

log = logging.getLogger(SERVICE_LOGGER)


def error_response(status: int, error: str, message: str | None) -> Response:
    response = jsonify(error=error, status=status, message=message, request_id=current_request_id())
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        # Flask returns a code-less HTTPException as it is, never through this handler.
        status = exc.code if exc.code is not None else 500
        response = error_response(status, exc.name, exc.description)
        # Keep headers the exception carries, such as Allow on a 405.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def unhandled_error(exc: Exception) -> Response:
        log.error(
            "unhandled exception",
            exc_info=exc,
            extra={"request_id": current_request_id()},
        )
        internal = InternalServerError()
        return error_response(500, internal.name, internal.description)
