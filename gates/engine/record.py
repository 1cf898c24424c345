"""What ``gates engine up`` started, so that ``down`` stops exactly that.

One JSON file in the engine's runtime directory: ``dockerd`` and ``registry`` (each a
:class:`~gates.engine.process.Started`) and ``swarm`` (true when ``up`` initialised it). Each
entry is written as soon as its thing exists, before ``up`` waits for it, so an ``up`` killed
at any point leaves a record ``down`` can act on. An engine that was already running is never
in it: ``down`` leaves it alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gates.engine.process import Started


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
