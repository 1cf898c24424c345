"""Plain helper modules for the tests, imported normally (``from support.ports import free_port``).

pytest (import mode ``prepend``, its default) puts ``tests/`` on ``sys.path`` when it loads
``tests/conftest.py``, because ``tests/`` has no ``__init__.py``; so this package, like
``deploy_fixture`` beside it, is importable from every test and from
``conftest.py``. Benchmarks add ``tests/`` to ``sys.path`` themselves. ``conftest.py`` holds only
fixtures and settings and is never imported as a module (pytest's docs advise against it).

- ``timeouts``: bounds on hangs (never latency limits).
- ``ports``: free loopback ports for the servers tests start, split between xdist workers.
- ``servers``: ``Server``, a gunicorn master a test started and stops by its own pid.
- ``gates_cli``: the runners of ``python -m gates``: as a subprocess, and in-process
  (``gates.cli.main``, the same arguments and result).
- ``children``: the environment for a child that runs none of this repository's code
  (detect-secrets, pip-audit), without coverage's start-up.
- ``json_schema``: jsonschema, imported when a test first validates (it is slow to import).
- ``pipeline_project``: a miniature repository with a ``[tool.pipeline]`` table to run gates on.
- ``bad_inputs``: adversarial configs and objectives files, each with the one line that refuses it.
- ``advisory_db``: an offline vulnerability database in safety 2's format.
"""
