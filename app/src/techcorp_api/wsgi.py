"""WSGI entry point for gunicorn: ``techcorp_api.wsgi:app``."""

import sys

from techcorp_api import create_app
from techcorp_api.settings import SettingsError

# gunicorn's exit code for "worker failed to boot": the master stops rather than respawning.
WORKER_BOOT_ERROR = 3

try:
    app = create_app()
except SettingsError as exc:
    print(f"techcorp-api: configuration error: {exc}", file=sys.stderr, flush=True)
    sys.exit(WORKER_BOOT_ERROR)
