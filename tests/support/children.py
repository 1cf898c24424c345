"""Child processes that run none of this repository's code: started without coverage.

coverage's subprocess patch (``patch = ["subprocess"]`` in ``[tool.coverage.run]``) puts
``COVERAGE_PROCESS_CONFIG`` in the environment, so every Python child starts coverage, which
costs a few tenths of a second of start-up. A child that imports neither ``gates`` nor
``techcorp_api`` (detect-secrets, pip-audit) measures nothing with it;
``without_coverage()`` is the environment to start such a child in. A child that runs gates or
the service (``python -m gates``, gunicorn) keeps it: that is what the patch is for.
"""

import os
from collections.abc import Mapping

COVERAGE_CHILDREN = "COVERAGE_PROCESS_CONFIG"


def without_coverage(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) without the variable that starts coverage."""
    return {
        k: v
        for k, v in (os.environ if environ is None else environ).items()
        if k != COVERAGE_CHILDREN
    }
