"""CI's engine step runs nox as root; every other step runs as the runner user, who must keep
owning what it uses (issue 26, finding 1).

Run for real, in the order the workflow's test job runs them: a checkout owned by an
unprivileged user, that user's bootstrap (nox and uv in a venv of its own, as
``python -m pip install`` puts them in setup-python's interpreter), the engine step's sudo line
run by bash with ``-- status`` for ``-- up``, then one of the user's own nox sessions.

As root the user is ``nobody`` (setpriv) and the sudo line runs from root; otherwise the user
is the caller, and the line needs passwordless sudo (a GitHub runner has it). Without either,
or without sudo (`.ci/run` installs it), the tests skip saying why; with $CI set they fail.
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gates.checks import workflow_policy

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
TIMEOUT = 600.0  # a hang bound for one step (a cold uv cache downloads every package)

# The workflow's root engine step before issue 26: root's nox made `.nox/` (and, importing
# the checkout's code, `__pycache__/` directories) in the user's checkout.
BEFORE = 'sudo --preserve-env=DOCKER_HOST "$(command -v nox)" -s engine -- up'
# The engine step's line as it must be (docs/ci.md; the workflow policy's AS_ROOT + `-s engine
# -- up`): sudo -H gives root its own home (its uv cache), --envdir keeps its virtualenvs out
# of the checkout, and PYTHONDONTWRITEBYTECODE keeps nox and the gates from writing bytecode
# into it.
ENGINE_STEP = f"{workflow_policy.AS_ROOT} -s engine -- up"
# COVERAGE_: the e2e session's subprocess coverage writes into the caller's checkout, which an
# unprivileged runner user cannot (SQLITE_CANTOPEN when the checkout is world-traversable).
CALLERS_OWN = ("PYTHONDONTWRITEBYTECODE", "UV_", "XDG_", "VIRTUAL_ENV", "NOX_", "COVERAGE_")
# A machine that reaches PyPI through a TLS proxy names its CA here; sudo would drop it.
TLS_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the root engine step's test cannot run, and CI is set: {reason}")
    pytest.skip(f"the root engine step's test needs it: {reason}")


@dataclass(frozen=True)
class Runner:
    """The runner user's side: who it is, its home and temp directory, its nox."""

    uid: int
    gid: int
    home: Path
    temp: Path  # $RUNNER_TEMP

    @property
    def is_root_caller(self) -> bool:
        return os.geteuid() == 0

    def as_user(self, argv: list[str]) -> list[str]:
        if not self.is_root_caller:
            return argv
        ids = [f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
        return ["setpriv", *ids, *argv]

    def env(self) -> dict[str, str]:
        # the caller's own caches and virtualenv are not the runner user's
        environ = {k: v for k, v in os.environ.items() if not k.startswith(CALLERS_OWN)}
        bin_dir = self.home / "bootstrap" / "bin"
        return {**environ, "HOME": str(self.home), "PATH": f"{bin_dir}:{environ['PATH']}"}

    def run(self, argv: list[str], cwd: Path) -> "subprocess.CompletedProcess[str]":
        return subprocess.run(
            self.as_user(argv),
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )

    def run_step(
        self, line: str, cwd: Path, docker_host: str
    ) -> "subprocess.CompletedProcess[str]":
        """A workflow `run:` line with sudo in it: run by the user, or by root when the
        caller is root (nobody has no sudo)."""
        kept = [name for name in TLS_VARIABLES if os.environ.get(name)]
        if kept:
            line = line.replace(
                "--preserve-env=DOCKER_HOST", f"--preserve-env=DOCKER_HOST,{','.join(kept)}"
            )
        env = {**self.env(), "RUNNER_TEMP": str(self.temp), "DOCKER_HOST": docker_host}
        argv = ["bash", "-euo", "pipefail", "-c", line]
        return subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )


def python_for(uid: int, gid: int, root_caller: bool) -> str | None:
    """A Python 3.11+ the user can make a venv with: the distribution's first, then python3 on
    PATH. Under nox, PATH's python3 is the session's venv, whose base interpreter may live in
    root's home (pyenv's), where an unprivileged user's `-m venv` gets Permission denied."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", shutil.which("python3")):
        if not candidate:
            continue
        argv = [
            candidate,
            "-c",
            "import os, sys, venv; sys.exit(sys.version_info < (3, 11) "
            "or not os.access(os.path.realpath(sys._base_executable), os.R_OK | os.X_OK))",
        ]
        if root_caller:
            argv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *argv]
        try:
            if subprocess.run(argv, capture_output=True, timeout=60).returncode == 0:
                return candidate
        except OSError:
            continue
    return None


@pytest.fixture(scope="module")
def runner() -> Iterator[Runner]:
    """The runner user with its bootstrap installed (nox and uv, hash-checked)."""
    if shutil.which("sudo") is None:
        unavailable("no sudo on PATH (apt-get install sudo; .ci/run installs it)")
    root_caller = os.geteuid() == 0
    if root_caller:
        if shutil.which("setpriv") is None:
            unavailable("no setpriv on PATH (util-linux) to run as an unprivileged user")
        uid = gid = NOBODY
    else:
        if subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode != 0:
            unavailable("not root, and sudo asks for a password (run it as root, or on CI)")
        uid, gid = os.getuid(), os.getgid()
    python = python_for(uid, gid, root_caller)
    if python is None:
        unavailable(f"no Python 3.11+ that user {uid} can run")
    base = Path(tempfile.mkdtemp(prefix="gates-t-rootstep-", dir="/tmp"))
    base.chmod(0o755)
    runner = Runner(uid, gid, base / "home", base / "temp")
    for directory in (runner.home, runner.temp):
        directory.mkdir()
        os.chown(directory, uid, gid)
    try:
        assert python is not None
        bootstrap = runner.home / "bootstrap"
        for argv in (
            [python, "-m", "venv", str(bootstrap)],
            [
                str(bootstrap / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--require-hashes",
                "-r",
                str(ROOT / "bootstrap-requirements.txt"),
            ],
        ):
            done = runner.run(argv, runner.home)
            assert done.returncode == 0, f"{argv[:4]}: {done.stderr[-2000:]}"
        yield runner
    finally:
        remove = ["rm", "-rf", str(base)]
        subprocess.run(remove if root_caller else ["sudo", "-n", *remove], timeout=TIMEOUT)


@pytest.fixture
def checkout(runner: Runner) -> Path:
    """A clone of this repository owned by the runner user, as actions/checkout leaves it."""
    path = runner.home / f"checkout-{len(list(runner.home.glob('checkout-*')))}"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True, timeout=TIMEOUT)
    if runner.is_root_caller:
        subprocess.run(["chown", "-R", f"{runner.uid}:{runner.gid}", str(path)], check=True)
    return path


def owned_by_root(*paths: Path) -> list[str]:
    found = subprocess.run(
        ["find", *map(str, paths), "-user", "0"], capture_output=True, text=True, timeout=TIMEOUT
    )
    return found.stdout.splitlines()


def engine_status(line: str) -> str:
    """The step's line with `status` for `up`: the same session, nothing started."""
    assert line.endswith(" -s engine -- up"), line
    return line.removesuffix("up") + "status"


def test_after_the_root_engine_step_the_runner_user_runs_its_own_sessions(engine, runner, checkout):
    root_step = runner.run_step(engine_status(ENGINE_STEP), checkout, engine.docker_host)
    assert root_step.returncode == 0, root_step.stdout[-2000:] + root_step.stderr[-2000:]
    assert "gates engine: ready" in root_step.stdout
    assert owned_by_root(checkout, runner.home) == []
    assert not (checkout / ".nox").exists()
    user_step = runner.run(["nox", "-s", "config"], checkout)
    assert user_step.returncode == 0, user_step.stderr[-3000:]
    assert (checkout / ".nox" / "config").is_dir()
    assert owned_by_root(checkout, runner.home) == []
    # root's own: its virtualenv where the step put it, its uv cache in its own home
    assert (runner.temp / "nox-as-root" / "engine").is_dir()


def test_the_step_before_issue_26_leaves_the_runner_user_locked_out_of_nox(
    engine, runner, checkout
):
    """What the test above guards against, shown: the old line, then the user's session."""
    root_step = runner.run_step(engine_status(BEFORE), checkout, engine.docker_host)
    assert root_step.returncode == 0, root_step.stdout[-2000:] + root_step.stderr[-2000:]
    locked = owned_by_root(checkout)
    assert str(checkout / ".nox") in locked
    assert any("__pycache__" in path for path in locked)
    user_step = runner.run(["nox", "-s", "config"], checkout)
    assert user_step.returncode != 0
    output = " ".join((user_step.stdout + user_step.stderr).split())  # uv wraps long lines
    assert f"failed to create directory `{checkout}/.nox/config`: Permission denied" in output
