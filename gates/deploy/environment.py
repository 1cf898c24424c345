"""One local environment on disk: its releases, deployments, running masters and lock.

<state>/environments/<name>/
    lock                  held (flock) by the one command changing this environment
    releases/<id>/venv    each release installed once, offline, hashes checked
    deployments/<key>/    a release plus its deployment config: gunicorn.conf.py, venv
    current -> deployments/<key>   what the live master runs (switched atomically)
    run/master-<pid>.json one per running gunicorn master, written by the master itself
    logs/<key>.log        each deployment's gunicorn and access logs
"""

import fcntl
import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

from gates.deploy import gunicorn_config, masters, probe
from gates.deploy.masters import LIVE, PREFLIGHT
from gates.outcome import COULD_NOT_MEASURE, GateError

__all__ = ["LIVE", "PREFLIGHT", "Busy", "Environment", "deployment_key"]


class Busy(GateError):
    """Another command holds the environment."""

    exit_code = COULD_NOT_MEASURE


def deployment_key(release_id, service_env, workers):
    """A release plus its deployment config: same key means nothing would change."""
    config = json.dumps({"env": service_env, "workers": workers}, sort_keys=True)
    return f"{release_id}-{hashlib.sha256(config.encode()).hexdigest()[:8]}"


class Environment:
    def __init__(self, config, name):
        self.config = config.environment(name)
        self.name = name
        self.root = config.state_dir / "environments" / name
        self.run_dir = self.root / "run"
        self.current = self.root / "current"
        for directory in (self.run_dir, self.root / "logs", self.root / "deployments"):
            directory.mkdir(parents=True, exist_ok=True)
        self._lock_handle = None

    # locking ------------------------------------------------------------------------
    def lock(self, timeout):
        """Hold the environment's lock, waiting up to ``timeout`` s; Busy (exit 3) after.

        flock is released by the kernel when the holder dies, kill -9 included.
        """
        deadline = time.monotonic() + timeout
        announced = False
        while not self.try_lock():
            if time.monotonic() >= deadline:
                raise Busy(
                    f"environment {self.name} is busy: another deploy, rollback or down "
                    f"held it for {timeout} s; try again when it finishes"
                )
            if not announced:
                print(f"gates: waiting up to {timeout} s for another command on {self.name}")
                announced = True
            time.sleep(0.2)
        return self

    def try_lock(self):
        """Take the lock if it is free (True), without waiting."""
        handle = open(self.root / "lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock_handle = handle
        return True

    def unlock(self):
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.unlock()
        return False

    # masters ------------------------------------------------------------------------
    def masters(self, role=None):
        """Running masters registered in run/; records of dead ones are removed."""
        return masters.running(self.run_dir, role)

    def current_deployment(self):
        return os.readlink(self.current).rsplit("/", 1)[-1] if self.current.is_symlink() else None

    def switch_current(self, key):
        """Point ``current`` at a deployment atomically (rename of a new symlink)."""
        temporary = self.root / "current.new"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(Path("deployments") / key)
        os.replace(temporary, self.current)

    # deployments --------------------------------------------------------------------
    def venv_for(self, release_id):
        return self.root / "releases" / release_id / "venv"

    def deployment_dir(self, key):
        return self.root / "deployments" / key

    def log_path(self, key):
        return self.root / "logs" / f"{key}.log"

    def write_deployment(self, key, release_id, service_env, workers):
        directory = self.deployment_dir(key)
        directory.mkdir(parents=True, exist_ok=True)
        venv_link = directory / "venv"
        if not venv_link.is_symlink():
            venv_link.symlink_to(Path("..") / ".." / "releases" / release_id / "venv")
        deployment = {
            "environment": self.name,
            "release_id": release_id,
            "key": key,
            "port": self.config.port,
            "workers": workers,
            "env": {**service_env, "RELEASE_ID": release_id},
            "run_dir": str(self.run_dir.resolve()),
            "log": str(self.log_path(key).resolve()),
        }
        (directory / "gunicorn.conf.py").write_text(gunicorn_config.render(deployment))
        (directory / "deployment.json").write_text(json.dumps(deployment, indent=2) + "\n")
        return directory

    def recorded_deployment(self, key):
        """A deployment's (service environment, workers) as written at deploy time, without
        the RELEASE_ID the pipeline adds; None when the deployment directory is gone."""
        path = self.deployment_dir(key) / "deployment.json"
        if not path.is_file():
            return None
        deployment = json.loads(path.read_text())
        service_env = {k: v for k, v in deployment["env"].items() if k != "RELEASE_ID"}
        return service_env, deployment["workers"]

    def command(self, base):
        """argv running a deployment's gunicorn through ``base`` (a deployment dir or current).

        The interpreter is named through ``base`` so that a USR2 re-exec, which reuses this
        argv, starts the release that ``current`` points at by then.
        """
        venv_bin = base / "venv" / "bin"
        return [
            str(venv_bin / "python"),
            str(venv_bin / "techcorp-api"),
            "--config",
            str(base / "gunicorn.conf.py"),
        ]

    def spawn(self, base, extra_args=(), role=LIVE):
        environ = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PROMETHEUS_MULTIPROC_DIR", "GUNICORN_PID", "GUNICORN_FD")
        }
        environ["TECHCORP_ROLE"] = role
        return subprocess.Popen(
            [*self.command(base), *extra_args],
            cwd=self.root,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_for_master(self, process, role, deployment, timeout):
        """The master a spawn (or a USR2) produced, once it has registered itself."""
        return masters.wait_for(self.run_dir, process, role, deployment, timeout)

    def log_tail(self, key, lines=40):
        path = self.log_path(key)
        if not path.is_file():
            return "(no log written)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def probe_port(self, path="/ready"):
        return probe.get(path, port=self.config.port)

    def stop_master(self, master, timeout=30):
        """Graceful stop: TERM lets the workers finish their requests; KILL after ``timeout``."""
        return master.stop(timeout)
