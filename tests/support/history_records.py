"""A swarm environment's history records as the engine stores them, read and written with
the docker CLI the way a person or a script would (``docker config ls/inspect/create``), for
tests that give gates records it did not write. ``docker`` is the CLI: called with its
arguments (and ``stdin=``), it returns stdout and fails the test if the command fails."""

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

Docker = Callable[..., str]
Stored = dict[int, tuple[dict[str, str], dict[str, Any]]]


def prefix(stack: str) -> str:
    return f"gates.{stack}."


def record_name(stack: str, seq: int) -> str:
    return f"{prefix(stack)}{seq:08d}"


def stored(docker: Docker, stack: str) -> Stored:
    """{seq: (labels, data)} of every record of ``stack``, as stored."""
    listed = docker("config", "ls", "--filter", f"label=gates.stack={stack}", "--format",
                    "{{.Name}}").split()  # fmt: skip
    names = [name for name in listed if name.startswith(prefix(stack))]
    found: Stored = {}
    for item in json.loads(docker("config", "inspect", *names)) if names else []:
        spec = item["Spec"]
        data = json.loads(base64.b64decode(spec["Data"]))
        found[int(spec["Name"][len(prefix(stack)) :])] = (spec.get("Labels") or {}, data)
    return dict(sorted(found.items()))


def next_seq(docker: Docker, stack: str) -> int:
    return max(stored(docker, stack), default=0) + 1


def forge(
    docker: Docker, stack: str, labels: Mapping[str, object], body: str, name: str = ""
) -> str:
    """Create the config ``name`` (default: the next record of ``stack``) labelled
    ``gates.stack`` and ``labels``, holding ``body``; its name."""
    name = name or record_name(stack, next_seq(docker, stack))
    flags = [part for key, value in {"gates.stack": stack, **labels}.items()
             for part in ("--label", f"{key}={value}")]  # fmt: skip
    docker("config", "create", *flags, name, "-", stdin=body)
    return name


def of_kind(found: Stored, kind: str, **row: object) -> list[int]:
    """The seqs of the records of ``kind`` whose data (for a release) or row has ``row``."""
    return [
        seq
        for seq, (labels, data) in found.items()
        if labels.get("gates.kind") == kind
        and all((data if kind == "release" else data["row"]).get(k) == v for k, v in row.items())
    ]
