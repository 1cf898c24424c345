"""Planted secrets, git repositories and detect-secrets baselines for the secret scan's tests.

The planted key is assembled at run time, so no tracked file of this repository holds it.
"""

import json
import subprocess
from pathlib import Path

from gates.security.secret_scan import scanner_command
from support.children import without_coverage

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


def scanned_baseline(root: Path) -> dict[str, object]:
    """What `detect-secrets scan -n` makes of ``root``: its baseline, not reviewed yet."""
    # the gate's own way to run detect-secrets: one process, no pool that can hang on exit
    done = subprocess.run(
        [*scanner_command(), "scan", "-n"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
        env=without_coverage(),  # detect-secrets runs none of this repository's code
    )
    baseline: dict[str, object] = json.loads(done.stdout)
    return baseline


def write_baseline(
    root: Path, baseline: dict[str, object], is_secret: bool | None = False
) -> dict[str, object]:
    """Write ``baseline`` (detect-secrets' for this tree) with the review `detect-secrets
    audit` would record: every hit ``is_secret`` (None: not reviewed). Returns what it wrote."""
    results = baseline["results"]
    assert isinstance(results, dict)
    reviewed = {
        filename: [
            {**secret, "is_secret": is_secret} if is_secret is not None else dict(secret)
            for secret in secrets
        ]
        for filename, secrets in results.items()
    }
    written = {**baseline, "results": reviewed}
    (root / BASELINE).write_text(json.dumps(written, indent=2) + "\n")
    return written


def make_baseline(root: Path, is_secret: bool | None = False) -> dict[str, object]:
    """Scan ``root`` with detect-secrets into its baseline, as a user would, then record the
    review `detect-secrets audit` would: every hit ``is_secret`` (None: not reviewed)."""
    return write_baseline(root, scanned_baseline(root), is_secret)


def without_results(baseline: dict[str, object]) -> dict[str, object]:
    """A baseline with detect-secrets' settings and no reviewed hits."""
    return {**baseline, "results": {}}


def empty_baseline(root: Path) -> None:
    """A baseline with detect-secrets' settings and no reviewed hits."""
    write_baseline(root, without_results(scanned_baseline(root)))
