"""The delivery pipeline: one session per stage, each a thin call into ``python -m gates``.

The sessions are generated from the stage registry (gates/stages.py), which declares each
stage once: ``nox`` runs the default sessions in pipeline order; ``nox -s <stage>`` runs one;
``nox -t tests`` runs the test suites and the coverage decision; ``nox -l`` lists them.
Every session installs exactly what uv.lock pins.
"""

import os
import sys
from pathlib import Path

import nox

# The registry is plain standard-library Python, read here before anything is installed.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gates.stages import PIPELINE, Session, sessions  # noqa: E402

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = [step.session for step in PIPELINE]
nox.options.stop_on_first_error = True
nox.options.error_on_missing_interpreters = True
# A session's virtualenv is kept between runs: install_locked's `uv sync --locked` makes it
# exactly what uv.lock pins every time (it removes what the lock does not list), so a kept
# one cannot drift, and a warm run skips re-creating and re-compiling every package.
nox.options.reuse_venv = "yes"


def install_locked(session, *groups):
    """Install the workspace (gates + service) and ``groups`` exactly as uv.lock pins them.

    ``--locked`` refuses to run when the lock no longer matches pyproject.toml, so a stale
    lock is an error here and never silently refreshed. Where PYTHONDONTWRITEBYTECODE keeps
    Python from caching bytecode, every process a session starts (each pytest worker, each
    ``python -m gates``, each scanner) would compile every module it imports, again: uv
    compiles the environment once instead (docs/benchmarks-history.md: `nox -s test`).
    """
    group_args = [arg for group in groups for arg in ("--group", group)]
    compile_bytecode = ["--compile-bytecode"] if os.environ.get("PYTHONDONTWRITEBYTECODE") else []
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--all-packages",
        "--no-default-groups",
        *compile_bytecode,
        *group_args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        silent=True,
    )


def stage_session(spec: Session):
    """The nox session for one registry entry: install its dependency group, run its command."""

    def run(session):
        install_locked(session, spec.stage.group)
        session.run("python", "-m", "gates", *spec.gates_args(session.posargs))

    run.__doc__ = spec.stage.help + (f" (in {spec.environment})" if spec.environment else "")
    return run


for spec in sessions():
    nox.session(name=spec.name, tags=list(spec.stage.tags))(stage_session(spec))


@nox.session(venv_backend="none")
def lock(session):
    """Refresh uv.lock and the hash-pinned bootstrap (the only command that changes them)."""
    uv = nox.virtualenv.UV  # the uv nox itself uses, found beside nox when not on PATH
    session.run(uv, "lock", *session.posargs)
    session.run(
        uv,
        "pip",
        "compile",
        "--quiet",
        "--universal",
        "--python-version=3.11",
        "--generate-hashes",
        "--custom-compile-command=nox -s lock",
        "bootstrap-requirements.in",
        "--output-file=bootstrap-requirements.txt",
    )
