"""What a release is stays what was verified: a failed or killed build publishes nothing, and an
installed copy edited after install is refused before it is used again.
"""

import json
import signal
import sqlite3
from contextlib import closing

import requests

from gates.ledger import Ledger
from gates.targets import probe
from support.timeouts import HANG

# Makes the service wheel carry a foreign top-level file: the "wheel contents" check fails
# late in the build, after everything else passed.
FOREIGN_FILE = '\n[tool.hatch.build.targets.wheel.force-include]\n"README.md" = "README.md"\n'


def store_entries(repo):
    return sorted(p.name for p in (repo.state / "releases").iterdir())


def latest(repo):
    return (repo.state / "releases" / "latest").read_text().strip()


def builds(repo):
    path = repo.state / "ledger.sqlite"
    if not path.exists():
        return []
    with closing(sqlite3.connect(path)) as db, db:
        return db.execute("SELECT release_id FROM builds").fetchall()


def serving(repo, environment="staging"):
    return probe.get("/ready", port=repo.port(environment), timeout=HANG).release


def test_a_failed_build_publishes_nothing_and_the_next_deploy_takes_the_old_latest(scenario):
    repo = scenario("A")
    before = store_entries(repo)
    pyproject = repo.path / "app" / "pyproject.toml"
    repo.commit("app/pyproject.toml", pyproject.read_text() + FOREIGN_FILE, "2030-03-01T00:00:00Z")

    done = repo.gates("build", check=False)

    assert done.returncode == 1, done.stdout + done.stderr
    checks = {c["name"]: c for c in repo.report("build")["checks"]}
    assert (
        not checks["wheel contents"]["passed"]
        and "README.md" in checks["wheel contents"]["measured"]
    )
    assert "release" not in checks
    assert "not published" in done.stdout
    assert store_entries(repo) == before
    assert latest(repo) == repo.releases["A"]
    assert builds(repo) == []
    repo.gates("deploy", "--environment", "staging")
    assert serving(repo) == repo.releases["A"]


def test_a_build_killed_midway_leaves_the_store_as_it_was_and_the_rebuild_is_identical(
    scenario, shared_releases
):
    """A build killed midway publishes nothing; the next one is not blocked by it and, being
    of the same commit in another clone, gives release A again, artifact for artifact."""
    repo = scenario("A")
    before = store_entries(repo)
    process = repo.popen("build")
    for line in process.stdout:
        if "installing the release offline" in line:
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    process.stdout.close()
    assert process.returncode == -signal.SIGKILL

    assert store_entries(repo) == before
    assert latest(repo) == repo.releases["A"]
    assert builds(repo) == []

    # The next build is not blocked by the killed one and clears what it left.
    assert repo.build() == repo.releases["A"]
    assert not (repo.state / "building").exists()
    assert store_entries(repo) == before

    # Reproducible: the same commit built in two clones is the same release.
    first = repo.report("build")["details"]["manifest"]
    second = json.loads((shared_releases.release_dir("A") / "manifest.json").read_text())
    assert first["release_id"] == second["release_id"]
    digests = [{a["path"]: a["sha256"] for a in m["artifacts"]} for m in (first, second)]
    assert digests[0] == digests[1]
    assert any(a["kind"] == "service-wheel" for a in first["artifacts"])
    assert len([a for a in first["artifacts"] if a["kind"] == "dependency-wheel"]) == len(
        first["dependencies"]
    )
    assert first["source"]["commit"] == second["source"]["commit"]
    assert "sbom.cdx.json" in digests[0]  # the SBOM is an artifact, the same digest too


def test_an_installed_copy_edited_after_install_is_refused(scenario):
    repo = scenario("A", "B")
    a, b = repo.releases["A"], repo.releases["B"]
    repo.gates("deploy", "--environment", "staging", "--release", a)
    repo.gates("deploy", "--environment", "staging", "--release", b)
    venv = repo.state / "environments" / "staging" / "releases" / a / "venv"
    routes = next(venv.glob("lib/python*/site-packages/techcorp_api/routes.py"))
    routes.write_text(routes.read_text().replace("Hello from TechCorp API", "TAMPERED"))

    done = repo.gates("deploy", "--environment", "staging", "--release", a, check=False)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert "techcorp_api/routes.py differs from techcorp_api-" in line
    assert serving(repo) == b
    data = requests.get(f"http://127.0.0.1:{repo.port('staging')}/api/data", timeout=HANG)
    assert data.json()["message"] == "Hello from TechCorp API"
    row = Ledger(repo.state / "ledger.sqlite").deploys("staging")[-1]
    assert (row["release_id"], row["state"]) == (a, "failed")
