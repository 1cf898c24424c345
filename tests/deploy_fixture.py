"""Clones of this repository for end-to-end scenarios, and the releases they deploy.

Releases (see VARIANTS) are built once per test run and shared; each scenario gets its own
clone, state directory and free loopback ports, so scenarios run in parallel.
"""

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from filelock import FileLock

from gates import processes
from support.gates_cli import popen_gates, run_command, run_gates
from support.ports import free_port
from support.timeouts import GATES_TIMEOUT

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = GATES_TIMEOUT
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def run(
    argv: list[str],
    cwd: Path,
    env: dict[str, str] | None = None,
    check: bool = True,
    timeout: float = TIMEOUT,
) -> "subprocess.CompletedProcess[str]":
    environ = {**os.environ, **GIT_ENV, **(env or {})}
    return run_command(argv, env=environ, cwd=cwd, timeout=timeout, check=check)


class Checkout:
    """This tree's gates, run against a clone with its own state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = path / ".pipeline"
        self.releases: dict[str, str] = {}
        self.ports: dict[str, int] = {}
        self.env: dict[str, str] = {}  # given to every gates command (e.g. DOCKER_CONFIG)

    def gates(
        self,
        *args: str,
        check: bool = True,
        timeout: float = TIMEOUT,
        env: dict[str, str] | None = None,
    ) -> "subprocess.CompletedProcess[str]":
        config = self.path / "pyproject.toml"
        environ = {**GIT_ENV, **self.env, **(env or {})}
        return run_gates(
            config, *args, env=environ, state_dir=self.state, cwd=ROOT, timeout=timeout, check=check
        )

    def popen(self, *args: str) -> "subprocess.Popen[str]":
        return popen_gates(
            self.path / "pyproject.toml", *args, env=self.env, state_dir=self.state, cwd=ROOT
        )

    def report(self, stage: str) -> Any:
        return json.loads((self.state / "reports" / f"{stage}.json").read_text())

    def commit(self, path: str, text: str, date: str) -> None:
        """Commit ``text`` to ``path`` (only that file; test config stays uncommitted)."""
        self.commit_files({path: text}, date)

    def commit_files(self, texts: dict[str, str], date: str) -> None:
        """Commit each ``{path: text}`` (only those files; test config stays uncommitted)."""
        for path, text in texts.items():
            before = (self.path / path).read_text()
            assert text != before, f"the change to {path} changed nothing"
            (self.path / path).write_text(text)
        run(
            ["git", "commit", "--quiet", "-m", f"change {', '.join(texts)}", "--", *texts],
            self.path,
            env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
        )

    def build(self) -> str:
        self.gates("build")
        release_id: str = self.report("build")["details"]["release_id"]
        return release_id

    def port(self, environment: str) -> int:
        return self.ports[environment]

    def masters(self, environment: str) -> list[dict[str, Any]]:
        run_dir = self.state / "environments" / environment / "run"
        found: list[dict[str, Any]] = []
        for record in run_dir.glob("master-*.json"):
            data = json.loads(record.read_text())
            if psutil.pid_exists(data["pid"]):
                found.append(data)
        return found

    def set_service_env(self, environment: str, **extra: str) -> None:
        """Give ``environment`` a new deployment config: its ``env`` table plus ``extra``."""
        pyproject = self.path / "pyproject.toml"
        values = "".join(f', {name} = "{value}"' for name, value in extra.items())
        text = re.sub(
            rf"(\[tool\.pipeline\.environments\.{environment}\]\nport = \d+\nworkers = \d+\n)"
            r"env = .*",
            rf'\g<1>env = {{ ENVIRONMENT = "{environment}"{values} }}',
            pyproject.read_text(),
        )
        pyproject.write_text(text)

    def set_config(self, **values: object) -> None:
        """Set ``[tool.pipeline]`` keys (each in the file once, e.g. probe_rate) to ``values``."""
        pyproject = self.path / "pyproject.toml"
        text = pyproject.read_text()
        for name, value in values.items():
            text, count = re.subn(rf"(?m)^{name} = .*$", f"{name} = {value}", text)
            assert count == 1, f"{name} is not in {pyproject} once"
        pyproject.write_text(text)

    def set_deploy_timeout(self, name: str, seconds: int) -> None:
        """Set ``[tool.pipeline.deploy] <name>`` (e.g. preflight_timeout) to ``seconds``."""
        pyproject = self.path / "pyproject.toml"
        text = re.sub(rf"(?m)^{name} = \d+", f"{name} = {seconds}", pyproject.read_text())
        pyproject.write_text(text)

    def current(self, environment: str) -> str | None:
        """The deployment the environment's ``current`` pointer names."""
        link = self.state / "environments" / environment / "current"
        return os.readlink(link).rsplit("/", 1)[-1] if link.is_symlink() else None

    def tear_down(self) -> None:
        """Stop every environment this checkout started: `gates down`, then by pid. An
        environment without a directory in the state never had anything started in it (its
        layout is made before anything starts), so it needs no `gates down`."""
        for environment in ("staging", "production"):
            if (self.state / "environments" / environment).exists():
                self.gates("down", "--environment", environment, check=False)
        self.kill_leftovers()

    def kill_leftovers(self) -> None:
        """Last resort after `gates down`: end masters this checkout started, by pid."""
        for environment in ("staging", "production"):
            for data in self.masters(environment):
                if processes.registered(data["pid"], data["recorded_at"]) is not None:
                    os.killpg(data["pid"], signal.SIGKILL)


# The perf gate's absolute limits in scenarios: what a slow machine busy with other tests
# meets (production's are 200 ms and 1 %). A test about a limit sets a fault far past it
# (FAULT_LATENCY_MS=1500 fails this p95 on any machine).
TEST_P95_MS = 1000
TEST_MAX_LATE_RATIO = 0.1


def configure(checkout: Checkout) -> None:
    """Free ports for both environments, short perf runs with limits a busy machine meets, no
    container image."""
    pyproject = checkout.path / "pyproject.toml"
    text = no_container_engine(pyproject.read_text())
    checkout.ports = {"staging": free_port(), "production": free_port()}
    for name, port in checkout.ports.items():
        text = re.sub(
            rf"(\[tool\.pipeline\.environments\.{name}\]\nport = )\d+", rf"\g<1>{port}", text
        )
    for line, test_line in (
        ("lock_timeout = 120", "lock_timeout = 5"),
        # 20 answers from every worker still; a deploy's check through the port takes 0.5 s
        ("verify_seconds = 2", "verify_seconds = 0.5"),
        # One answer of pre-flight or of that check may take 30 s, not 5: at load 38 (four
        # workers beside two busy loops) /health once took longer than 5 s.
        ("answer_timeout = 5", "answer_timeout = 30"),
        ("duration = 10", "duration = 3"),  # perf runs in the tests
        ("p95_ms = 200", f"p95_ms = {TEST_P95_MS}"),
        ("max_late_ratio = 0.01", f"max_late_ratio = {TEST_MAX_LATE_RATIO}"),
    ):
        assert text.count(f"\n{line}") == 1, f"{line!r} is not in [tool.pipeline] once"
        text = text.replace(f"\n{line}", f"\n{test_line}")
    pyproject.write_text(text)


def no_container_engine(text: str) -> str:
    """Test builds never depend on whichever container engine the machine happens to have."""
    return with_container_engine(text, "none")


def with_container_engine(text: str, engine: str) -> str:
    """``text`` (a pyproject.toml) with its one ``container_engine`` line naming ``engine``."""
    text, found = re.subn(
        r"^container_engine = .*$", f'container_engine = "{engine}"', text, flags=re.M
    )
    assert found == 1, "pyproject.toml names its container_engine once"
    return text


def clone(directory: Path) -> Checkout:
    run(["git", "clone", "--quiet", str(ROOT), str(directory)], ROOT)
    return Checkout(directory)


FACTORY = "app/src/techcorp_api/factory.py"
ROUTES = "app/src/techcorp_api/routes.py"
# The faulty release's faults, each chosen by its deployment's TEST_FAULT (set in the test's
# environment config); "live-<fault>" only once it serves on the port (TECHCORP_ROLE=live), so
# it passes pre-flight on its private socket. One release for all of them: one build, not six.
FAULT_SWITCH = (
    "\n\ndef _fault(name: str) -> bool:\n"
    '    """A test release\'s fault, chosen by its deployment\'s TEST_FAULT."""\n'
    '    fault = __import__("os").environ.get("TEST_FAULT", "")\n'
    '    live = __import__("os").environ.get("TECHCORP_ROLE") == "live"\n'
    '    return fault == name or (live and fault == "live-" + name)\n'
)
FAULTS = {
    # lostfield: /api/data lost a field of its contract; hang: /api/data never answers (/health
    # and /ready do); ready-hang: /ready never answers
    ROUTES: lambda text: text.replace(
        "    faults.apply()\n",
        "    faults.apply()\n" '    if _fault("hang"):\n' "        time.sleep(3600)\n",
    )
    .replace(
        '"environment": current_app.config["ENVIRONMENT"],',
        '**({} if _fault("lostfield") else {"environment": current_app.config["ENVIRONMENT"]}),',
    )
    .replace(
        '    readiness: Readiness = current_app.extensions["readiness"]\n',
        '    if _fault("ready-hang"):\n'
        "        time.sleep(3600)\n"
        '    readiness: Readiness = current_app.extensions["readiness"]\n',
    )
    + FAULT_SWITCH,
    # crash: cannot start (live-crash: once it is to take traffic); late-crash: passes
    # pre-flight (a few requests per worker), then each worker dies on its 10th request (a
    # slow leak, say): the check through the port makes at least 20
    FACTORY: lambda text: text.replace(
        '    app = Flask("techcorp_api")',
        '    if _fault("crash"):\n'
        '        raise RuntimeError("crashes once it is to take traffic")\n'
        '    app = Flask("techcorp_api")',
    ).replace(
        "    register_request_hooks(app)\n",
        "    register_request_hooks(app)\n"
        '    if _fault("late-crash"):\n'
        '        served = __import__("itertools").count(1)\n'
        "        app.before_request(\n"
        '            lambda: (next(served) >= 10 and __import__("os")._exit(1)) or None\n'
        "        )\n",
    )
    + FAULT_SWITCH,
}
# Release name -> ({path: change(text)}, commit date) committed on top of HEAD; A is HEAD.
VARIANTS: dict[str, tuple[dict[str, Callable[[str], str]], str] | None] = {
    "A": None,
    # a later commit that changes the release's content
    "B": ({"app/README.md": lambda text: "release B\n"}, "2030-01-01T00:00:00+00:00"),
    # builds and imports fine; crashes once deployed (deploys set RELEASE_ID)
    "CRASH": (
        {
            FACTORY: lambda text: text.replace(
                '    app = Flask("techcorp_api")',
                '    if __import__("os").environ.get("RELEASE_ID"):\n'
                '        raise RuntimeError("broken release")\n'
                '    app = Flask("techcorp_api")',
            )
        },
        "2030-01-02T00:00:00+00:00",
    ),
    # starts, but never reports ready
    "NOTREADY": (
        {
            "app/src/techcorp_api/readiness.py": lambda text: text.replace(
                "if self._state == STARTING:", "if False:"
            )
        },
        "2030-01-03T00:00:00+00:00",
    ),
    # builds, imports and serves as A does until a deployment's TEST_FAULT names a fault
    # (FAULTS); deploy it with Checkout.set_service_env(environment, TEST_FAULT=...)
    "FAULTY": (FAULTS, "2030-02-01T00:00:00+00:00"),
}


class SharedReleases:
    """Releases built once per test run, whichever xdist worker asks first.

    Each release is built in its own clone under ``root`` (keyed by this tree's commit) while
    holding a file lock named after it, so two workers build different releases at the same
    time and never the same one twice. Scenarios get copies: content addressing and
    ``verify()`` (which every deploy runs) make the reuse safe.
    """

    def __init__(self, root: Path) -> None:
        head = run(["git", "rev-parse", "HEAD"], ROOT).stdout.strip()
        self.root = root / f"releases-{head[:12]}"
        self.root.mkdir(parents=True, exist_ok=True)

    def release_dir(self, name: str) -> Path:
        """The built release ``name``; built now, under its lock, if no worker built it yet.
        A finished build is its clone's ``latest`` pointer, which the build gate writes last."""
        with FileLock(self.root / f"{name}.lock"):
            latest = self.root / name / ".pipeline" / "releases" / "latest"
            if not latest.is_file():
                self._build(name)
            return latest.parent / latest.read_text().strip()

    def _build(self, name: str) -> None:
        checkout = clone(self.root / name)
        pyproject = checkout.path / "pyproject.toml"
        pyproject.write_text(no_container_engine(pyproject.read_text()))
        try:
            variant = VARIANTS[name]
            if variant:
                changes, date = variant
                checkout.commit_files(
                    {
                        path: change((checkout.path / path).read_text())
                        for path, change in changes.items()
                    },
                    date,
                )
            checkout.build()
        except BaseException:
            shutil.rmtree(checkout.path, ignore_errors=True)  # no half-built "latest" to reuse
            raise

    def build_report(self, name: str) -> Any:
        """The build gate's report from building ``name``."""
        self.release_dir(name)
        return Checkout(self.root / name).report("build")

    def copy_into(self, checkout: Checkout, *names: str) -> dict[str, str]:
        """Copies of the named releases in the checkout's own store; {name: release id}."""
        releases = checkout.state / "releases"
        releases.mkdir(parents=True, exist_ok=True)
        for name in names:
            source = self.release_dir(name)
            shutil.copytree(source, releases / source.name)
            checkout.releases[name] = source.name
        (releases / "latest").write_text(checkout.releases[names[-1]] + "\n")
        return checkout.releases


def scenario(directory: Path, shared: SharedReleases, *names: str) -> Checkout:
    """A clone with its own ports and state, holding copies of the named shared releases."""
    checkout = clone(directory)
    configure(checkout)
    shared.copy_into(checkout, *names)
    return checkout
