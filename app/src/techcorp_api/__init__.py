"""The TechCorp API service.

Importing this package imports nothing else. gunicorn loads ``techcorp_api.gunicorn_conf``
through it, and that module must set ``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client
is first imported (the library picks its multiprocess value store at import time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from flask import Flask

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask application: defaults, then the environment, then ``config``."""
    from techcorp_api.factory import create_app as build

    return build(config)
