"""An environment's history, kept in the engine as append-only records (Docker configs).

A record is the config ``gates.<stack>.<seq>`` (seq: eight digits, from 1) holding JSON,
labelled ``gates.stack``, ``gates.seq`` and ``gates.kind``. Config data cannot change once
created, so records are immutable; the engine refuses a second config of the same name, so
two writers racing for one seq cannot both win: the loser lists again and takes the next.
This is how the environment's history outlives the runner that wrote it, the way Helm keeps
a release's history in its cluster.

Each record names its place: the label ``gates.environment``, and ``environment`` and ``seq``
in its data. Nothing is believed only because it is there (docs/deploy.md, "The history's
integrity"); reading checks each record against the place it is stored in:

- one gates cannot read (a name without an eight-digit seq, no or a non-numeric
  ``gates.seq``, no ``gates.kind``, data that is not a JSON object) is MalformedRecord:
  exit 3, in one line naming it;
- one that names another environment or seq than where it is stored is refused: not read,
  and said (``Reading.refused``), as a copy or a mistake;
- a seq missing below the newest is a gap (``Reading.gaps``): a record was removed. The
  newest records' removal leaves no gap: the next record takes their seq.

A record written before records named their place (no ``gates.environment`` label) is read
as its history's own.
"""

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from gates.docker import Docker, DockerRefused, said
from gates.outcome import MeasurementError
from gates.targets.swarm.environment import STACK_LABEL, lock_name

SEQ_LABEL = "gates.seq"
KIND_LABEL = "gates.kind"
ENVIRONMENT_LABEL = "gates.environment"
PLACE_KEYS = ("environment", "seq")  # where a record belongs, in its data
SEQ_DIGITS = 8
MAX_BYTES = 1_000_000  # the engine refuses config data of 1000 KiB or more
APPEND_ATTEMPTS = 20
INSPECT_BATCH = 100


@dataclass(frozen=True)
class Record:
    name: str  # its config's name, gates.<stack>.<seq>: how a person finds it
    seq: int
    kind: str
    data: dict[str, Any]  # as written, without its place (PLACE_KEYS)
    created: datetime | None = None  # when the engine stored it


@dataclass(frozen=True)
class Reading:
    records: list[Record]  # those stored where they say they belong, oldest first
    refused: list[str]  # why each other record was not read, one line each
    gaps: list[int]  # the seqs missing below the newest: removed records


class MalformedRecord(MeasurementError):
    """A record the history cannot read: exit 3, naming it."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(
            f"history record {name} is malformed: {problem}; gates did not write it as it "
            f"is (`docker config inspect {name}` shows it)"
        )


class History:
    def __init__(self, docker: Docker, stack: str, environment: str) -> None:
        self.docker, self.stack, self.environment = docker, stack, environment
        self.prefix = f"gates.{stack}."
        self.last_seq = 0  # the highest seq seen

    def name(self, seq: int) -> str:
        return f"{self.prefix}{seq:0{SEQ_DIGITS}d}"

    def seq(self, name: str) -> int:
        """The seq a record's name gives it; MalformedRecord if it gives none."""
        suffix = name[len(self.prefix) :]
        if len(suffix) != SEQ_DIGITS or not suffix.isdigit() or not suffix.isascii():
            raise MalformedRecord(name, f"its name does not end in a seq of {SEQ_DIGITS} digits")
        return int(suffix)

    def names(self) -> list[str]:
        found = self.docker.lines(
            "config", "ls", "--filter", f"label={STACK_LABEL}={self.stack}", "--format", "{{.Name}}"
        )
        # The lock carries the stack's label too; a stack named "lock" has it under the prefix.
        records = [n for n in found if n.startswith(self.prefix) and n != lock_name(self.stack)]
        names = sorted(records)
        if names:
            self.last_seq = max(self.last_seq, *(self.seq(n) for n in names))
        return names

    def read(self) -> Reading:
        """Every record stored where it says it belongs, oldest first; the others refused,
        and the gaps. MalformedRecord (exit 3) for one that cannot be read."""
        names = self.names()
        records: list[Record] = []
        refused: list[str] = []
        for start in range(0, len(names), INSPECT_BATCH):
            batch = names[start : start + INSPECT_BATCH]
            for item in json.loads(self.docker.run("config", "inspect", *batch).stdout):
                record = self._record(item)
                misplaced = self._misplaced(record, item["Spec"].get("Labels") or {})
                if misplaced:
                    refused.append(f"{record.name}: {misplaced}")
                else:
                    records.append(replace(record, data=_unplaced(record.data)))
        stored = {self.seq(n) for n in names}
        gaps = [seq for seq in range(1, max(stored, default=0)) if seq not in stored]
        return Reading(sorted(records, key=lambda r: r.seq), refused, gaps)

    def _record(self, item: Mapping[str, Any]) -> Record:
        """The record a config inspected holds, as it is stored; MalformedRecord if gates
        cannot read it."""
        spec = item["Spec"]
        name = str(spec["Name"])
        labels = spec.get("Labels") or {}
        said_seq = labels.get(SEQ_LABEL)
        if said_seq is None:
            raise MalformedRecord(name, f"it has no {SEQ_LABEL} label")
        if not (said_seq.isascii() and said_seq.isdigit()):
            raise MalformedRecord(name, f"its {SEQ_LABEL} label is {said_seq!r}, not a number")
        if not labels.get(KIND_LABEL):
            raise MalformedRecord(name, f"it has no {KIND_LABEL} label")
        try:
            data = json.loads(base64.b64decode(spec.get("Data") or "", validate=True))
        except (ValueError, binascii.Error) as exc:  # not base64, UTF-8 or JSON
            raise MalformedRecord(name, f"its data is not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise MalformedRecord(name, f"its data is a JSON {type(data).__name__}, not an object")
        try:
            created: datetime | None = datetime.fromisoformat(item.get("CreatedAt", ""))
        except (TypeError, ValueError):
            created = None
        if created is not None and created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        return Record(name, self.seq(name), labels[KIND_LABEL], data, created)

    def _misplaced(self, record: Record, labels: Mapping[str, str]) -> str:
        """Why ``record`` does not belong where it is stored ("" if it does)."""
        here = f"{self.environment}'s history (stack {self.stack})"
        seqs = {
            f"its label {SEQ_LABEL}": int(labels[SEQ_LABEL]),
            "its data": record.data.get("seq"),
        }
        for where, seq in seqs.items():
            if seq not in (None, record.seq):
                return f"{where} says seq {seq!r}, but it is stored as seq {record.seq} in {here}"
        environments = {
            f"its label {ENVIRONMENT_LABEL}": labels.get(ENVIRONMENT_LABEL),
            "its data": record.data.get("environment"),
        }
        for where, environment in environments.items():
            if environment not in (None, self.environment):
                return f"{where} names the environment {environment!r}, but it is stored in {here}"
        return ""

    def append(self, kind: str, data: Mapping[str, Any]) -> int:
        """Store one record after every earlier one; its seq. DockerRefused when the engine
        refuses it, EngineUnreachable when it cannot be reached."""
        body = self._placed(data, self.last_seq + 1)
        if len(body.encode()) >= MAX_BYTES:
            raise DockerRefused(f"a {kind} record of {len(body)} bytes is too large for the engine")
        if not self.last_seq:
            self.names()
        for _ in range(APPEND_ATTEMPTS):
            seq = self.last_seq + 1
            done = self.docker.run(
                "config", "create",
                "--label", f"{STACK_LABEL}={self.stack}",
                "--label", f"{ENVIRONMENT_LABEL}={self.environment}",
                "--label", f"{SEQ_LABEL}={seq}",
                "--label", f"{KIND_LABEL}={kind}",
                self.name(seq), "-",
                stdin=self._placed(data, seq),
                check=False,
            )  # fmt: skip
            if done.returncode == 0:
                self.last_seq = seq
                return seq
            if "already exists" not in done.stderr and "AlreadyExists" not in done.stderr:
                raise DockerRefused(
                    f"cannot record {kind} in the history of {self.stack}: {said(done)}",
                    done.stderr,
                )
            self.names()  # another writer took this seq: find the end again
            self.last_seq = max(self.last_seq, seq)
        raise DockerRefused(
            f"cannot record {kind} in the history of {self.stack}: "
            f"{APPEND_ATTEMPTS} writers raced for it"
        )

    def _placed(self, data: Mapping[str, Any], seq: int) -> str:
        """The JSON stored as record ``seq``: ``data`` and where it belongs."""
        return json.dumps({**data, "environment": self.environment, "seq": seq}, sort_keys=True)


def _unplaced(data: Mapping[str, Any]) -> dict[str, Any]:
    """A record's data as it was given to ``append``: without where it belongs."""
    return {key: value for key, value in data.items() if key not in PLACE_KEYS}


def seq_spans(seqs: list[int]) -> str:
    """Ascending seqs as runs: [3, 5, 6, 7] -> "3, 5-7"."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][-1] + 1:
            runs[-1].append(seq)
        else:
            runs.append([seq])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)
