"""``techcorp-api``: serve the service with gunicorn and its bundled configuration."""

import sys
from collections.abc import Sequence

from techcorp_api.settings import SettingsError, load_settings
from techcorp_api.envvars import USAGE_ERROR, check_all

CONFIG = "python:techcorp_api.gunicorn_conf"


def gunicorn_argv(program: str, args: Sequence[str]) -> list[str]:
    """gunicorn's argv: our config first, so flags given on the command line win.

    ``program`` stays argv[0] unchanged: a USR2 binary upgrade re-executes it, with the
    argv built here, so arguments that already start with our config are kept as they are.
    """
    ours = ["--config", CONFIG]
    return [program, *([] if list(args[:2]) == ours else ours), *args]


def main(argv: Sequence[str] | None = None) -> None:
    # Refuse bad settings with one line before gunicorn starts: its own import reads
    # WEB_CONCURRENCY, and a worker that cannot build the app would only log a traceback.
    check_all()
    try:
        load_settings()
    except SettingsError as exc:
        print(f"techcorp-api: configuration error: {exc}", file=sys.stderr)
        sys.exit(USAGE_ERROR)
    from gunicorn.app.wsgiapp import run

    sys.argv = gunicorn_argv(sys.argv[0], sys.argv[1:] if argv is None else argv)
    run()
