"""An environment's history, kept in the engine as append-only records (Docker configs).

A record is the config ``gates.<stack>.<seq>`` (seq: eight digits, from 1) holding JSON,
labelled ``gates.stack``, ``gates.seq`` and ``gates.kind``. Config data cannot change once
created, so records are immutable; the engine refuses a second config of the same name, so
two writers racing for one seq cannot both win: the loser lists again and takes the next.
This is how the environment's history outlives the runner that wrote it, the way Helm keeps
a release's history in its cluster.
"""

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gates.docker import Docker, DockerRefused, said
from gates.targets.swarm.environment import STACK_LABEL

SEQ_LABEL = "gates.seq"
KIND_LABEL = "gates.kind"
MAX_BYTES = 1_000_000  # the engine refuses config data of 1000 KiB or more
APPEND_ATTEMPTS = 20
INSPECT_BATCH = 100


@dataclass(frozen=True)
class Record:
    seq: int
    kind: str
    data: dict[str, Any]


class History:
    def __init__(self, docker: Docker, stack: str) -> None:
        self.docker, self.stack = docker, stack
        self.prefix = f"gates.{stack}."
        self.last_seq = 0  # the highest seq seen

    def name(self, seq: int) -> str:
        return f"{self.prefix}{seq:08d}"

    def names(self) -> list[str]:
        found = self.docker.lines(
            "config", "ls", "--filter", f"label={STACK_LABEL}={self.stack}", "--format", "{{.Name}}"
        )
        names = sorted(
            n for n in found if n.startswith(self.prefix) and n[len(self.prefix) :].isdigit()
        )
        if names:
            self.last_seq = max(self.last_seq, int(names[-1][len(self.prefix) :]))
        return names

    def records(self) -> list[Record]:
        """Every record, oldest first."""
        names = self.names()
        found: list[Record] = []
        for start in range(0, len(names), INSPECT_BATCH):
            batch = names[start : start + INSPECT_BATCH]
            for item in json.loads(self.docker.run("config", "inspect", *batch).stdout):
                spec = item["Spec"]
                labels = spec.get("Labels") or {}
                data = json.loads(base64.b64decode(spec["Data"]))
                found.append(Record(int(labels[SEQ_LABEL]), labels[KIND_LABEL], data))
        return sorted(found, key=lambda r: r.seq)

    def append(self, kind: str, data: Mapping[str, Any]) -> int:
        """Store one record after every earlier one; its seq. DockerRefused when the engine
        refuses it, EngineUnreachable when it cannot be reached."""
        body = json.dumps(data, sort_keys=True)
        if len(body.encode()) >= MAX_BYTES:
            raise DockerRefused(f"a {kind} record of {len(body)} bytes is too large for the engine")
        if not self.last_seq:
            self.names()
        for _ in range(APPEND_ATTEMPTS):
            seq = self.last_seq + 1
            done = self.docker.run(
                "config", "create",
                "--label", f"{STACK_LABEL}={self.stack}",
                "--label", f"{SEQ_LABEL}={seq}",
                "--label", f"{KIND_LABEL}={kind}",
                self.name(seq), "-",
                stdin=body,
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
