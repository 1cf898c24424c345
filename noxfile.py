"""The delivery pipeline: one session per stage, each a thin call into ``python -m gates``.

``nox`` runs the default sessions in pipeline order; ``nox -s <stage>`` runs one;
``nox -t tests`` runs the test suites and the coverage decision; ``nox -l`` lists them.
Every session installs exactly what uv.lock pins.
"""

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = [
    "lint",
    "test",
    "e2e",
    "coverage",
    "security",
    "build",
    "deploy-staging",
    "smoke",
    "perf",
    "deploy-prod",
    "slo",
    "summary",
]
nox.options.stop_on_first_error = True
nox.options.error_on_missing_interpreters = True


def install_locked(session, *groups):
    """Install the workspace (gates + service) and ``groups`` exactly as uv.lock pins them.

    ``--locked`` refuses to run when the lock no longer matches pyproject.toml, so a stale
    lock is an error here and never silently refreshed.
    """
    group_args = [arg for group in groups for arg in ("--group", group)]
    session.run_install(
        "uv",
        "sync",
        "--locked",
        "--all-packages",
        "--no-default-groups",
        *group_args,
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        silent=True,
    )


def run_gate(session, group, *args):
    """Install the workspace and ``group`` from the lock, then run one gates command."""
    install_locked(session, group)
    session.run("python", "-m", "gates", *args)


@nox.session
def lint(session):
    """black --check and flake8 over the code; zizmor and actionlint over the workflows."""
    run_gate(session, "lint", "lint", "--", *session.posargs)


@nox.session(tags=["tests"])
def test(session):
    """Unit and in-process integration tests on every core (posargs go to pytest)."""
    run_gate(session, "test", "test", "--", *session.posargs)


@nox.session(tags=["tests"])
def e2e(session):
    """End-to-end scenarios: real builds, deploys, cutovers, drill, scanners (posargs: pytest)."""
    run_gate(session, "test", "e2e", "--", *session.posargs)


@nox.session(tags=["tests"])
def coverage(session):
    """Combine the coverage data of test and e2e; one decision against fail_under."""
    run_gate(session, "coverage", "coverage")


@nox.session
def security(session):
    """bandit over the code, safety over the locked runtime deps; SARIF. posargs: --offline."""
    run_gate(session, "security", "security", *session.posargs)


@nox.session
def build(session):
    """Reproducible release of HEAD: wheel, wheelhouse, SBOM, manifest (posargs: --ref REF)."""
    run_gate(session, "build", "build", *session.posargs)


@nox.session(name="deploy-staging")
def deploy_staging(session):
    """Deploy the latest build to staging: pre-flight, zero-downtime cutover, ledger."""
    run_gate(session, "deploy", "deploy", "--environment", "staging", *session.posargs)


@nox.session
def smoke(session):
    """Every endpoint over HTTP against its contract (default: staging; -- --environment E)."""
    run_gate(session, "deploy", "smoke", *session.posargs)


@nox.session
def perf(session):
    """Open-loop load on staging: p50-p99, errors, regression (-- --duration S --rate R)."""
    run_gate(session, "deploy", "perf", *session.posargs)


@nox.session(name="deploy-prod")
def deploy_prod(session):
    """Promote the release live in staging to production (only if it passed staging)."""
    run_gate(session, "deploy", "deploy", "--environment", "production", *session.posargs)


@nox.session
def slo(session):
    """Availability and latency SLIs of production over a window (-- --window 15min)."""
    run_gate(session, "deploy", "slo", *session.posargs)


@nox.session
def summary(session):
    """One table for the rehearsal: stage, outcome, duration, key figure; production now."""
    run_gate(session, "deploy", "summary")


@nox.session(name="failure-drill")
def failure_drill(session):
    """Bad config push to production, SLO detection, automatic rollback, times reported."""
    run_gate(session, "deploy", "drill", *session.posargs)


@nox.session
def dora(session):
    """DORA metrics from the ledger (-- --window 30d --environment production)."""
    run_gate(session, "deploy", "dora", *session.posargs)


@nox.session
def rollback(session):
    """Return an environment to its last good release: -- --environment E --reason WHY."""
    args = session.posargs or ["--environment", "production", "--reason", "manual rollback"]
    run_gate(session, "deploy", "rollback", *args)


@nox.session
def status(session):
    """What runs where: release, version, since when, pid, health."""
    run_gate(session, "deploy", "status", *session.posargs)


@nox.session
def down(session):
    """Stop an environment's server cleanly: -- --environment E (default: staging)."""
    run_gate(session, "deploy", "down", *(session.posargs or ["--environment", "staging"]))


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
