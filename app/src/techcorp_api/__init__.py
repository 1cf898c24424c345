"""The TechCorp API service.

Importing this package imports nothing else. gunicorn loads ``techcorp_api.gunicorn_conf``
through it, and that module must set ``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client
is first imported (the library picks its multiprocess value store at import time).
"""

__all__ = ["create_app"]


def create_app(config=None):
    """Build the Flask application: defaults, then the environment, then ``config``."""
    from techcorp_api.factory import create_app as build

    return build(config)
