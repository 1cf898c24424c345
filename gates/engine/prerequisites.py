"""What ``gates engine up`` needs installed for what it has left to do, named exactly.

Only what the plan needs is required: an engine that already answers needs no dockerd here, a
registry that answers no docker-registry, a base image that is there no debootstrap. Missing
programs are reported with the Debian packages that provide them and one ``apt-get`` line.
Starting dockerd and running debootstrap need root.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from gates.engine.survey import Plan


@dataclass(frozen=True)
class Program:
    name: str
    package: str  # the Debian (and Ubuntu) package that installs it


CLIENT = (Program("docker", "docker.io"),)
ENGINE = (
    Program("dockerd", "docker.io"),
    Program("containerd", "containerd"),
    Program("runc", "runc"),
)
REGISTRY = (Program("docker-registry", "docker-registry"),)
BASE_IMAGE = (Program("debootstrap", "debootstrap"), Program("chroot", "coreutils"))


@dataclass(frozen=True)
class Missing:
    programs: tuple[Program, ...]
    needs_root: tuple[str, ...]  # what needs root, when not root

    def __bool__(self) -> bool:
        return bool(self.programs or self.needs_root)

    @property
    def packages(self) -> list[str]:
        return list(dict.fromkeys(p.package for p in self.programs))

    def describe(self) -> str:
        """One line: what is missing, and the command that installs it."""
        parts = []
        if self.programs:
            named = ", ".join(f"{p.name} (package {p.package})" for p in self.programs)
            parts.append(
                f"missing {named}; install with: sudo apt-get install -y " + " ".join(self.packages)
            )
        if self.needs_root:
            parts.append(f"{' and '.join(self.needs_root)} need root: run this as root (sudo)")
        return "; ".join(parts)


def required(plan: Plan) -> tuple[Program, ...]:
    programs = list(CLIENT)
    if plan.start_engine:
        programs += ENGINE
    if plan.start_registry:
        programs += REGISTRY
    if plan.build_base:
        programs += BASE_IMAGE
    return tuple(programs)


def missing(plan: Plan) -> Missing:
    absent = tuple(p for p in required(plan) if shutil.which(p.name) is None)
    root: list[str] = []
    if os.geteuid() != 0:
        root += ["starting dockerd"] if plan.start_engine else []
        root += ["debootstrap"] if plan.build_base else []
    return Missing(absent, tuple(root))
