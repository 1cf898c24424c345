"""The ledger: one SQLite database, the single record of builds, deploys, gates and rollbacks.

Every write is one transaction, so a process killed at any point leaves it consistent: a
deploy row is ``started`` (or ``switching``/``verified``) until its outcome is recorded, and
the next deploy or status call resolves such rows (see gates.targets.local.converge).

The ledger is checked where it enters a command (``Ledger(path)``, ``Ledger.open``):

- a missing ledger is created whole by the commands that write the first records (build,
  deploy); any other command says it is missing (LedgerMissing, exit 3) rather than answer
  from an empty one it made. Its schema is written to a private file in the same directory,
  in one transaction, and that file is linked into place (an atomic step that never replaces
  a file another command created meanwhile). So a ledger that exists was always complete,
  and a zero-length file at its path is damage, never "a new ledger";
- an existing one must be a regular file, a SQLite database, no shorter than its header
  says, passing SQLite's ``quick_check``, with every table and column of ``SCHEMA``.

Anything else is :class:`LedgerError` (exit 2, one line saying where the file is and how to
recover), raised before anything is written: the file is left exactly as found. A ledger
SQLite cannot read for another reason (locked past BUSY_TIMEOUT, permissions, I/O) is exit 3,
could not measure, with no advice to replace it: its contents may be fine.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import weakref
from collections.abc import Mapping
from contextlib import closing
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from gates.outcome import ConfigError, MeasurementError

if TYPE_CHECKING:
    from gates.config import PipelineConfig

LEDGER_FILE = "ledger.sqlite"
BUSY_TIMEOUT = 30.0  # seconds a command waits for another's write to the ledger to end
# What SQLite says of a file that is damaged or not a database; any other error (locked,
# no permission, disk I/O) says nothing about the file's contents.
DAMAGED = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
SCHEMA = """
CREATE TABLE IF NOT EXISTS builds (
    release_id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    commit_sha TEXT NOT NULL,
    commit_time TEXT NOT NULL,
    built_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deploys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    release_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback')),
    state TEXT NOT NULL
        CHECK (state IN ('started', 'switching', 'verified', 'succeeded', 'failed')),
    previous_release TEXT,
    commit_sha TEXT,
    config TEXT NOT NULL,
    reason TEXT,
    override TEXT,
    error TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS gate_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    release_id TEXT NOT NULL,
    gate TEXT NOT NULL,
    deployment TEXT,
    outcome TEXT NOT NULL,
    exit_code INTEGER NOT NULL,
    summary TEXT,
    recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    environment TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT,
    recorded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deploys_by_env ON deploys (environment, id);
CREATE INDEX IF NOT EXISTS gates_by_release ON gate_results (environment, release_id, gate);
"""
# The values the schema's CHECK constraints allow.
DeployKind = Literal["deploy", "rollback"]
DeployState = Literal["started", "switching", "verified", "succeeded", "failed"]
IN_FLIGHT: tuple[DeployState, ...] = ("started", "switching", "verified")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class LedgerError(ConfigError):
    """The ledger cannot be trusted; it was left exactly as found (exit 2)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"ledger {path} {problem}; it was left as it is: restore it from a backup, or "
            "move it aside and the next command starts a new, empty ledger"
        )


class LedgerMissing(MeasurementError):
    """No ledger where the configuration says: nothing was built or deployed with this state
    directory, or the configuration points at the wrong one (exit 3)."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"no ledger at {path}: nothing was built or deployed with this state directory; "
            "run build and deploy first, or point [tool.pipeline] state_dir at the pipeline's"
        )


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        if not os.path.lexists(path):
            _create(path)
        _check_file(path)
        self.db = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        try:
            _check_database(path, self.db)
        except BaseException:
            self.db.close()
            raise
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        # Closed by close(), else when the ledger is collected: a target keeps its ledger for
        # the command's life and commands end without closing it, and Python 3.13 warns about
        # every sqlite3 connection left open (the tests make warnings errors).
        self._closer = weakref.finalize(self, self.db.close)

    @classmethod
    def open(cls, config: PipelineConfig, create: bool = False) -> Ledger:
        """The pipeline's ledger, checked (LedgerError). Created whole if missing only when
        ``create`` (the commands that write the first records: build, deploy); otherwise a
        missing ledger is LedgerMissing (exit 3), never an empty one made to answer from."""
        path = config.state_dir / LEDGER_FILE
        if not create and not os.path.lexists(path):
            raise LedgerMissing(path)
        return cls(path)

    def close(self) -> None:
        self._closer()  # once: a second close, or the collection after it, does nothing

    def transaction(self) -> _Transaction:
        return _Transaction(self.db)

    def _one(self, sql: str, *args: object) -> sqlite3.Row | None:
        with closing(self.db.execute(sql, args)) as cursor:
            row: sqlite3.Row | None = cursor.fetchone()
            return row

    def _all(self, sql: str, *args: object) -> list[sqlite3.Row]:
        with closing(self.db.execute(sql, args)) as cursor:
            rows: list[sqlite3.Row] = cursor.fetchall()
            return rows

    # builds ---------------------------------------------------------------------------
    def record_build(self, manifest: Mapping[str, Any]) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO builds VALUES (?, ?, ?, ?, ?, ?)",
                (
                    manifest["release_id"],
                    manifest["service"]["name"],
                    manifest["service"]["version"],
                    manifest["source"]["commit"],
                    manifest["source"]["commit_time"],
                    manifest["build"]["time"],
                ),
            )

    def build(self, release_id: str) -> sqlite3.Row | None:
        return self._one("SELECT * FROM builds WHERE release_id = ?", release_id)

    # deploys --------------------------------------------------------------------------
    def start_deploy(
        self,
        environment: str,
        release_id: str,
        kind: DeployKind,
        config: Mapping[str, Any],
        previous: str | None,
        commit: str | None = None,
        reason: str | None = None,
        override: str | None = None,
    ) -> int:
        with self.transaction():
            cursor = self.db.execute(
                "INSERT INTO deploys (environment, release_id, kind, state, previous_release,"
                " commit_sha, config, reason, override, started_at)"
                " VALUES (?, ?, ?, 'started', ?, ?, ?, ?, ?, ?)",
                (
                    environment,
                    release_id,
                    kind,
                    previous,
                    commit,
                    json.dumps(config, sort_keys=True),
                    reason,
                    override,
                    now(),
                ),
            )
            if cursor.lastrowid is None:  # never after an INSERT; typed as optional
                raise sqlite3.DatabaseError("the deploy row was inserted without a row id")
            return cursor.lastrowid

    def set_state(self, deploy_id: int, state: DeployState, error: str | None = None) -> None:
        finished = now() if state in ("succeeded", "failed") else None
        with self.transaction():
            self.db.execute(
                "UPDATE deploys SET state = ?, error = COALESCE(?, error),"
                " finished_at = COALESCE(?, finished_at) WHERE id = ?",
                (state, error, finished, deploy_id),
            )

    def deploys(self, environment: str | None = None) -> list[sqlite3.Row]:
        if environment is None:
            return self._all("SELECT * FROM deploys ORDER BY id")
        return self._all("SELECT * FROM deploys WHERE environment = ? ORDER BY id", environment)

    def in_flight(self, environment: str) -> list[sqlite3.Row]:
        marks = ",".join("?" * len(IN_FLIGHT))
        return self._all(
            f"SELECT * FROM deploys WHERE environment = ? AND state IN ({marks}) ORDER BY id",
            environment,
            *IN_FLIGHT,
        )

    def last_succeeded(self, environment: str) -> sqlite3.Row | None:
        return self._one(
            "SELECT * FROM deploys WHERE environment = ? AND state = 'succeeded'"
            " ORDER BY id DESC LIMIT 1",
            environment,
        )

    def succeeded_in(self, environment: str, release_id: str) -> sqlite3.Row | None:
        return self._one(
            "SELECT * FROM deploys WHERE environment = ? AND release_id = ?"
            " AND state = 'succeeded' ORDER BY id DESC LIMIT 1",
            environment,
            release_id,
        )

    def last_good(self, environment: str, exclude_deployment: str) -> sqlite3.Row | None:
        """The newest deployment (release + config) that succeeded here and failed no gate
        here, other than ``exclude_deployment`` (normally the live one)."""
        return self._one(
            "SELECT * FROM deploys d WHERE environment = ? AND state = 'succeeded'"
            " AND json_extract(config, '$.key') != ? AND NOT EXISTS ("
            "  SELECT 1 FROM gate_results g WHERE g.environment = d.environment"
            "  AND g.deployment = json_extract(d.config, '$.key') AND g.exit_code != 0)"
            " ORDER BY id DESC LIMIT 1",
            environment,
            exclude_deployment,
        )

    # gates and events -----------------------------------------------------------------
    def record_gate(
        self,
        environment: str,
        release_id: str,
        gate: str,
        outcome: str,
        exit_code: int,
        summary: str = "",
        deployment: str | None = None,
    ) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO gate_results (environment, release_id, gate, deployment, outcome,"
                " exit_code, summary, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (environment, release_id, gate, deployment, outcome, exit_code, summary, now()),
            )

    def gate_results(self, environment: str, release_id: str) -> list[sqlite3.Row]:
        return self._all(
            "SELECT * FROM gate_results WHERE environment = ? AND release_id = ? ORDER BY id",
            environment,
            release_id,
        )

    def last_event(self, environment: str, event: str) -> sqlite3.Row | None:
        """The newest event ``event`` (e.g. "down") recorded for ``environment``."""
        return self._one(
            "SELECT * FROM events WHERE environment = ? AND event = ? ORDER BY id DESC LIMIT 1",
            environment,
            event,
        )

    def record_event(self, environment: str, event: str, detail: str = "") -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO events (environment, event, detail, recorded_at) VALUES (?,?,?,?)",
                (environment, event, detail, now()),
            )


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        return False


def _create(path: Path) -> None:
    """Create a complete, empty ledger at ``path`` unless one appears there meanwhile."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, private = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
        os.close(handle)
    except OSError as exc:
        raise LedgerError(path, f"cannot be created ({exc.strerror})") from None
    try:
        with closing(sqlite3.connect(private, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")  # kept in the file's header
            db.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\nCOMMIT;")
        # Closing checkpointed the WAL into the file; make it durable before it is visible.
        with open(private, "rb") as written:
            os.fsync(written.fileno())
        try:
            os.link(private, path)
        except FileExistsError:
            pass  # another command created it first: that one is checked and used
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except (OSError, sqlite3.Error) as exc:
        raise LedgerError(path, f"cannot be created ({exc})") from None
    finally:
        os.unlink(private)


HEADER = b"SQLite format 3\x00"
# POSIX drops every lock a process holds on a file when it closes ANY descriptor of that file.
# Reading the ledger's bytes through open()/close() while one of our SQLite connections is
# open would silently drop that connection's locks, and another process could then reset the
# WAL index under it (it would read a stale ledger). So the file is read through one
# descriptor per file (inode) that stays open for the life of the process and is never closed.
_DESCRIPTORS: dict[tuple[int, int], int] = {}


def _descriptor(path: Path) -> int:
    """A read-only descriptor of the file now at ``path``, opened once and never closed."""
    found = os.stat(path)
    key = (found.st_dev, found.st_ino)
    if key not in _DESCRIPTORS:
        _DESCRIPTORS[key] = os.open(path, os.O_RDONLY)
    return _DESCRIPTORS[key]


def _check_file(path: Path) -> None:
    """The checks made on the bytes, before SQLite opens the file (and could write to it)."""
    try:
        if path.is_dir():
            raise LedgerError(path, "is a directory, not a ledger file")
        if not path.is_file():
            raise LedgerError(path, "is not a regular file")
        descriptor = _descriptor(path)
        header = os.pread(descriptor, 100, 0)
        size = os.fstat(descriptor).st_size
    except OSError as exc:  # permissions, I/O: nothing known about its contents
        raise MeasurementError(
            f"ledger {path} could not be read ({exc}); it was left as it is"
        ) from None
    if size == 0:
        raise LedgerError(path, "is empty (0 bytes): a ledger is created whole, so it was emptied")
    if len(header) < 100 or not header.startswith(HEADER):
        raise LedgerError(path, f"is not a SQLite database ({size} bytes of something else)")
    wal = Path(f"{path}-wal")
    if wal.is_file() and wal.stat().st_size > 0:
        return  # pages may still live in the WAL (an interrupted checkpoint): SQLite judges
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages, valid_for, changed = (int.from_bytes(header[at : at + 4], "big") for at in (28, 92, 24))
    if valid_for == changed and size < pages * page_size:
        raise LedgerError(
            path, f"is truncated: {size} bytes where its header says {pages * page_size}"
        )


def _check_database(path: Path, db: sqlite3.Connection) -> None:
    """SQLite's own consistency check, then every table and column the ledger uses."""
    try:
        problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise LedgerError(path, f"is damaged (SQLite: {problems[0]})")
        tables = {
            table: {row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}
            for table in _schema_columns()
        }
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorname in DAMAGED:
            raise LedgerError(path, f"is damaged (SQLite: {exc})") from None
        raise MeasurementError(
            f"ledger {path} could not be read (SQLite: {exc}); it was left as it is"
        ) from None
    missing = [table for table, columns in tables.items() if not columns]
    if missing:
        raise LedgerError(
            path, f"is a SQLite database without the ledger's tables ({', '.join(missing)})"
        )
    for table, columns in _schema_columns().items():
        lacking = sorted(columns - tables[table])
        if lacking:
            raise LedgerError(path, f"has a {table} table without the columns {', '.join(lacking)}")


@cache
def _schema_columns() -> dict[str, frozenset[str]]:
    """Each table of SCHEMA and its columns, as SQLite itself reads the schema."""
    with closing(sqlite3.connect(":memory:")) as db:
        db.executescript(SCHEMA)
        names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            name: frozenset(row[1] for row in db.execute(f"PRAGMA table_info({name})"))
            for name in names
            if not name.startswith("sqlite_")
        }
