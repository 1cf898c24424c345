"""What ``gates engine up`` started, so that ``down`` stops exactly that.

One JSON file in the engine's runtime directory: ``dockerd`` and ``registry`` (each a
:class:`Started`) and ``swarm`` (true when ``up`` initialised it). Each
entry is written as soon as its thing exists, before ``up`` waits for it, so an ``up`` killed
at any point leaves a record ``down`` can act on. An engine that was already running is never
in it: ``down`` leaves it alone.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from gates import processes
from gates.processes import Identity


@dataclass(frozen=True)
class Started(Identity):
    """A daemon ``up`` started: its identity (gates.processes) and the program it runs."""

    argv0: str

    def as_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "create_time": self.create_time, "argv0": self.argv0}

    @classmethod
    def from_json(cls, data: object) -> Started | None:
        """The record's entry, or None when there is none (or it is not one of ours)."""
        if not isinstance(data, dict):
            return None
        pid, created, argv0 = data.get("pid"), data.get("create_time"), data.get("argv0")
        if isinstance(pid, int) and isinstance(created, (int, float)) and isinstance(argv0, str):
            return cls(pid, float(created), argv0)
        return None

    def process(self) -> psutil.Process | None:
        """The live process this names, or None when it has ended (or the pid is another's)."""
        return processes.verified(self)

    @property
    def alive(self) -> bool:
        return processes.is_running(self)


class Record:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def started(self, name: str) -> Started | None:
        return Started.from_json(self.load().get(name))

    @property
    def swarm(self) -> bool:
        return self.load().get("swarm") is True

    def update(self, **entries: object) -> None:
        """Set (or, with None, drop) entries; atomic, so a reader never sees half a file."""
        data = self.load()
        for name, value in entries.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value.as_json() if isinstance(value, Started) else value
        if not data:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(partial, self.path)
