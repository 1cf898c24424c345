"""Processes the pipeline started, recognised by pid *and* start time, never by pid alone.

One identity for every process the pipeline names: a local environment's gunicorn masters
(gates.targets.local.masters), the daemons ``gates engine up`` starts (gates.engine.record's
``Started`` is an :class:`Identity` plus the program's name), and the holder of a lock
(gates.locks, gates.targets.swarm.lock).

An :class:`Identity` is a pid plus the start time psutil reports for it
(``Process.create_time()``, seconds since the epoch). Before a process is signalled, the
process now at that pid must have that start time and must not be a zombie: a pid that was
reused after our process ended belongs to a process that started later.

An identity is established in one of three ways:

- ``identify(pid)``: a process the pipeline has just spawned. The pipeline is its parent,
  so the pid cannot be reused before the pipeline reaps it.
- ``registered(pid, recorded_at)``: a gunicorn master that registered itself by writing a
  record at wall-clock time ``recorded_at``. The master runs in the release's own venv,
  which has no psutil, so it cannot state its own start time portably. It did exist before
  it wrote the record, though, so a process at that pid that started *after* the record was
  written belongs to someone else who got the pid later. ``RECORD_SLACK`` allows for
  psutil's Linux start times, which count from a boot time rounded to whole seconds.
- ``from_start_ticks(pid, ticks)``: records written before the pipeline used psutil held
  the Linux start time in clock ticks since boot; it is compared exactly, as it was then.

A missing or malformed stamp is never a reason to skip the check: no identity, not ours.
Malformed includes a pid that is not a positive whole number, and a ``recorded_at`` that is
not a finite number or lies in the future (no master wrote its record later than now).

A start time fits any process older than the record, so a stamp alone does not make a
process ours: ``works_in(identity, directory)`` says whether it also runs in the directory
the pipeline started it in (gates.targets.local.masters requires the environment's).

``is_running`` treats a process it may not inspect as not ours (nothing is signalled);
``has_ended`` is its cautious counterpart for a lock's holder: a lock is taken over only
from a holder known to have ended, never from one that merely could not be inspected.

psutil calls used, each documented by psutil for Linux and macOS alike (its documentation
marks no platform restriction on them): ``psutil.Process(pid)``, ``Process.create_time()``,
``Process.cwd()``, ``Process.cmdline()``,
``Process.status()`` with ``psutil.STATUS_ZOMBIE``, ``Process.children()``,
``Process.is_running()`` (psutil's own pid-reuse guard, checked again just before a
signal), ``Process.send_signal()``, ``Process.kill()`` (which checks the same guard),
``psutil.boot_time()`` (old records only), and the errors ``psutil.NoSuchProcess``,
``psutil.AccessDenied`` and ``psutil.ZombieProcess`` (all ``psutil.Error``).
``os.sysconf("SC_CLK_TCK")`` is POSIX.

A zombie counts as ended (as ``ps`` shows it): a master reparented to an init that does not
reap promptly must not look alive after it exited.
"""

import math
import os
import signal
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard, TypeVar

import psutil

# psutil measures start times to a clock tick (0.01 s on Linux); equal within that.
SAME_START = 0.01
# A registered master started before its record; psutil's Linux start times may read up to
# a second early or late against the wall clock (integer boot time): allow two.
RECORD_SLACK = 2.0

T = TypeVar("T")


@dataclass(frozen=True)
class Identity:
    pid: int
    create_time: float  # psutil's Process.create_time(): seconds since the epoch


def _alive(pid: int) -> psutil.Process | None:
    """The process at ``pid`` if there is one and it has not exited (zombies have)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.Error:  # NoSuchProcess, ZombieProcess, AccessDenied: not one of ours
        return None
    return process


def _create_time(process: psutil.Process) -> float | None:
    try:
        return process.create_time()
    except psutil.Error:
        return None


def identify(pid: int) -> Identity | None:
    """The identity of the live process at ``pid`` now (one the pipeline just spawned)."""
    process = _alive(pid)
    created = None if process is None else _create_time(process)
    return None if created is None else Identity(pid, created)


def registered(pid: object, recorded_at: object) -> Identity | None:
    """The process at ``pid`` if it may have written a record at ``recorded_at``.

    None when nothing lives there, when either value is missing or not a number, when the
    stamp is not finite or lies in the future, or when the process started after the record
    was written (the pid was reused).
    """
    if not _is_pid(pid) or not (_is_int(recorded_at) or isinstance(recorded_at, float)):
        return None
    if not math.isfinite(recorded_at) or recorded_at > time.time() + RECORD_SLACK:
        return None
    found = identify(pid)
    if found is None or found.create_time > recorded_at + RECORD_SLACK:
        return None
    return found


def from_start_ticks(pid: object, ticks: object) -> Identity | None:
    """The process at ``pid`` if it started ``ticks`` clock ticks after boot (old records)."""
    if not _is_pid(pid) or not _is_int(ticks) or ticks < 0:
        return None
    found = identify(pid)
    if found is None:
        return None
    since_boot = found.create_time - psutil.boot_time()
    return found if round(since_boot * os.sysconf("SC_CLK_TCK")) == ticks else None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_pid(value: object) -> TypeGuard[int]:
    return _is_int(value) and value > 0


def verified(identity: Identity) -> psutil.Process | None:
    """The process at the identity's pid, only if it is still that very process (psutil's
    Process, which checks its own identity again before a signal)."""
    process = _alive(identity.pid)
    if process is None:
        return None
    created = _create_time(process)
    if created is None or abs(created - identity.create_time) > SAME_START:
        return None
    return process


def has_ended(identity: Identity) -> bool:
    """True only when the identified process is known to have ended: nothing at its pid, a
    zombie, or a process that started at another time. False when it may not be inspected."""
    try:
        process = psutil.Process(identity.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        return abs(process.create_time() - identity.create_time) > SAME_START
    except psutil.NoSuchProcess:  # ZombieProcess included
        return True
    except psutil.Error:  # AccessDenied: it may well be running
        return False


def command_line(identity: Identity) -> str | None:
    """The identified process's command line (program name, then its arguments), or None
    when it is not running or may not be inspected."""
    process = verified(identity)
    if process is None:
        return None
    try:
        argv = process.cmdline()
    except psutil.Error:
        return None
    return " ".join([os.path.basename(argv[0]), *argv[1:]]) if argv else None


def works_in(identity: Identity, directory: Path) -> bool:
    """True if the identified process runs with ``directory`` as its working directory."""
    process = verified(identity)
    if process is None:
        return False
    try:
        cwd = process.cwd()
    except psutil.Error:  # AccessDenied: not a process of ours
        return False
    return Path(cwd) == directory.resolve()


def is_running(identity: Identity) -> bool:
    """True while the identified process lives (a zombie has ended)."""
    return verified(identity) is not None


def children(identity: Identity) -> list[int]:
    """Pids of the identified process's live children; none if it is not running."""
    process = verified(identity)
    if process is None:
        return []
    try:
        found = process.children()
    except psutil.Error:
        return []
    return [child.pid for child in found if _alive(child.pid) is not None]


def send(identity: Identity, sig: int) -> bool:
    """Signal the process only if it is still the one identified; False if it is gone."""
    process = verified(identity)
    if process is None:
        return False
    try:
        # is_running() is psutil's own pid-reuse check, just before the signal.
        if not process.is_running():
            return False
        process.send_signal(sig)
    except psutil.Error:
        return False
    return True


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """Poll ``condition`` until true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def descendants(identity: Identity, spare: Collection[int] = ()) -> list[psutil.Process]:
    """The identified process's children, theirs, and so on, except the subtrees rooted at
    ``spare`` pids (another master forked from this one, in a USR2 handover)."""
    process = verified(identity)
    if process is None:
        return []
    found, queue = [], [process]
    while queue:
        try:
            children = queue.pop().children()
        except psutil.Error:
            continue
        kept = [child for child in children if child.pid not in spare]
        found += kept
        queue += kept
    return found


def stop(identity: Identity, timeout: float, spare: Collection[int] = ()) -> bool:
    """TERM (graceful); if the process outlives ``timeout``, KILL it and its whole tree.

    The tree, not the process group: a master re-executed by a USR2 handover is its
    predecessor's child and leads no group, and its workers must not be left orphaned.
    Subtrees rooted at ``spare`` pids are left alone.
    """
    if send(identity, signal.SIGTERM) and wait_until(lambda: not is_running(identity), timeout):
        return True
    kill_tree(identity, spare)
    return wait_until(lambda: not is_running(identity), 10)


def kill_tree(identity: Identity, spare: Collection[int] = (), timeout: float = 10) -> None:
    """KILL the process and every descendant (but ``spare`` subtrees); wait for them to end.

    The process is stopped first so that it forks nothing more while its tree is listed.
    Descendants are listed by psutil, whose Process objects check their own identity
    (pid plus start time) before a signal, so a reused pid is never signalled.
    """
    send(identity, signal.SIGSTOP)
    tree = descendants(identity, spare)
    for process in tree:
        try:
            process.kill()
        except psutil.Error:
            pass  # already gone
    send(identity, signal.SIGKILL)
    wait_until(lambda: all(_ended(process) for process in tree), timeout)


def _ended(process: psutil.Process) -> bool:
    """Whether ``process`` exited (a zombie has: its parent may not reap it promptly)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True
