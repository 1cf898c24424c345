"""The ledger's queries and transactions, process identity checks, and converge's decisions."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass, replace

import psutil
import pytest

from gates import processes
from gates.targets.local import masters
from gates.targets.local.converge import converge
from gates import ledger as ledger_module
from gates.ledger import SCHEMA, Ledger
from gates.outcome import ConfigError, MeasurementError


@pytest.fixture
def ledger(tmp_path):
    book = Ledger(tmp_path / "ledger.sqlite")
    yield book
    book.close()


def deploy(ledger, env, release, state="succeeded", kind="deploy", previous=None, key=None):
    config = {"env": {}, "workers": 1, "key": key or f"{release}-k"}
    row = ledger.start_deploy(env, release, kind, config, previous)
    if state != "started":
        ledger.set_state(row, state, "boom" if state == "failed" else None)
    return row


def test_last_good_skips_failed_deploys_and_deployments_that_failed_a_gate(ledger):
    deploy(ledger, "prod", "A")
    deploy(ledger, "prod", "B")
    deploy(ledger, "prod", "C", state="failed")
    deploy(ledger, "prod", "D")
    deploy(ledger, "prod", "D", key="D-badconfig")
    ledger.record_gate("prod", "B", "smoke", "failed", 1, deployment="B-k")
    ledger.record_gate("prod", "D", "slo", "failed", 1, deployment="D-badconfig")
    # The same release with its earlier, good config is a rollback target.
    assert ledger.last_good("prod", exclude_deployment="D-badconfig")["release_id"] == "D"
    assert ledger.last_good("prod", exclude_deployment="D-k")["release_id"] == "A"
    assert ledger.last_good("staging", exclude_deployment="") is None


def test_in_flight_and_promotion_queries(ledger):
    started = deploy(ledger, "staging", "A", state="started")
    assert [r["id"] for r in ledger.in_flight("staging")] == [started]
    ledger.set_state(started, "succeeded")
    assert ledger.in_flight("staging") == []
    assert ledger.succeeded_in("staging", "A")["finished_at"]
    assert ledger.succeeded_in("staging", "B") is None
    assert ledger.last_succeeded("staging")["release_id"] == "A"


def test_a_failed_transaction_leaves_nothing_behind(ledger):
    with pytest.raises(RuntimeError):
        with ledger.transaction() as db:
            db.execute(
                "INSERT INTO events (environment, event, recorded_at) VALUES ('x', 'y', 'z')"
            )
            raise RuntimeError("crash mid-transaction")
    assert ledger.db.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_builds_are_recorded_once(ledger):
    manifest = {
        "release_id": "r1",
        "service": {"name": "techcorp-api", "version": "1.0.0"},
        "source": {"commit": "abc", "commit_time": "2026-01-01T00:00:00+00:00"},
        "build": {"time": "2026-01-01T00:01:00+00:00"},
    }
    ledger.record_build(manifest)
    ledger.record_build(manifest)
    assert ledger.build("r1")["commit_sha"] == "abc"
    assert ledger.db.execute("SELECT count(*) FROM builds").fetchone()[0] == 1


def test_a_ledger_from_before_the_checks_opens_with_its_history(tmp_path):
    # Created the old way: SQLite's own empty file, then the schema, no private file.
    path = tmp_path / "ledger.sqlite"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        db.execute("INSERT INTO events (environment, event, recorded_at) VALUES ('s', 'down', 'x')")
    book = Ledger(path)
    assert [r["event"] for r in book.db.execute("SELECT event FROM events")] == ["down"]
    book.close()


def test_commands_creating_the_ledger_at_once_share_one_whole_ledger(tmp_path):
    path = tmp_path / "state" / "ledger.sqlite"
    start = threading.Barrier(8)
    failed = []

    def create(n):
        start.wait()
        try:
            book = Ledger(path)
            book.record_event("staging", f"opened {n}")
            book.close()
        except Exception as exc:  # collected: the assertion below names it
            failed.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failed == []
    book = Ledger(path)
    events = sorted(r["event"] for r in book.db.execute("SELECT event FROM events"))
    book.close()
    assert events == sorted(f"opened {n}" for n in range(8))
    assert sorted(p.name for p in path.parent.iterdir()) == ["ledger.sqlite"]


@pytest.fixture
def sleeper(tmp_path):
    """A process started in tmp_path, as a master is started in its environment's directory."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path)
    yield process
    process.kill()
    process.wait(10)


def test_identity_is_pid_and_start_time(sleeper):
    identity = processes.identify(sleeper.pid)
    assert processes.is_running(identity)
    assert sleeper.pid in processes.children(processes.identify(os.getpid()))
    # A recorded start time that differs means another process now has this pid.
    other = replace(identity, create_time=identity.create_time + 1)
    assert not processes.is_running(other)
    assert not processes.send(other, signal.SIGTERM)
    assert sleeper.poll() is None
    assert processes.stop(identity, timeout=10)
    assert processes.identify(sleeper.pid) is None


def test_stop_escalates_to_kill(tmp_path):
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\n"
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert stubborn.stdout.readline().strip() == "ready"
    try:
        identity = processes.identify(stubborn.pid)
        assert processes.stop(identity, timeout=0.5)  # TERM ignored: KILL
        assert not processes.is_running(identity)
    finally:
        stubborn.stdout.close()
        stubborn.wait(10)


def test_unknown_pid_is_not_running():
    assert processes.identify(2**22 + 12345) is None
    assert processes.registered(2**22 + 12345, time.time()) is None


def test_a_registered_process_is_recognised_only_if_it_started_before_its_record(sleeper):
    # What a gunicorn master writes: its pid and when it wrote the record (no psutil there).
    started = processes.identify(sleeper.pid)
    assert processes.registered(sleeper.pid, time.time()) == started
    # A record written before this process started was another process's: the pid was reused.
    slack = processes.RECORD_SLACK
    assert processes.registered(sleeper.pid, started.create_time - slack - 1) is None
    # A missing or malformed stamp never skips the check.
    for pid, stamp in [(sleeper.pid, None), (sleeper.pid, "now"), (None, time.time())]:
        assert processes.registered(pid, stamp) is None
    assert processes.from_start_ticks(sleeper.pid, None) is None
    # Nor does a stamp no master could have written, or a pid no process has.
    for stamp in (float("nan"), float("inf"), time.time() + 3600, 10**30):
        assert processes.registered(sleeper.pid, stamp) is None
    for pid in (0, -1, True):
        assert processes.registered(pid, time.time()) is None
        assert processes.from_start_ticks(pid, 1) is None
    assert processes.from_start_ticks(sleeper.pid, -1) is None


def test_a_process_works_in_the_directory_it_was_started_in(tmp_path, sleeper):
    identity = processes.identify(sleeper.pid)
    assert processes.works_in(identity, tmp_path)
    assert not processes.works_in(identity, tmp_path / "elsewhere")
    assert not processes.works_in(replace(identity, create_time=identity.create_time + 1), tmp_path)


def test_records_from_before_psutil_are_matched_by_their_start_ticks(sleeper):
    started = processes.identify(sleeper.pid)
    since_boot = started.create_time - psutil.boot_time()
    ticks = round(since_boot * os.sysconf("SC_CLK_TCK"))
    assert processes.from_start_ticks(sleeper.pid, ticks) == started
    assert processes.from_start_ticks(sleeper.pid, ticks + 1) is None


def test_masters_are_found_from_their_records_and_stale_records_removed(tmp_path, sleeper):
    run_dir = tmp_path / "run"  # the sleeper runs in tmp_path, the environment's directory
    run_dir.mkdir()

    def record(name, **fields):
        data = {"role": "live", "release_id": "A", "deployment": "A-1", **fields}
        (run_dir / f"master-{name}.json").write_text(json.dumps(data))

    started = processes.identify(sleeper.pid)
    record("1", pid=sleeper.pid, recorded_at=time.time())
    record("2", pid=sleeper.pid, recorded_at=started.create_time - 60)  # pid reused since
    record("3", pid=sleeper.pid)  # no stamp: not ours
    record("4", pid=sleeper.pid, recorded_at=None)
    (run_dir / "master-5.json").write_text("{not json")
    found = masters.running(run_dir)
    assert [(m.identity, m.deployment) for m in found] == [(started, "A-1")]
    assert masters.running(run_dir, role="preflight") == []
    assert sorted(p.name for p in run_dir.iterdir()) == ["master-1.json"]


@dataclass(frozen=True)
class FakeMaster:
    pid: int
    release_id: str
    deployment: str
    role: str = "live"


class FakeEnvironment:
    """Stands in for an environment's processes; records what converge does to them."""

    name = "staging"

    def __init__(self, masters, current):
        self.live, self.current, self.stopped = list(masters), current, []
        self.restored = []

    def masters(self, role=None):
        return [m for m in self.live if role in (None, m.role)]

    def stop_master(self, master, timeout=30):
        self.stopped.append(master.pid)
        self.live.remove(master)
        return True

    def restore_workers(self, master, timeout=60):
        self.restored.append(master.pid)
        return True

    def switch_current(self, key):
        self.current = key

    def clear_current(self):
        self.current = None

    def current_deployment(self):
        return self.current

    def remove_preflight_dir(self):
        pass


OLD = FakeMaster(10, "A", "A-1")
NEW = FakeMaster(11, "B", "B-1")


def test_deploy_killed_before_verification_is_undone(ledger):
    row = deploy(ledger, "staging", "B", state="switching", previous="A", key="B-1")
    env = FakeEnvironment([OLD, NEW, FakeMaster(12, "B", "B-1", role="preflight")], "B-1")
    kept = converge(env, ledger, say=lambda _: None)
    assert kept == OLD and env.current == "A-1" and sorted(env.stopped) == [11, 12]
    assert ledger.deploys("staging")[-1]["state"] == "failed"
    assert ledger.deploys("staging")[-1]["id"] == row


def test_deploy_killed_after_verification_is_completed(ledger):
    deploy(ledger, "staging", "B", state="verified", previous="A", key="B-1")
    env = FakeEnvironment([OLD, NEW], "B-1")
    assert converge(env, ledger, say=lambda _: None) == NEW
    assert env.stopped == [10] and env.current == "B-1"
    assert ledger.deploys("staging")[-1]["state"] == "succeeded"


def test_stray_second_master_is_stopped_keeping_current(ledger):
    env = FakeEnvironment([OLD, NEW], "A-1")
    assert converge(env, ledger, say=lambda _: None) == OLD
    assert env.stopped == [11]


def test_a_pointer_that_drifted_is_pointed_back(ledger):
    env = FakeEnvironment([OLD], "B-1")
    assert converge(env, ledger, say=lambda _: None) == OLD
    assert env.current == "A-1"


def test_a_ledger_that_cannot_be_read_for_now_is_not_called_damaged(tmp_path, monkeypatch):
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    with closing(sqlite3.connect(path, isolation_level=None)) as holder:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        monkeypatch.setattr(ledger_module, "BUSY_TIMEOUT", 0.1)
        with pytest.raises(MeasurementError, match="could not be read .*locked") as refused:
            Ledger(path)
        assert not isinstance(refused.value, ConfigError)  # exit 3, not "replace it"
        holder.execute("ROLLBACK")


# Several masters at once: their order, and config-only deploys killed mid-handover --------


def test_masters_are_listed_in_start_order_not_record_name_order(tmp_path):
    """pid "10351" sorts before "9976" as text; the older master must come first."""
    # Masters run in their environment's directory; the records are in its run/ directory.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    older = subprocess.Popen(sleep, cwd=tmp_path)
    time.sleep(0.1)
    newer = subprocess.Popen(sleep, cwd=tmp_path)
    try:
        for name, process, key in (("9976", older, "A-old"), ("10351", newer, "A-new")):
            record = {"pid": process.pid, "recorded_at": time.time(), "role": "live"}
            record.update(release_id="A", deployment=key)
            (run_dir / f"master-{name}.json").write_text(json.dumps(record))
        assert [m.deployment for m in masters.running(run_dir)] == ["A-old", "A-new"]
    finally:
        for process in (older, newer):
            process.kill()
            process.wait(10)


# A config-only deploy: the same release, a new deployment key. The records list the new
# master first, as sorting "master-10351.json" before "master-9976.json" did.
OLD_CONFIG = FakeMaster(9976, "A", "A-1")
NEW_CONFIG = FakeMaster(10351, "A", "A-2")


def test_config_only_deploy_killed_while_switching_is_undone_by_deployment_key(ledger):
    deploy(ledger, "staging", "A", state="switching", previous="A", key="A-2")
    env = FakeEnvironment([NEW_CONFIG, OLD_CONFIG], "A-2")
    assert converge(env, ledger, say=lambda _: None) == OLD_CONFIG
    assert env.stopped == [10351] and env.current == "A-1"
    assert ledger.deploys("staging")[-1]["state"] == "failed"


def test_config_only_deploy_killed_after_verification_is_completed_by_deployment_key(ledger):
    deploy(ledger, "staging", "A", state="verified", previous="A", key="A-2")
    env = FakeEnvironment([NEW_CONFIG, OLD_CONFIG], "A-2")
    assert converge(env, ledger, say=lambda _: None) == NEW_CONFIG
    assert env.stopped == [9976] and env.current == "A-2"
    assert ledger.deploys("staging")[-1]["state"] == "succeeded"


TREE = """\
import json, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
children = [subprocess.Popen(json.loads(argv)) for argv in sys.argv[1:]]
print(" ".join(str(c.pid) for c in children), flush=True)
time.sleep(60)
"""
SLEEP = json.dumps([sys.executable, "-c", "import time; time.sleep(60)"])


def test_stop_kills_the_whole_tree_of_a_master_that_leads_no_process_group():
    """After a USR2 handover the new master is the old one's child, in the old one's group:
    stopping it must still end its workers (they were left orphaned before)."""
    # old master (session leader) -> new master (same group) -> two workers
    new_master = json.dumps([sys.executable, "-c", TREE, SLEEP, SLEEP])
    old = subprocess.Popen(
        [sys.executable, "-c", TREE, new_master],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    started = [psutil.Process(old.pid)]
    try:
        printed = {int(pid) for _ in range(2) for pid in old.stdout.readline().split()}
        (new_pid,) = [c.pid for c in psutil.Process(old.pid).children()]
        workers = [p.pid for p in psutil.Process(new_pid).children()]
        assert printed == {new_pid, *workers} and len(workers) == 2
        started += [psutil.Process(pid) for pid in printed]
        old_identity, new_identity = processes.identify(old.pid), processes.identify(new_pid)
        assert os.getpgid(new_pid) != new_pid  # it leads no group: killpg cannot reach it

        # Stopping the old master spares the new one's tree (it is about to serve).
        assert processes.stop(old_identity, timeout=0.5, spare={new_pid})
        assert processes.is_running(new_identity)
        assert all(processes.identify(w) is not None for w in workers)

        assert processes.stop(new_identity, timeout=0.5)
        alive = [w for w in workers if processes.identify(w) is not None]
        assert alive == [], "workers left orphaned"
    finally:
        for process in started:
            if process.is_running():  # psutil's pid-reuse check
                process.kill()
        old.stdout.close()
        old.wait(10)
