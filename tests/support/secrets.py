"""Planted secrets, git repositories and detect-secrets baselines for the secret scan's tests.

The planted key is assembled at run time, so no tracked file of this repository holds it.
"""

import json
import subprocess
from pathlib import Path

from gates.security.secret_scan import scanner_command

BASELINE = ".secrets.baseline"
TIMEOUT = 120


def aws_key(suffix: str = "EXAMPLE") -> str:
    """An AWS-style access key id: AKIA and 16 upper-case letters or digits."""
    return "AKIA" + "IOSFODNN7" + suffix


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    return done.stdout


def commit_all(root: Path, message: str = "test tree") -> None:
    """Track every file under ``root`` in its git repository, made here when there is none."""
    if not (root / ".git").exists():
        git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)


def make_baseline(root: Path, is_secret: bool | None = False) -> dict[str, object]:
    """Scan ``root`` with detect-secrets into its baseline, as a user would, then record the
    review `detect-secrets audit` would: every hit ``is_secret`` (None: not reviewed)."""
    # the gate's own way to run detect-secrets: one process, no pool that can hang on exit
    done = subprocess.run(
        [*scanner_command(), "scan", "-n"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    baseline: dict[str, object] = json.loads(done.stdout)
    results = baseline["results"]
    assert isinstance(results, dict)
    for secrets in results.values():
        for secret in secrets:
            if is_secret is not None:
                secret["is_secret"] = is_secret
    (root / BASELINE).write_text(json.dumps(baseline, indent=2) + "\n")
    return baseline


def empty_baseline(root: Path) -> None:
    """A baseline with detect-secrets' settings and no reviewed hits."""
    baseline = make_baseline(root)
    (root / BASELINE).write_text(json.dumps({**baseline, "results": {}}, indent=2) + "\n")
