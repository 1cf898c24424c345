"""Swarm environments end to end, on a real engine (DOCKER_HOST), registry and HAProxy edge.

Each test is its own scenario (the ``swarm`` fixture, tests/e2e/conftest.py): clones with
empty state directories whose staging and production are swarm environments named under a
unique prefix, releases from the shared builds with their images built once per run,
traffic only on 127.0.0.1, and every engine object under the prefix removed afterwards.
Without an engine the tests skip saying why; with ``CI`` set they fail instead.
"""

import json
import re
import signal
import time

from gates.targets import probe
from support.swarm import assert_no_failures, load, serving, under_load
from support.swarm import engine_ledger as history


def test_releases_promote_and_roll_back_with_history_kept_in_the_engine(swarm):
    first = swarm.checkout("A", "B")
    a, b = first.releases["A"], first.releases["B"]
    first.gates("deploy", "--environment", "staging", "--release", a)
    assert serving(swarm, "staging") == a
    first.gates("smoke", "--environment", "staging")
    first.gates("perf", "--environment", "staging")
    first.gates("deploy", "--environment", "production")  # promotes what staging runs
    assert serving(swarm, "production") == a

    loads = [under_load(swarm, first, "staging", "deploy", "--environment", "staging",
                        "--release", b)[1]]  # fmt: skip
    assert serving(swarm, "staging") == b
    # Another runner: an empty state directory and no releases; it judges B in staging
    # against A's perf result, kept with the environment.
    second = swarm.checkout()
    second.gates("smoke", "--environment", "staging")
    second.gates("perf", "--environment", "staging")
    regression = second.report("perf-staging")["details"]["regression"]
    assert regression["baseline_release"] == a, regression
    # The promotion policy reads staging's history.
    loads.append(under_load(swarm, first, "production", "deploy", "--environment", "production")[1])
    assert serving(swarm, "production") == b
    # A third runner rolls production back, knowing it only from the engine.
    third = swarm.checkout()
    status = third.gates("status").stdout
    assert (
        re.search(rf"production +http\S+ +{b}", status) and "2/2" in status and "healthy" in status
    ), status
    done, result = under_load(
        swarm, third, "production", "rollback", "--environment", "production", "--reason", "drill"
    )
    loads.append(result)
    assert f"production: {b} -> {a}" in done.stdout
    assert serving(swarm, "production") == a
    for result in loads:
        assert_no_failures(result, minimum_seconds=5)

    book = history(third)
    assert [(r["kind"], r["release_id"], r["state"]) for r in book.deploys("production")] == [
        ("deploy", a, "succeeded"),
        ("deploy", b, "succeeded"),
        ("rollback", a, "succeeded"),
    ]
    assert [(g["gate"], g["exit_code"]) for g in book.gate_results("staging", b)] == [
        ("smoke", 0),
        ("perf", 0),
    ]
    assert [(g["gate"], g["exit_code"]) for g in book.gate_results("production", b)] == [
        ("rollback", 1)
    ]
    dora = third.gates("dora", "--environment", "production", check=False)
    # from a fresh clone: both deploys, and the rolled-back one as a failed change (1 of 2)
    assert dora.returncode == 1 and "(2 in 30 days)" in dora.stdout, dora.stdout
    assert "FAIL change failure rate: 50.0% (1 of 2)" in dora.stdout, dora.stdout
    assert not third.state.joinpath("releases").exists()  # it never had a release


BROKEN = [("CRASH", "non-zero exit"), ("NOTREADY", "never ready: not ready: /ready answered 503")]


def test_broken_releases_never_take_traffic_and_the_deploy_says_why(swarm):
    """One that crashes, then one that never gets ready, each rolled over A by Swarm and
    rolled back by it: A serves every request throughout."""
    repo = swarm.checkout("A", *(broken for broken, _ in BROKEN))
    a = repo.releases["A"]
    repo.gates("deploy", "--environment", "staging", "--release", a)
    for broken, why in BROKEN:
        bad = repo.releases[broken]
        done, result = under_load(
            swarm, repo, "staging", "deploy", "--environment", "staging", "--release", bad,
            check=False,
        )  # fmt: skip
        assert done.returncode == 1, (broken, done.stderr)
        assert "Swarm rolled the update to" in done.stderr and why in done.stderr, done.stderr
        assert f"{a} kept serving" in done.stderr
        assert_no_failures(result, minimum_seconds=5)
        assert {s.status for s in result.samples} == {200}
        assert serving(swarm, "staging") == a
        row = history(repo).deploys("staging")[-1]
        assert (row["release_id"], row["state"]) == (bad, "failed")
        assert why in row["error"]


def test_kill_9_mid_update_converges_on_the_next_run(swarm):
    repo = swarm.checkout("A", "B")
    a, b = repo.releases["A"], repo.releases["B"]
    repo.gates("deploy", "--environment", "staging", "--release", a)
    traffic = load(swarm, "staging")
    try:
        process = repo.popen("deploy", "--environment", "staging", "--release", b)
        for line in process.stdout:
            if "swarm: updating" in line:
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=60)
        process.stdout.close()
        assert process.returncode == -signal.SIGKILL
        assert [r["release_id"] for r in history(repo).in_flight("staging")] == [b]
        # The next command waits for Swarm to finish, verifies, and records what runs.
        status = repo.gates("status", "--environment", "staging").stdout
        assert "completed interrupted deploy" in status
        assert re.search(rf"staging +http\S+ +{b}", status)
        time.sleep(1.0)
    finally:
        result = traffic.stop()
    assert_no_failures(result, minimum_seconds=5)
    assert serving(swarm, "staging") == b
    row = history(repo).deploys("staging")[-1]
    assert (row["release_id"], row["state"], row["error"]) == (
        b,
        "succeeded",
        "completed after an interruption",
    )


def test_two_deploys_to_one_environment_never_interleave(swarm):
    repo = swarm.checkout("A", "B")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    b = repo.releases["B"]
    first = repo.popen("deploy", "--environment", "staging", "--release", b)
    second = repo.popen("deploy", "--environment", "staging", "--release", b)
    outputs = [p.communicate(timeout=300)[0] for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    # One deploys; the other waited and found it live (0), or gave up busy (3).
    assert codes in ([0, 0], [0, 3]), outputs
    assert sum("already live in staging" in out for out in outputs) == (codes == [0, 0])
    assert serving(swarm, "staging") == b
    states = [r["state"] for r in history(repo).deploys("staging")]
    assert states == ["succeeded", "succeeded"]


def test_down_removes_the_environment_and_keeps_its_history(swarm):
    repo = swarm.checkout("A")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    repo.gates("down", "--environment", "staging")
    assert swarm.wait_gone(("service", "container", "network")) == {}
    assert swarm.objects()["config"]  # the history stays with the engine
    assert probe.get("/health", port=swarm.url("staging")).status == 0
    assert "not running" in repo.gates("status", "--environment", "staging").stdout
    book = history(repo)  # kept: a collected ledger closes its connection
    events = book.db.execute("SELECT event FROM events").fetchall()
    assert [e["event"] for e in events] == ["down"]


def one_line(done, code):
    assert done.returncode == code, (done.stdout, done.stderr)
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    return line


def test_unreachable_engine_is_exit_3_in_one_line(swarm):
    repo = swarm.checkout("A")
    pyproject = repo.path / "pyproject.toml"
    pyproject.write_text(
        re.sub(
            r"(?m)^docker_host = .*$",
            'docker_host = "unix:///run/gates-nowhere/docker.sock"',
            pyproject.read_text(),
        )
    )
    release = repo.releases["A"]
    line = one_line(
        repo.gates("deploy", "--environment", "staging", "--release", release, check=False), 3
    )
    assert "the container engine at unix:///run/gates-nowhere/docker.sock is unreachable" in line
    line = one_line(repo.gates("status", check=False), 3)
    assert "is unreachable" in line


def test_an_image_that_is_not_the_manifests_or_not_reachable_is_refused(swarm):
    repo = swarm.checkout("A")
    release = repo.releases["A"]
    manifest = repo.state / "releases" / release / "manifest.json"
    original = json.loads(manifest.read_text())
    image = original["image"]
    other = "sha256:" + "ab" * 32
    manifest.write_text(json.dumps({**original, "image": {**image, "digest": other}}))
    deploy = ("deploy", "--environment", "staging", "--release", release)
    line = one_line(repo.gates(*deploy, check=False), 1)
    assert f"does not carry the manifest's digest {other}: refusing it" in line
    nowhere = "127.0.0.1:9/gates-e2e/techcorp-api@" + image["digest"]
    manifest.write_text(json.dumps({**original, "image": {**image, "reference": nowhere}}))
    line = one_line(repo.gates(*deploy, check=False), 3)
    assert f"cannot pull {nowhere}" in line and "connection refused" in line
    assert swarm.objects()["service"] == []
    rows = history(repo).deploys("staging")
    assert [r["state"] for r in rows] == ["failed"]
    assert rows[0]["error"].startswith(f"cannot pull {nowhere}")
