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
"""

import sqlite3
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gates.config import PipelineConfig
from gates.ledger import SCHEMA, Ledger
from gates.outcome import GateError
from gates.docker import Docker
from gates.targets.swarm.environment import stack_name
from gates.targets.swarm.history import History

TABLES = ("deploys", "gate_results", "events")
RELEASE = "release"
Row = dict[str, Any]


class EngineLedger(Ledger):
    def __init__(self, disk: Ledger, histories: Mapping[str, History]) -> None:
        # Not Ledger.__init__: the copy lives in this process's memory only.
        self.path = Path(":memory:")
        self.db = sqlite3.connect(":memory:", isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.executescript(SCHEMA)
        self.disk, self.histories = disk, dict(histories)
        self.manifests: dict[str, dict[str, Any]] = {}  # release id -> manifest
        self.kept: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (environment, kind) ->
        self._released: set[tuple[str, str]] = set()  # (environment, release id) recorded
        self._uid: dict[tuple[str, int], str] = {}  # (table, copy id) -> engine record uid
        self._by_uid: dict[str, int] = {}
        self._disk_id: dict[tuple[str, int], int] = {}  # (table, copy id) -> file ledger id
        self._columns: dict[str, list[str]] = {}
        self._load()

    @classmethod
    def open_for(cls, config: PipelineConfig) -> "EngineLedger":
        """The ledger of ``config``: every swarm environment's history read from the engine."""
        docker = Docker(config.engine.docker_host)
        histories = {
            name: History(docker, stack_name(config, name))
            for name, settings in config.environments.items()
            if settings.target == "swarm"
        }
        # The file holds only this machine's builds and local environments: a cache here.
        return cls(Ledger.open(config, create=True), histories)

    def close(self) -> None:
        self.db.close()
        self.disk.close()

    # filling the copy ---------------------------------------------------------------------
    def _load(self) -> None:
        for table in TABLES:
            for found in self.disk.db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall():
                if found["environment"] not in self.histories:
                    self._disk_id[(table, self._insert(table, dict(found)))] = found["id"]
        for found in self.disk.db.execute("SELECT * FROM builds").fetchall():
            self._insert("builds", dict(found), ignore=True)
        for environment, history in self.histories.items():
            for record in history.records():
                self._apply(environment, record.kind, record.data)

    def _apply(self, environment: str, kind: str, data: dict[str, Any]) -> None:
        if kind == RELEASE:
            self.manifests[str(data["release_id"])] = data
            self._released.add((environment, str(data["release_id"])))
            Ledger.record_build(self, data)
        elif kind in TABLES:
            uid, row = str(data["uid"]), data["row"]
            if uid in self._by_uid:
                self._update(kind, self._by_uid[uid], row)
            else:
                copy_id = self._insert(kind, row)
                self._by_uid[uid], self._uid[(kind, copy_id)] = copy_id, uid
        else:  # measurements kept with the environment (perf runs)
            self.kept.setdefault((environment, kind), []).append(data)

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
            self._uid[(table, copy_id)], self._by_uid[uid] = uid, copy_id
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

    def set_state(self, deploy_id: int, *args: Any, **kwargs: Any) -> None:
        if ("deploys", deploy_id) in self._disk_id:
            disk_id = self._disk_id[("deploys", deploy_id)]
            self.disk.set_state(disk_id, *args, **kwargs)
            self._update("deploys", deploy_id, self._row(self.disk.db, "deploys", disk_id))
            return
        before = self._row(self.db, "deploys", deploy_id)
        Ledger.set_state(self, deploy_id, *args, **kwargs)
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
        if (environment, rid) in self._released:
            return
        self.histories[environment].append(RELEASE, manifest)
        self._apply(environment, RELEASE, dict(manifest))
