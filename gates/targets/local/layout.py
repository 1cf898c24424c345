"""Where one local environment keeps its files, and its ``current`` pointer.

<state>/environments/<name>/
    lock                  held (flock) by the one command changing this environment
    releases/<id>/venv    each release installed once, offline, hashes checked
    deployments/<key>/    a release plus its service config: gunicorn.conf.py, deployment.json,
                          venv -> ../../releases/<id>/venv
    current -> deployments/<key>   what the live master runs (switched atomically)
    run/master-<pid>.json one per running gunicorn master, written by the master itself
    run/metrics-<pid>/    each master's metrics files
    logs/<key>.log        each deployment's gunicorn and access logs

and, because a unix socket's path must be short (about 100 bytes), the pre-flight's socket
in ``<tmp>/gates-preflight-<digest of the environment's path>/``: one fixed directory per
environment, emptied before each pre-flight and removed after it and by converge, so a
killed deploy leaves nothing behind for long.
"""

import hashlib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    root: Path  # <state>/environments/<name>

    @classmethod
    def create(cls, state_dir: Path, name: str) -> "Layout":
        """The environment's layout, its directories made if missing."""
        layout = cls(state_dir / "environments" / name)
        for directory in (layout.run_dir, layout.root / "logs", layout.root / "deployments"):
            directory.mkdir(parents=True, exist_ok=True)
        return layout

    @property
    def lock_file(self) -> Path:
        return self.root / "lock"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def current(self) -> Path:
        return self.root / "current"

    @property
    def preflight_dir(self) -> Path:
        digest = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"gates-preflight-{digest}"

    def fresh_preflight_dir(self) -> Path:
        """The pre-flight's directory, new and empty, entered only by this user.

        FileExistsError if something else took its name meanwhile (never followed)."""
        self.remove_preflight_dir()
        self.preflight_dir.mkdir(mode=0o700)
        return self.preflight_dir

    def remove_preflight_dir(self) -> None:
        """Remove the pre-flight's directory if it is one of ours (not a link, our user's)."""
        try:
            found = self.preflight_dir.lstat()
        except FileNotFoundError:
            return
        if stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid():
            shutil.rmtree(self.preflight_dir, ignore_errors=True)

    def remove_master_files(self, pid: int) -> None:
        """What a master that was killed (no exit hook ran) leaves: its record and metrics."""
        (self.run_dir / f"master-{pid}.json").unlink(missing_ok=True)
        shutil.rmtree(self.run_dir / f"metrics-{pid}", ignore_errors=True)

    def venv_for(self, release_id: str) -> Path:
        return self.root / "releases" / release_id / "venv"

    def deployment_dir(self, key: str) -> Path:
        return self.root / "deployments" / key

    def log_path(self, key: str) -> Path:
        return self.root / "logs" / f"{key}.log"

    def log_tail(self, key: str, lines: int = 40) -> str:
        path = self.log_path(key)
        if not path.is_file():
            return "(no log written)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def current_deployment(self) -> str | None:
        """The deployment ``current`` points at, or None."""
        if not self.current.is_symlink():
            return None
        return os.readlink(self.current).rsplit("/", 1)[-1]

    def clear_current(self) -> None:
        """Nothing verified runs: ``current`` names nothing."""
        self.current.unlink(missing_ok=True)

    def switch_current(self, key: str) -> None:
        """Point ``current`` at a deployment atomically (rename of a new symlink)."""
        temporary = self.root / "current.new"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(Path("deployments") / key)
        os.replace(temporary, self.current)
