"""Where one local environment keeps its files, and its ``current`` pointer.

<state>/environments/<name>/
    lock                  held (flock) by the one command changing this environment
    releases/<id>/venv    each release installed once, offline, hashes checked
    deployments/<key>/    a release plus its service config: gunicorn.conf.py, deployment.json,
                          venv -> ../../releases/<id>/venv
    current -> deployments/<key>   what the live master runs (switched atomically)
    run/master-<pid>.json one per running gunicorn master, written by the master itself
    logs/<key>.log        each deployment's gunicorn and access logs
"""

import os
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

    def switch_current(self, key: str) -> None:
        """Point ``current`` at a deployment atomically (rename of a new symlink)."""
        temporary = self.root / "current.new"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(Path("deployments") / key)
        os.replace(temporary, self.current)
