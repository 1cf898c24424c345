"""``gates engine ssh``: let this machine's docker CLI reach a remote engine over ``ssh://``.

The docker CLI runs the system ``ssh`` for ``DOCKER_HOST=ssh://user@manager``, so the key and
the manager's host key must be in ``~/.ssh`` and no prompt is possible. In GitHub Actions they
come from the environment's secrets and variables: ``ENGINE_SSH_KEY`` (a private key) and
``ENGINE_SSH_KNOWN_HOSTS`` (the manager's ``ssh-keyscan`` lines, checked, never trusted on first
use). A different key already at the path is never overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from gates.outcome import ConfigError

KEY_ENV = "ENGINE_SSH_KEY"
KNOWN_HOSTS_ENV = "ENGINE_SSH_KNOWN_HOSTS"
KEY_NAME = "id_ed25519"


def install(environ: Mapping[str, str], home: Path) -> str:
    """Write the key and the known hosts under ``home/.ssh``; what was done, in one line."""
    key = environ.get(KEY_ENV, "").strip()
    known = environ.get(KNOWN_HOSTS_ENV, "").strip()
    for name, value in ((KEY_ENV, key), (KNOWN_HOSTS_ENV, known)):
        if not value:
            raise ConfigError(
                f"${name} is empty: set it from the environment's secrets (the key) and "
                "variables (`ssh-keyscan <manager>` lines) to reach the engine over ssh://"
            )
    if "PRIVATE KEY-----" not in key:
        raise ConfigError(f"${KEY_ENV} holds no private key (no '-----BEGIN ... PRIVATE KEY-----')")
    directory = home / ".ssh"
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / KEY_NAME
    text = key + "\n"
    if path.exists() and path.read_text() != text:
        raise ConfigError(f"{path} holds another key; remove it or run on a fresh runner")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    hosts = directory / "known_hosts"
    present = hosts.read_text().splitlines() if hosts.exists() else []
    added = [line for line in known.splitlines() if line.strip() and line not in present]
    with open(hosts, "a") as handle:
        handle.writelines(line + "\n" for line in added)
    return f"ssh key installed in {path}; {len(added)} known host line(s) added to {hosts}"
