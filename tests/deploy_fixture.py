"""A clone of this repository with four releases built from it, for deploy tests.

A: HEAD. B: a later commit (a README change). CRASH: the app factory raises at start-up.
NOTREADY: /ready never turns 200. Environments get free loopback ports.
"""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 600
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def run(argv, cwd, env=None, check=True, timeout=TIMEOUT):
    done = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **GIT_ENV, **(env or {})},
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


class Checkout:
    """This tree's gates, run against a clone with its own state directory."""

    def __init__(self, path):
        self.path = path
        self.state = path / ".pipeline"

    def gates_argv(self, *args):
        return [sys.executable, "-m", "gates", "--config", str(self.path / "pyproject.toml"), *args]

    def gates(self, *args, check=True, timeout=TIMEOUT):
        env = {"PIPELINE_STATE_DIR": str(self.state)}
        return run(self.gates_argv(*args), ROOT, env, check, timeout)

    def popen(self, *args):
        return subprocess.Popen(
            self.gates_argv(*args),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PIPELINE_STATE_DIR": str(self.state)},
        )

    def report(self, stage):
        return json.loads((self.state / "reports" / f"{stage}.json").read_text())

    def commit(self, path, text, date):
        (self.path / path).write_text(text)
        run(
            ["git", "commit", "--quiet", "-am", f"change {path}"],
            self.path,
            env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
        )

    def build(self):
        self.gates("build")
        return self.report("build")["details"]["release_id"]

    def port(self, environment):
        return self.ports[environment]

    def masters(self, environment):
        run_dir = self.state / "environments" / environment / "run"
        found = []
        for record in run_dir.glob("master-*.json"):
            data = json.loads(record.read_text())
            if Path(f"/proc/{data['pid']}").exists():
                found.append(data)
        return found

    def kill_leftovers(self):
        """Last resort after `gates down`: end masters this checkout started, by pid."""
        for environment in ("staging", "production"):
            for data in self.masters(environment):
                stat = Path(f"/proc/{data['pid']}/stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[19]) == data["start_ticks"] and stat[0] != "Z":
                    os.killpg(data["pid"], signal.SIGKILL)


def configure(checkout):
    """Free ports for both environments, short timeouts for the tests."""
    pyproject = checkout.path / "pyproject.toml"
    text = pyproject.read_text()
    checkout.ports = {"staging": free_port(), "production": free_port()}
    for name, port in checkout.ports.items():
        text = re.sub(
            rf"(\[tool\.pipeline\.environments\.{name}\]\nport = )\d+", rf"\g<1>{port}", text
        )
    text = text.replace("lock_timeout = 120", "lock_timeout = 5")
    text = text.replace("duration = 10", "duration = 3")  # perf runs in the tests
    text = text.replace("preflight_timeout = 30", "preflight_timeout = 10")
    pyproject.write_text(text)


def clone_and_build_a(directory):
    run(["git", "clone", "--quiet", str(ROOT), str(directory)], ROOT)
    checkout = Checkout(directory)
    checkout.releases = {"A": checkout.build()}
    return checkout


def variant(checkout, name, path, change, date):
    """Commit ``change(text)`` to ``path``, build it as release ``name``, then revert."""
    target = checkout.path / path
    original = target.read_text()
    checkout.commit(path, change(original), date)
    checkout.releases[name] = checkout.build()
    checkout.commit(path, original, date.replace("00:00:00", "00:00:01"))


FACTORY = "app/src/techcorp_api/factory.py"


def make_checkout(directory):
    """Releases A, B (a later commit), CRASH (fails once deployed), NOTREADY."""
    checkout = clone_and_build_a(directory)
    checkout.commit("app/README.md", "release B\n", "2030-01-01T00:00:00+00:00")
    checkout.releases["B"] = checkout.build()
    # Builds and imports fine; crashes once deployed (deploys set RELEASE_ID).
    variant(
        checkout,
        "CRASH",
        FACTORY,
        lambda text: text.replace(
            '    app = Flask("techcorp_api")',
            '    if __import__("os").environ.get("RELEASE_ID"):\n'
            '        raise RuntimeError("broken release")\n'
            '    app = Flask("techcorp_api")',
        ),
        "2030-01-02T00:00:00+00:00",
    )
    # Starts, but never reports ready.
    variant(
        checkout,
        "NOTREADY",
        "app/src/techcorp_api/readiness.py",
        lambda text: text.replace("if self._state == STARTING:", "if False:"),
        "2030-01-03T00:00:00+00:00",
    )
    configure(checkout)
    return checkout
