"""The ledger of a configuration with swarm environments, whose history lives in the engine.

gates.ledger's queries run unchanged over an in-memory SQLite copy, filled when the ledger is
opened: every swarm environment's rows from its records in the engine
(gates.targets.swarm.history), everything else (local environments, builds) from the file
ledger. A write goes where its environment's history lives, then into the copy: a swarm
environment's to the engine (a write the engine refuses fails the command, exit 3, and never
shows in the copy), a local one's to the file. So a fresh clone with an empty ``.pipeline/``
(a new CI runner) sees every deploy, gate result and rollback of the swarm environments: the
promotion policy, rollbacks, the perf baseline, DORA and status all read them.

A record holds one row as written: its table, a uid and its columns; a later record with
the same uid (a deploy's next state) replaces the row. A ``release`` record holds the
manifest of a release deployed there, so a rollback from a fresh clone knows its image and
DORA its commit time; records of other kinds are measurements kept with the environment
(a ``perf`` run: the next one's baseline). The copy's row ids are its own, valid in this
process only.

No record is believed only because it is in the engine (gates.targets.swarm.history checks
where each belongs; docs/deploy.md, "The history's integrity"). Here:

- a record whose content gates cannot use (a release without ``release_id``, a row record
  without ``uid`` or ``row``, a row the table refuses) is MalformedRecord: exit 3, naming it;
- the first release record of a release id stands (the earliest the engine stored, in any
  environment's history): a later one naming another image digest is refused, and a deploy
  of that release with another digest is refused (ImageRefused, exit 1) before it starts;
- a row record naming another environment, or a later record of a row changing more than
  how the deploy went on (``state``, ``error``, ``finished_at``), is refused;
- each refusal and each gap is a warning line on stderr (``refused``, ``gaps``); a deploy
  whose last record comes before a gap and says it is still in flight may have lost its
  outcome in the gap: whatever the next command records for it says so.
"""

import sqlite3
import sys
import uuid
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gates.config import PipelineConfig
from gates.ledger import IN_FLIGHT, SCHEMA, DeployState, Ledger
from gates.outcome import GateError
from gates.docker import Docker
from gates.release.image import ImageRefused
from gates.targets.swarm.environment import stack_name
from gates.targets.swarm.history import History, MalformedRecord, Reading, Record, seq_spans

TABLES = ("deploys", "gate_results", "events")
RELEASE = "release"
# What a release record must hold: its id, and what the builds table (DORA) reads.
MANIFEST_KEYS: tuple[str, ...] = ("release_id", "service.name", "service.version")
MANIFEST_KEYS += ("source.commit", "source.commit_time", "build.time")
# What a later record of a row may change: how the deploy went on (Ledger.set_state).
MUTABLE_COLUMNS = frozenset({"state", "error", "finished_at"})
NEVER = datetime.max.replace(tzinfo=timezone.utc)  # when a record without a time was stored
Row = dict[str, Any]
_warned: set[str] = set()  # the warnings this process has printed


def warn(line: str) -> None:
    """Say ``line`` on stderr, once per process: a command opens the ledger once per
    environment it touches, and each reads every swarm environment's history."""
    if line not in _warned:
        _warned.add(line)
        print(line, file=sys.stderr, flush=True)


class EngineLedger(Ledger):
    def __init__(self, disk: Ledger, histories: Mapping[str, History]) -> None:
        # Not Ledger.__init__: the copy lives in this process's memory only.
        self.path = Path(":memory:")
        self.db = sqlite3.connect(":memory:", isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)
        self.disk, self.histories = disk, dict(histories)
        self._closer = weakref.finalize(self, self.db.close)  # as Ledger's (gates.ledger)
        self.manifests: dict[str, dict[str, Any]] = {}  # release id -> its first manifest
        self.refused: list[str] = []  # each record not believed: its name, and why
        self.gaps: dict[str, list[int]] = {}  # environment -> the seqs its history lacks
        # deploys copy id -> the gaps after its last record, while it is in flight
        self.behind_gap: dict[int, list[int]] = {}
        self.kept: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (environment, kind) ->
        self._released: set[tuple[str, str]] = set()  # (environment, release id) recorded
        self._uid: dict[tuple[str, int], str] = {}  # (table, copy id) -> engine record uid
        self._by_uid: dict[tuple[str, str, str], int] = {}  # (environment, table, uid) ->
        self._last_seq: dict[tuple[str, int], int] = {}  # (table, copy id) -> its last record
        self._disk_id: dict[tuple[str, int], int] = {}  # (table, copy id) -> file ledger id
        self._columns: dict[str, list[str]] = {}
        try:
            self._load()
        except BaseException:
            # An engine that cannot be read (exit 3) leaves no connection open: Python 3.13
            # warns about every unclosed sqlite3 connection, and the tests make warnings errors.
            self.close()
            raise

    @classmethod
    def open_for(cls, config: PipelineConfig) -> "EngineLedger":
        """The ledger of ``config``: every swarm environment's history read from the engine."""
        docker = Docker(config.engine.docker_host)
        histories = {
            name: History(docker, stack_name(config, name), name)
            for name, settings in config.environments.items()
            if settings.target == "swarm"
        }
        # The file holds only this machine's builds and local environments: a cache here.
        return cls(Ledger.open(config, create=True), histories)

    def close(self) -> None:
        self._closer()
        self.disk.close()

    # filling the copy ---------------------------------------------------------------------
    def _load(self) -> None:
        for table in TABLES:
            for found in self.disk.db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall():
                if found["environment"] not in self.histories:
                    self._disk_id[(table, self._insert(table, dict(found)))] = found["id"]
        for found in self.disk.db.execute("SELECT * FROM builds").fetchall():
            self._insert("builds", dict(found), ignore=True)
        readings = {name: history.read() for name, history in self.histories.items()}
        for reading in readings.values():
            for record in reading.records:
                _check_content(record)
        first = _first_releases(readings)
        for environment, reading in readings.items():
            self.refused += reading.refused
            for record in reading.records:
                why = self._read(environment, record, first)
                if why:
                    self.refused.append(f"{record.name}: {why}")
            if reading.gaps:
                self.gaps[environment] = reading.gaps
                self._note_gaps(environment, reading.gaps)
        for line in self.refused:
            warn(f"gates: refused history record {line}")
        for environment, gaps in self.gaps.items():
            warn(self._gap_warning(environment, gaps))

    def _read(self, environment: str, record: Record, first: Mapping[str, Record]) -> str:
        """Apply ``record`` of ``environment``'s history to the copy; why not, if refused."""
        kind, data = record.kind, record.data
        if kind == RELEASE:
            standing = first[data["release_id"]]
            if _digest(data) != _digest(standing.data):
                return (
                    f"it points release {data['release_id']} at the image {_digest(data)}, but "
                    f"{standing.name} recorded it first with {_digest(standing.data)}"
                )
            self._apply(environment, RELEASE, standing.data)
            return ""
        if kind not in TABLES:
            self._apply(environment, kind, data)
            return ""
        row, key = data["row"], (environment, kind, data["uid"])
        if row.get("environment") != environment:
            return (
                f"its {kind} row names the environment {row.get('environment')!r}, but it is "
                f"stored in {environment}'s history (stack {self.histories[environment].stack})"
            )
        if key in self._by_uid:
            before = self._row(self.db, kind, self._by_uid[key])
            changed = [c for c in self.columns(kind) if c in row and c not in MUTABLE_COLUMNS]
            changed = [c for c in changed if c != "id" and row[c] != before[c]]
            if changed:
                return (
                    f"it changes {', '.join(changed)} of the {kind} row first recorded by "
                    f"{self.histories[environment].name(self._last_seq[(kind, before['id'])])}"
                    f" ({', '.join(f'{before[c]!r} -> {row[c]!r}' for c in changed)})"
                )
        try:
            self._apply(environment, kind, data)
        except sqlite3.Error as exc:
            problem = f"its row does not fit the {kind} table ({exc})"
            raise MalformedRecord(record.name, problem) from None
        self._last_seq[(kind, self._by_uid[key])] = record.seq
        return ""

    def _apply(self, environment: str, kind: str, data: dict[str, Any]) -> None:
        if kind == RELEASE:
            self.manifests.setdefault(str(data["release_id"]), data)
            self._released.add((environment, str(data["release_id"])))
            Ledger.record_build(self, data)
        elif kind in TABLES:
            key, row = (environment, kind, str(data["uid"])), data["row"]
            if key in self._by_uid:
                self._update(kind, self._by_uid[key], row)
            else:
                copy_id = self._insert(kind, row)
                self._by_uid[key], self._uid[(kind, copy_id)] = copy_id, key[2]
        else:  # measurements kept with the environment (perf runs)
            self.kept.setdefault((environment, kind), []).append(data)

    def _note_gaps(self, environment: str, gaps: list[int]) -> None:
        """Mark the deploys of ``environment`` still in flight at their last record, which
        comes before a gap: the gap may have held their outcome."""
        for row in self.in_flight(environment):
            last = self._last_seq.get(("deploys", row["id"]), 0)
            after = [seq for seq in gaps if seq > last]
            if after:
                self.behind_gap[row["id"]] = after

    def _gap_warning(self, environment: str, gaps: list[int]) -> str:
        history = self.histories[environment]
        deploys = [
            f"#{row['id']} of {row['release_id']} ({row['state']})"
            for row in self.deploys(environment)
            if row["id"] in self.behind_gap
        ]
        return (
            f"gates: {environment}'s history (stack {history.stack}) has a gap: seq "
            f"{seq_spans(gaps)} missing (removed from the engine: `docker config ls` lists "
            f"{history.prefix}*)"
            + (
                f"; deploy {', '.join(deploys)} was last recorded before it, so its outcome may "
                "have been there: it is settled from what the service runs, and its record "
                "says so"
                if deploys
                else ""
            )
        )

    def columns(self, table: str) -> list[str]:
        if table not in self._columns:
            found = self.db.execute(f"PRAGMA table_info({table})").fetchall()
            self._columns[table] = [c["name"] for c in found]
        return self._columns[table]

    def _insert(self, table: str, row: Row, ignore: bool = False) -> int:
        names = [c for c in self.columns(table) if c != "id" and c in row]
        verb = "INSERT OR IGNORE" if ignore else "INSERT"
        cursor = self.db.execute(
            f"{verb} INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [row[c] for c in names],
        )
        return int(cursor.lastrowid or 0)

    def _update(self, table: str, copy_id: int, row: Row) -> None:
        names = [c for c in self.columns(table) if c != "id" and c in row]
        self.db.execute(
            f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in names)} WHERE id = ?",
            [*(row[c] for c in names), copy_id],
        )

    def _row(self, db: sqlite3.Connection, table: str, row_id: int) -> Row:
        found = db.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()
        return dict(found) if found else {}

    # writes -------------------------------------------------------------------------------
    def _publish(self, table: str, copy_id: int, undo: Callable[[], object]) -> None:
        """Store the copy's row ``copy_id`` in its environment's history; on failure undo
        it in the copy and fail (the engine is the record, the copy only mirrors it)."""
        row = self._row(self.db, table, copy_id)
        row.pop("id", None)
        uid = self._uid[(table, copy_id)]
        try:
            self.histories[row["environment"]].append(
                table, {"uid": uid, "environment": row["environment"], "row": row}
            )
        except GateError:
            undo()
            raise

    def _write(self, table: str, method: str, args: tuple[Any, ...], kwargs: Row) -> int:
        environment = kwargs.get("environment", args[0] if args else None)
        if environment in self.histories:
            getattr(Ledger, method)(self, *args, **kwargs)
            copy_id = int(self.db.execute("SELECT last_insert_rowid()").fetchone()[0])
            uid = uuid.uuid4().hex
            self._uid[(table, copy_id)], self._by_uid[(environment, table, uid)] = uid, copy_id
            self._publish(
                table,
                copy_id,
                lambda: self.db.execute(f"DELETE FROM {table} WHERE id = ?", (copy_id,)),
            )
            return copy_id
        getattr(self.disk, method)(*args, **kwargs)
        disk_id = int(self.disk.db.execute("SELECT last_insert_rowid()").fetchone()[0])
        copy_id = self._insert(table, self._row(self.disk.db, table, disk_id))
        self._disk_id[(table, copy_id)] = disk_id
        return copy_id

    def start_deploy(self, *args: Any, **kwargs: Any) -> int:
        return self._write("deploys", "start_deploy", args, kwargs)

    def record_gate(self, *args: Any, **kwargs: Any) -> None:
        self._write("gate_results", "record_gate", args, kwargs)

    def record_event(self, *args: Any, **kwargs: Any) -> None:
        self._write("events", "record_event", args, kwargs)

    def _said_of_gap(
        self, deploy_id: int, state: DeployState, error: str | None = None
    ) -> tuple[DeployState, str | None]:
        """``state`` and ``error``, saying so when the deploy's outcome may have been lost in
        a gap of the history (``behind_gap``): what is recorded now was inferred."""
        gaps = self.behind_gap.get(deploy_id)
        if not gaps or state in IN_FLIGHT:
            return state, error
        del self.behind_gap[deploy_id]
        note = (
            f"its outcome may have been in the records missing from the history (seq "
            f"{seq_spans(gaps)}): recorded later, from what the service then ran"
        )
        return state, f"{error}; {note}" if error else note

    def set_state(self, deploy_id: int, *args: Any, **kwargs: Any) -> None:
        if ("deploys", deploy_id) in self._disk_id:
            disk_id = self._disk_id[("deploys", deploy_id)]
            self.disk.set_state(disk_id, *args, **kwargs)
            self._update("deploys", deploy_id, self._row(self.disk.db, "deploys", disk_id))
            return
        before = self._row(self.db, "deploys", deploy_id)
        Ledger.set_state(self, deploy_id, *self._said_of_gap(deploy_id, *args, **kwargs))
        if ("deploys", deploy_id) in self._uid:
            self._publish("deploys", deploy_id, lambda: self._update("deploys", deploy_id, before))

    def record_build(self, manifest: Mapping[str, Any]) -> None:
        """Builds are this machine's: the file ledger, and the copy."""
        self.disk.record_build(manifest)
        Ledger.record_build(self, manifest)

    def keep(self, environment: str, kind: str, data: Mapping[str, Any]) -> None:
        """Keep a measurement (a perf run, say) in ``environment``'s history."""
        self.histories[environment].append(kind, data)
        self._apply(environment, kind, dict(data))

    def record_release(self, environment: str, manifest: Mapping[str, Any]) -> None:
        """Keep the manifest of a release deployed to ``environment`` in its history (once)."""
        rid = str(manifest["release_id"])
        standing = self.manifests.get(rid)
        if standing is not None and _digest(standing) != _digest(manifest):
            raise ImageRefused(
                f"release {rid}'s manifest names the image {_digest(manifest)}, but the "
                f"history of the swarm environments recorded it first with {_digest(standing)}: "
                "a release id never changes its image; refusing it"
            )
        if (environment, rid) in self._released:
            return
        self.histories[environment].append(RELEASE, manifest)
        self._apply(environment, RELEASE, dict(manifest))


def _check_content(record: Record) -> None:
    """MalformedRecord unless ``record`` holds what its kind needs."""
    data, kind = record.data, record.kind
    if kind == RELEASE:
        for path in MANIFEST_KEYS:
            found: Any = data
            for key in path.split("."):
                found = found.get(key) if isinstance(found, dict) else None
            if not isinstance(found, str) or not found:
                raise MalformedRecord(record.name, f"a release record without {path}")
    elif kind in TABLES:
        if not isinstance(data.get("uid"), str) or not data["uid"]:
            raise MalformedRecord(record.name, f"a record of {kind} without a uid")
        if not isinstance(data.get("row"), dict):
            raise MalformedRecord(record.name, f"a record of {kind} without a row")


def _first_releases(readings: Mapping[str, Reading]) -> dict[str, Record]:
    """Each release id's first release record: the earliest the engine stored, in any of
    the histories (in seq order within one)."""
    releases = [r for reading in readings.values() for r in reading.records if r.kind == RELEASE]
    first: dict[str, Record] = {}
    for record in sorted(releases, key=lambda r: r.created or NEVER):
        first.setdefault(record.data["release_id"], record)
    return first


def _digest(manifest: Mapping[str, Any]) -> object:
    """The image digest a release's manifest names (None if it names none)."""
    image = manifest.get("image")
    return image.get("digest") if isinstance(image, dict) else None
